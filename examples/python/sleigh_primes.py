#!/usr/bin/env python3
"""sleigh_primes: the article's parallel prime finder (Listing One), with
only the Python 3 changes (print(), range for xrange, list(map(...))).

    python3 sleigh_primes.py WORKERS LIMIT CHUNK

counts the primes below LIMIT with WORKERS workers, each task combing CHUNK
(even) numbers. eachWorker(initPrimes) sets global state in every worker;
each task finds the primes it needs from earlier tasks through SleighUserNws
(the sleigh's user workspace) and keeps them for later tasks.
"""

import sys
from nws.sleigh import Sleigh

def initPrimes():
    global chunk, chunks, limit
    limit, chunk = SleighUserNws.find('prime parameters')
    chunks = {}
def findPrimes(first):
    last = min(first+chunk, limit)
    # we need to know all the primes up to the smaller of the start of
    # this chunk or the square root of its last element.
    need = min(first-2, int(.5+(last-1)**.5))

    myPrimes = []
    for c in range(3, need+1, chunk):
     if not c in chunks: chunks[c] = SleighUserNws.find('primes%d'%c)
     myPrimes += chunks[c]
    newx = len(myPrimes)
    for x in range(first, last, 2):
        for p in myPrimes:
            if x%p == 0: break
        else: myPrimes.append(x)
    if first**2 < limit: SleighUserNws.store('primes%d'%first, myPrimes[newx:])

    return myPrimes[newx:]

def master(workers, limit, chunk):
    s = Sleigh(workerCount=workers)
    s.userNws.store('prime parameters', (limit, chunk))
    s.eachWorker(initPrimes)
    primes = [2]
    list(map(primes.extend, s.eachElem(findPrimes, range(3, limit, chunk))))

    return primes

if __name__=='__main__':
    primes = master(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    print(len(primes), primes[:3], '...', primes[-3:])
