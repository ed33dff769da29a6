"""The conformance suite's Python executor: one session through ``nws.client``.

Reads steps as JSON lines on stdin (``{"id": 7, "op": "fetch", "ws": "w",
"var": "x"}``) and answers each with one JSON line on stdout (``{"id": 7,
"result": {...}}``); the protocol is described in conformance-tests/README.md.

Every step runs in a thread of its own, so the runner may leave a step
outstanding (a blocked fetch) while it sends more: the client allows any
number of threads on one session. A step the runner may cancel
(``"main": true``) runs on the main thread instead, because a Ctrl-C
(SIGINT, raised as KeyboardInterrupt in the main thread) is how a Python
program withdraws a blocking call (spec/sessions.md#cancel).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import sys
import threading
from typing import Any, Dict

from nws.client import (
    DICT,
    NetWorkSpace,
    NwsBlob,
    NwsConnectionDroppedException,
    NwsException,
    NwsServer,
    NwsUnpicklingException,
)

INLINE_LIMIT = 4096
CAPS = ["concurrent", "cancel", "iter_timeout", "server_info", "nul_strings"]
if hasattr(NetWorkSpace, "fetchLeased"):  # nws.client with leases (NwsLease)
    CAPS.append("lease")

_out_lock = threading.Lock()


def send(obj: Dict[str, Any]) -> None:
    line = json.dumps(obj, ensure_ascii=True)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Harness(Exception):
    """A failure of the harness itself (bad step, missing handle)."""


class State:
    def __init__(self) -> None:
        self.server: Any = None
        self.handles: Dict[str, Any] = {}
        self.iters: Dict[str, Any] = {}
        self.leases: Dict[str, Any] = {}


state = State()
_MISSING = object()


# --- values ------------------------------------------------------------------


def _generate(size: int, seed: int, modulus: int, offset: int) -> bytes:
    # byte i = offset + (7 i + 13 seed + i // 256) mod modulus, built 256
    # bytes at a time: block k is block 0 shifted by (7 * 256 + 1) k.
    base = [(7 * j + 13 * seed) % modulus for j in range(256)]
    blocks = []
    for k in range((size + 255) // 256):
        shift = ((7 * 256 + 1) * k) % modulus
        blocks.append(bytes(offset + (c + shift) % modulus for c in base))
    return b"".join(blocks)[:size]


def generated(size: int, seed: int) -> bytes:
    return _generate(size, seed, 256, 0)


def generated_text(size: int, seed: int) -> str:
    return _generate(size, seed, 95, 32).decode("ascii")


def make_value(spec: Dict[str, Any]) -> Any:
    if "text" in spec:
        return spec["text"]
    if "raw" in spec:
        return bytes.fromhex(spec["raw"])
    if "native" in spec:
        return spec["native"]  # pickled by the client
    if "json" in spec:
        return NwsBlob("json", json.dumps(spec["json"]).encode())
    if "blob" in spec:
        return NwsBlob(spec["blob"]["codec"], bytes.fromhex(spec["blob"]["hex"]))
    if "gen" in spec:
        g = spec["gen"]
        if g.get("kind") == "text":
            return generated_text(g["size"], g.get("seed", 0))
        return generated(g["size"], g.get("seed", 0))
    raise Harness("bad value spec %r" % (spec,))


def digest(b: bytes) -> Dict[str, Any]:
    return {"size": len(b), "md5": hashlib.md5(b).hexdigest(), "head": b[:16].hex()}


def report(v: Any) -> Dict[str, Any]:
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        if len(b) <= INLINE_LIMIT:
            return {"value": {"text": v}}
        return {"value": {"text_digest": digest(b)}}
    if isinstance(v, bytes):
        if len(v) <= INLINE_LIMIT:
            return {"value": {"raw": v.hex()}}
        return {"value": {"raw_digest": digest(v)}}
    if isinstance(v, NwsBlob):
        return {"value": {"blob": {"codec": v.codec, "size": len(v.data)}}}
    if isinstance(v, tuple):
        return {"value": {"native": {"tuple": list(v)}}}
    return {"value": {"native": v}}


def error_report(e: BaseException) -> Dict[str, Any]:
    classes = [c.__name__ for c in type(e).__mro__]
    if isinstance(e, NwsUnpicklingException):
        return {"undecodable": {"codec": e.codec, "size": len(e.obj), "classes": classes}}
    if isinstance(e, NwsException):
        if e.reason:
            kind = "server"
        elif isinstance(e, NwsConnectionDroppedException):
            kind = "dropped"
        else:
            kind = "client"
        return {
            "error": {
                "reason": e.reason,
                "kind": kind,
                "classes": classes,
                "message": str(e),
            }
        }
    return {"error": {"reason": None, "kind": "client", "classes": classes, "message": str(e)}}


# --- steps -------------------------------------------------------------------


def handle(req: Dict[str, Any]) -> Any:
    name = req.get("ws", "")
    try:
        return state.handles[name]
    except KeyError:
        raise Harness("no handle for workspace %r: open or use it first" % name) from None


def timeout_of(req: Dict[str, Any]) -> Any:
    t = req.get("timeout_ms")
    return None if t is None else t / 1000.0


def step(req: Dict[str, Any]) -> Dict[str, Any]:
    op = req["op"]
    if op == "connect":
        host, port = req["addr"].rsplit(":", 1)
        state.server = NwsServer(host, int(port))
        return {"ok": True}
    if op == "reset":
        if state.server is not None:
            state.server.close()
        state.server = None
        state.handles.clear()
        state.iters.clear()
        state.leases.clear()
        return {"ok": True}
    srv = state.server
    if srv is None:
        raise Harness("not connected")
    if op == "close":
        srv.close()
        return {"ok": True}
    if op == "server_info":
        return {"info": srv.serverInfo()}
    if op in ("open", "use"):
        f = srv.openWs if op == "open" else srv.useWs
        ws = f(req["ws"], persistent=req.get("persistent", False), create=req.get("create", True))
        state.handles[req["ws"]] = ws
        return {"ws": {"owned": ws.owned}}
    if op == "mktemp":
        args = {"persistent": req.get("persistent", False)}
        if req.get("template") is not None:
            name = srv.mktempWs(req["template"], **args)
        else:
            name = srv.mktempWs(**args)
        # mktempWs returns a name; a handle needs a request, and useWs never
        # changes an existing workspace.
        state.handles[name] = srv.useWs(name)
        return {"name": name}
    if op == "delete_ws":
        srv.deleteWs(req["ws"])
        return {"ok": True}
    if op == "list_wss":
        d = srv.listWss(format=DICT)
        return {
            "wss": [
                {"name": r[0], "mine": r[1], "owner": r[2], "persistent": r[3], "variable_count": r[4]}
                for r in d.values()
            ]
        }
    if op == "declare":
        handle(req).declare(req["var"], req["mode"])
        return {"ok": True}
    if op == "store":
        handle(req).store(req["var"], make_value(req["value"]))
        return {"ok": True}
    if op == "fetch":
        return report(handle(req).fetch(req["var"], timeout=timeout_of(req)))
    if op == "find":
        return report(handle(req).find(req["var"], timeout=timeout_of(req)))
    if op == "fetch_leased":
        v, lease = handle(req).fetchLeased(req["var"], timeout=timeout_of(req))
        state.leases[req["lease"]] = lease
        return report(v)
    if op in ("ack", "release"):
        lease = state.leases.pop(req["lease"], None)
        if lease is None:
            raise Harness("no lease %r" % req["lease"])
        lease.ack() if op == "ack" else lease.release()
        return {"ok": True}
    if op == "relay":
        # Fetch a value and store it again as received: decoded, or (for a
        # value Python cannot decode) the NwsBlob the exception carries.
        ws = handle(req)
        try:
            v = ws.fetch(req["var"])
            how = "decoded"
        except NwsUnpicklingException as e:
            v = e.value
            how = "undecodable"
        ws.store(req["to"], v)
        return {"ok": True, "relayed": how}
    if op in ("fetch_try", "find_try"):
        ws = handle(req)
        f = ws.fetchTry if op == "fetch_try" else ws.findTry
        v = f(req["var"], _MISSING)
        return {"nothing": True} if v is _MISSING else report(v)
    if op == "delete_var":
        handle(req).deleteVar(req["var"])
        return {"ok": True}
    if op == "list_vars":
        d = handle(req).listVars(format=DICT)
        return {
            "vars": [
                {"name": r[0], "value_count": r[1], "fetchers": r[2], "finders": r[3], "mode": r[4]}
                for r in d.values()
            ]
        }
    if op == "iter":
        ws = handle(req)
        kind = req["kind"]
        t = timeout_of(req)
        if kind == "ifetch":
            it = ws.ifetch(req["var"], timeout=t)
        elif kind == "ifind":
            it = ws.ifind(req["var"], timeout=t)
        elif kind == "ifetchTry":
            it = ws.ifetchTry(req["var"])
        elif kind == "ifindTry":
            it = ws.ifindTry(req["var"])
        else:
            raise Harness("unknown iterator kind %r" % kind)
        state.iters[req["it"]] = it
        return {"ok": True}
    if op == "next":
        it = state.iters.get(req["it"])
        if it is None:
            raise Harness("no iterator %r" % req["it"])
        try:
            return report(next(it))
        except StopIteration:
            return {"nothing": True}
    raise Harness("unknown op %r" % op)


def run(req: Dict[str, Any]) -> Dict[str, Any]:
    try:
        return step(req)
    except Harness as e:
        return {"harness_error": str(e)}
    except KeyboardInterrupt:
        return {"cancelled": True}
    except Exception as e:  # every client error is reported, never raised
        return error_report(e)


# --- the loop ------------------------------------------------------------------

main_jobs: "queue.Queue[Dict[str, Any]]" = queue.Queue()
_main_busy = threading.Event()  # set while the main thread runs a job
_main_job_id: list = [None]


def worker(req: Dict[str, Any]) -> None:
    send({"id": req["id"], "result": run(req)})


def reader() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            send({"id": None, "result": {"harness_error": str(e)}})
            continue
        if req.get("op") == "cancel":
            # Ctrl-C for the job running on the main thread.
            if _main_busy.is_set() and _main_job_id[0] == req.get("job"):
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
                send({"id": req["id"], "result": {"ok": True}})
            else:
                send({"id": req["id"], "result": {"harness_error": "job is not running on the main thread"}})
            continue
        if req.get("op") == "exit":
            break
        if req.get("main"):
            main_jobs.put(req)
        else:
            threading.Thread(target=worker, args=(req,), daemon=True).start()
    main_jobs.put({"op": "__eof__"})


def main() -> None:
    send({"ready": True, "lang": "python", "caps": CAPS})
    threading.Thread(target=reader, daemon=True).start()
    while True:
        try:
            req = main_jobs.get()
        except KeyboardInterrupt:  # a Ctrl-C that came too late
            continue
        if req.get("op") == "__eof__":
            break
        _main_job_id[0] = req["id"]
        _main_busy.set()
        try:
            result = run(req)
        except KeyboardInterrupt:
            result = {"cancelled": True}
        finally:
            _main_busy.clear()
        send({"id": req["id"], "result": result})
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
