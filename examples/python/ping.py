#!/usr/bin/env python3
"""ping: the server half of ping-pong. Answers every request stored in the
variable 'ping' by storing it back, stamped with the time, in the variable
the request names ('replyto'). Runs until Ctrl-C (or --count requests).

    python3 ping.py [WSNAME] [--count N]

Start it first, then run pong.py (any number of them, one after another or
at once) against the same workspace (default 'ping-pong').
"""

import argparse
import sys
import time

from nws.client import NetWorkSpace, NwsConnectException, NwsNoWorkSpaceException


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("wsname", nargs="?", default="ping-pong")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--count", type=int, default=0, help="stop after N requests (0: never)")
    p.add_argument("--quiet", action="store_true", help="do not print each request")
    args = p.parse_args(argv)
    try:
        with NetWorkSpace(args.wsname, args.host, args.port) as ws:
            ws.store("game", 0)
            print("Ping-pong server '%s' starting" % args.wsname, flush=True)
            served = 0
            while args.count == 0 or served < args.count:
                request = ws.fetch("ping")
                request["time"] = time.asctime()
                if not args.quiet:
                    print("Got a ping from", request["replyto"], flush=True)
                ws.store(request["replyto"], request)
                served += 1
        return 0
    except KeyboardInterrupt:
        print("Ping-pong server '%s' exiting" % args.wsname, flush=True)
        return 0
    except NwsNoWorkSpaceException:
        print("Ping-pong server '%s': workspace deleted, exiting" % args.wsname, flush=True)
        return 0
    except NwsConnectException as e:
        print("ping: no NWS server: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
