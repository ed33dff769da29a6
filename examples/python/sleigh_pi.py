#!/usr/bin/env python3
"""sleigh_pi: a Monte Carlo estimate of pi. Each task throws DARTS random
points at the unit square and counts those inside the quarter circle; the
tasks' seeds are the task numbers, so the estimate is the same for any
number of workers.

    python3 sleigh_pi.py [-c WORKERS] [-t TASKS] [-d DARTS] [--host HOST] [--port PORT]
"""

import argparse
import random
import sys

from nws.client import NwsConnectException
from nws.sleigh import Sleigh


def hits(seed, darts):
    rng = random.Random(seed)
    n = 0
    for _ in range(darts):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            n += 1
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--workers", type=int, default=3, help="workers (default: 3)")
    p.add_argument("-t", "--tasks", type=int, default=40, help="tasks (default: 40)")
    p.add_argument("-d", "--darts", type=int, default=25000, help="darts per task (default: 25000)")
    p.add_argument("--host", help="NWS server host")
    p.add_argument("--port", type=int, help="NWS server port")
    args = p.parse_args(argv)
    try:
        s = Sleigh(workerCount=args.workers, nwsHost=args.host, nwsPort=args.port)
    except NwsConnectException as e:
        print("sleigh_pi: no NWS server: %s" % e, file=sys.stderr)
        return 1
    try:
        counts = s.eachElem(hits, range(args.tasks), [args.darts])
    finally:
        s.stop()
    total = args.tasks * args.darts
    inside = sum(counts)
    print("darts: %d, inside: %d" % (total, inside))
    print("pi is about %.4f" % (4.0 * inside / total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
