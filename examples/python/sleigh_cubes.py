#!/usr/bin/env python3
"""sleigh_cubes: the article's first Sleigh session. Starts a sleigh, asks
each worker for its host name, computes a table of cubes with eachElem, calls
a three-argument function with varying and fixed arguments, and runs a
non-blocking eachElem watched with check() and wait().

    python3 sleigh_cubes.py [-c WORKERS] [-n COUNT] [--host HOST] [--port PORT]
"""

import argparse
import sys
import time
from socket import gethostname

from nws.client import NwsConnectException
from nws.sleigh import Sleigh


def f(x, y, z):
    return x + y + z


def slow_cube(x):
    time.sleep(0.01)
    return x * x * x


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--workers", type=int, default=3, help="workers to start (default: 3)")
    p.add_argument("-n", "--count", type=int, default=100, help="table size (default: 100)")
    p.add_argument("--host", help="NWS server host")
    p.add_argument("--port", type=int, help="NWS server port")
    args = p.parse_args(argv)
    try:
        s = Sleigh(workerCount=args.workers, nwsHost=args.host, nwsPort=args.port)
    except NwsConnectException as e:
        print("sleigh_cubes: no NWS server: %s" % e, file=sys.stderr)
        return 1
    try:
        hosts = s.eachWorker(gethostname)
        print("workers:", len(hosts), "on", ", ".join(sorted(set(hosts))))
        r = s.eachElem(lambda x: x * x * x, range(args.count))
        print("cubes:", len(r), "r[2:5] =", r[2:5], "last =", r[-1])
        print("f(1,11,99), f(2,12,99), f(3,13,99) =", s.eachElem(f, [[1, 2, 3], [11, 12, 13]], [99]))
        pending = s.eachElem(slow_cube, range(args.count), blocking=False)
        first = pending.check()
        print("non-blocking: %d tasks submitted" % first.total)
        r2 = pending.wait()
        print("non-blocking: outstanding after wait:", int(pending.check()), "same table:", r2 == r)
        return 0
    finally:
        s.stop()


if __name__ == "__main__":
    sys.exit(main())
