#!/usr/bin/env python3
"""ring: a token passed around a ring of processes. Worker k fetches the
token from 'worker_k', adds one and stores it in 'worker_(k+1)'; the master
is the last member of the ring. After TASKS laps the token has been passed
TASKS * MEMBERS times.

    python3 ring.py [-c WORKERS] [-n TASKS]

The workers are local processes (multiprocessing) sharing a private
workspace made with mktempWs.
"""

import argparse
import multiprocessing
import sys
import time

from nws.client import NetWorkSpace, NwsServer


def ring(ws, rank, members, tasks):
    """One member of the ring: pass the token on `tasks` times."""
    mine = "worker_%d" % rank
    his = "worker_%d" % ((rank + 1) % members)
    for _ in range(tasks):
        token = ws.fetch(mine)
        ws.store(his, token + 1)


def worker(wsname, host, port, rank, members, tasks):
    with NetWorkSpace(wsname, host, port, useUse=True) as ws:
        ring(ws, rank, members, tasks)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--workers", type=int, default=3, help="worker processes (default 3)")
    p.add_argument("-n", "--tasks", type=int, default=10, help="laps of the token (default 10)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    args = p.parse_args(argv)

    server = NwsServer(args.host, args.port)
    wsname = server.mktempWs("ring_%d")
    ws = server.openWs(wsname)
    members = args.workers + 1  # the master is the last member
    procs = [
        multiprocessing.Process(
            target=worker,
            args=(wsname, server.serverHost, server.serverPort, rank, members, args.tasks),
        )
        for rank in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    print("Master assigned rank %d" % (members - 1), flush=True)

    start = time.perf_counter()
    ws.store("worker_0", 0)
    ring(ws, members - 1, members, args.tasks)
    finish = time.perf_counter()
    token = ws.fetch("worker_0")
    for proc in procs:
        proc.join()
    server.close()

    ok = token == args.tasks * members
    print("The token was passed %d times in %f s" % (token, finish - start))
    print("Seconds per operation: %g" % ((finish - start) / (2 * token)))
    if not ok:
        print("Error: expected %d passes" % (args.tasks * members), file=sys.stderr)
    return 0 if ok and all(proc.exitcode == 0 for proc in procs) else 1


if __name__ == "__main__":
    sys.exit(main())
