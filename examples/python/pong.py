#!/usr/bin/env python3
"""pong: the client half of ping-pong. Takes a game number, then sends LOOPS
requests to ping.py and checks each reply.

    python3 pong.py [LOOPS [WSNAME]]

Uses the workspace without owning it (useUse), so it can come and go while
ping.py keeps the workspace.
"""

import argparse
import sys
import time

from nws.client import NetWorkSpace, NwsConnectException


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("loops", nargs="?", type=int, default=10)
    p.add_argument("wsname", nargs="?", default="ping-pong")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    args = p.parse_args(argv)
    try:
        with NetWorkSpace(args.wsname, args.host, args.port, useUse=True) as ws:
            game = ws.fetch("game")
            ws.store("game", game + 1)
            pong = "pong_%d" % game
            request = {"replyto": pong}
            print("Starting a ping-pong game", game, flush=True)
            start = time.perf_counter()
            for i in range(args.loops):
                request["i"] = i
                ws.store("ping", request)
                reply = ws.fetch(pong)
                if not args.quiet:
                    print(reply, flush=True)
                if reply["i"] != i:
                    print("Error: expected %d, received %d" % (i, reply["i"]), file=sys.stderr)
                    return 1
            elapsed = time.perf_counter() - start
            ws.deleteVar(pong)
        print(
            "%d round trips in %.3f s (%.0f/s)"
            % (args.loops, elapsed, args.loops / elapsed if elapsed else 0.0),
            flush=True,
        )
        return 0
    except KeyboardInterrupt:
        print("pong exiting")
        return 130
    except NwsConnectException as e:
        print("pong: no NWS server: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
