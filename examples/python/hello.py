#!/usr/bin/env python3
"""hello: the smallest NWS program. Stores a counter and fetches it back,
COUNT times, in the workspace 'hello'.

    python3 hello.py [COUNT] [--host HOST] [--port PORT]

Without COUNT it asks for one. The server address defaults to NWS_HOST /
NWS_PORT, else localhost:8765.
"""

import argparse
import sys

from nws.client import NetWorkSpace, NwsConnectException


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("count", nargs="?", type=int, help="number of store/fetch round trips")
    p.add_argument("--host", help="NWS server host")
    p.add_argument("--port", type=int, help="NWS server port")
    p.add_argument("--ws", default="hello", help="workspace name (default: hello)")
    args = p.parse_args(argv)
    try:
        count = args.count if args.count is not None else int(input("Number of times to loop? "))
        with NetWorkSpace(args.ws, args.host, args.port) as ws:
            print("hello: iterations:", count)
            ws.store("hello example", count)
            for i in range(count):
                ws.store("hello", i)
                j = ws.fetch("hello")
                if j != i:
                    print("hello: expected %d, fetched %r" % (i, j), file=sys.stderr)
                    return 1
            ws.fetch("hello example")
        print("Success")
        return 0
    except KeyboardInterrupt:
        print("hello exiting")
        return 130
    except NwsConnectException as e:
        print("hello: no NWS server: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
