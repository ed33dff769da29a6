#!/usr/bin/env python3
"""chat: a chat room in a terminal. Every line you type is stored as
'USER: line' in the room's variable; every message of the room, earlier
ones first, is printed as it arrives (an ifind loop in a thread). End with
Ctrl-D (or Ctrl-C).

    python3 chat.py [--user NAME] [--room ROOM]

The room is a persistent workspace (default 'chatroom'): it outlives the
people chatting in it. Run several in different terminals.
"""

import argparse
import os
import sys
import threading
import time

from nws.client import FIFO, NetWorkSpace, NwsConnectException, NwsException


def show(ws, var, out):
    try:
        for msg in ws.ifind(var):
            print(msg, file=out, flush=True)
    except NwsException:
        pass  # the session ended (or the room was deleted)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--user", default=os.environ.get("USER") or os.environ.get("USERNAME") or "anonymous")
    p.add_argument("--room", default="chatroom", help="workspace of the room (default chatroom)")
    p.add_argument("--var", default="chat", help="variable holding the messages (default chat)")
    p.add_argument("--linger", type=float, default=0.0, help="seconds to keep listening after end of input")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    args = p.parse_args(argv)
    try:
        ws = NetWorkSpace(args.room, args.host, args.port, persistent=True)
    except NwsConnectException as e:
        print("chat: no NWS server: %s" % e, file=sys.stderr)
        return 1
    with ws:
        ws.declare(args.var, FIFO)
        threading.Thread(target=show, args=(ws, args.var, sys.stdout), daemon=True).start()
        try:
            for line in sys.stdin:
                msg = line.strip()
                if msg:
                    ws.store(args.var, "%s: %s" % (args.user, msg))
            time.sleep(args.linger)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
