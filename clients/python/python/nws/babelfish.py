"""The Python babelfish: shows pickled Python values in the NWS web UI.

Start it beside a server (it reconnects if the server is not up yet or
restarts)::

    python3 -m nws.babelfish --host localhost --port 8765

It is an ordinary NWS client (``spec/babelfish.md``): it opens the
workspace ``Python babelfish``, fetches translation requests from the
variable ``food`` (raw bytes: a header line ``nws-babelfish 1 <id> <codec>
<max_chars>`` then the value's bytes) and stores the answers into ``doof``
as text: ``<id> ok`` or ``<id> error``, a newline, then what to show.

Safety: a pickle is a program. This translator never calls ``pickle.loads``
on what it is sent. It unpickles with :class:`SafeUnpickler`, which builds
only plain data types (``dict``, ``list``, ``tuple``, ``set``, ``str``,
``bytes``, numbers, ``collections``, ``datetime``, ``Decimal``,
``Fraction``, ``UUID``) and replaces every other class or function a pickle
names with an inert stand-in that only records its arguments, so that
``os.system('...')`` in a pickle is *shown*, never run. Decoding and
printing happen in a separate worker process with a memory limit and a
time limit, so a pickle built to exhaust memory or time costs one worker,
which is restarted.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import fractions
import io
import os
import pickle
import select
import subprocess
import sys
import time
import uuid
from collections import Counter, OrderedDict, defaultdict, deque
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "WORKSPACE",
    "SafeUnpickler",
    "safe_loads",
    "show",
    "answer",
    "serve",
    "main",
]

#: The workspace this translator serves (``spec/babelfish.md#workspace``).
WORKSPACE = "Python babelfish"
#: The codecs it reads.
CODECS = ("python/pickle",)
MAGIC = b"nws-babelfish"
#: Characters shown when a request does not say.
DEFAULT_MAX_CHARS = 10_000
#: Address-space limit of the decoding worker.
WORKER_MEMORY = 1 << 30
#: Seconds one decoding may take before the worker is replaced.
WORKER_SECONDS = 10.0


# ---------------------------------------------------------------------------
# Restricted unpickling
# ---------------------------------------------------------------------------


class Stub:
    """Stands in for a class or function a pickle names but this translator
    does not load. Calling or instantiating it records the arguments; the
    pickle's state and items are recorded too. Nothing else happens."""

    _nws_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Stub":
        self = object.__new__(cls)
        object.__setattr__(self, "_nws_args", args)
        object.__setattr__(self, "_nws_kwargs", kwargs)
        object.__setattr__(self, "_nws_state", _MISSING)
        object.__setattr__(self, "_nws_items", [])
        object.__setattr__(self, "_nws_pairs", [])
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        object.__setattr__(self, "_nws_state", state)

    def __setattr__(self, name: str, value: Any) -> None:
        # BUILD without __setstate__ would set attributes; keep them as state.
        state = self._nws_state
        if state is _MISSING:
            state = {}
            object.__setattr__(self, "_nws_state", state)
        if isinstance(state, dict):
            state[name] = value

    def append(self, item: Any) -> None:
        self._nws_items.append(item)

    def extend(self, items: Any) -> None:
        if not isinstance(items, (list, tuple)):
            raise pickle.UnpicklingError("refused: extend with a non-list")
        self._nws_items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._nws_pairs.append((key, value))

    def __call__(self, *args: Any, **kwargs: Any) -> "Stub":
        # A stand-in called as a function (e.g. getattr(...)(...)).
        call = _stub_class("call")(*args, **kwargs)
        object.__setattr__(call, "_nws_callee", self)
        return call


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _stub_class(name: str) -> type:
    return type("Stub", (Stub,), {"_nws_name": name, "__slots__": ()})


def _safe_bytes(*args: Any) -> bytes:
    # bytes(n) would allocate n bytes: only bytes/str arguments.
    if not args:
        return b""
    if isinstance(args[0], (bytes, bytearray)) and len(args) == 1:
        return bytes(args[0])
    if isinstance(args[0], str) and len(args) == 2 and args[1] in ("latin1", "latin-1"):
        return args[0].encode("latin-1")
    raise pickle.UnpicklingError("refused: bytes() with these arguments")


def _safe_bytearray(*args: Any) -> bytearray:
    return bytearray(_safe_bytes(*args))


def _safe_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol 0-2 pickles write bytes as _codecs.encode(str, 'latin1').
    if isinstance(obj, str) and encoding in ("latin1", "latin-1"):
        return obj.encode("latin-1", errors if errors in ("strict",) else "strict")
    raise pickle.UnpicklingError("refused: _codecs.encode with these arguments")


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reconstructor, used by protocol 0-1 for instances of classes.
    if isinstance(cls, type) and issubclass(cls, Stub):
        return cls()
    raise pickle.UnpicklingError("refused: copyreg._reconstructor of %r" % (cls,))


_SAFE: Dict[Tuple[str, str], Any] = {
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "str"): str,
    ("builtins", "int"): int,
    ("builtins", "float"): float,
    ("builtins", "complex"): complex,
    ("builtins", "bool"): bool,
    ("builtins", "slice"): slice,
    ("builtins", "object"): object,
    ("builtins", "bytes"): _safe_bytes,
    ("builtins", "bytearray"): _safe_bytearray,
    ("_codecs", "encode"): _safe_encode,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("collections", "OrderedDict"): OrderedDict,
    ("collections", "deque"): deque,
    ("collections", "defaultdict"): defaultdict,
    ("collections", "Counter"): Counter,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
    ("fractions", "Fraction"): fractions.Fraction,
    ("uuid", "UUID"): uuid.UUID,
}

# Python 2 names (protocol 0-2 pickles written by Python 2).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that runs no code chosen by the pickle.

    Classes and functions outside a small set of data types become
    :class:`Stub` stand-ins; nothing is imported.
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self._stubs: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        safe = _SAFE.get((module, name))
        if safe is not None:
            return safe
        full = "%s.%s" % (module, name)
        stub = self._stubs.get(full)
        if stub is None:
            stub = self._stubs[full] = _stub_class(full)
        return stub

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused: persistent id %r" % (pid,))


def safe_loads(data: bytes) -> Any:
    """Unpickles ``data`` with :class:`SafeUnpickler`."""
    return SafeUnpickler(io.BytesIO(data)).load()


# ---------------------------------------------------------------------------
# Bounded pretty printing
# ---------------------------------------------------------------------------


class _Full(Exception):
    pass


class _Printer:
    """pprint-like output with a hard budget: exponential structures (one
    list referenced at every level) and huge containers cost at most the
    budget, not their size."""

    WIDTH = 88
    MAX_DEPTH = 40
    MAX_ITEMS = 500
    MAX_STR = 2000

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.out: List[str] = []
        self.used = 0

    def emit(self, s: str) -> None:
        self.out.append(s)
        self.used += len(s)
        if self.used > self.budget:
            raise _Full

    # -- one-line form, cut off at `limit` characters (None if longer) --

    def flat(self, obj: Any, limit: int) -> Optional[str]:
        parts: List[str] = []
        size = [0]

        def put(s: str) -> None:
            parts.append(s)
            size[0] += len(s)
            if size[0] > limit:
                raise _Full

        try:
            self._flat(obj, put, 0, set())
        except _Full:
            return None
        return "".join(parts)

    def _flat(self, obj: Any, put: Callable[[str], None], depth: int, active: set) -> None:
        shape = _shape(obj)
        if shape is None:
            put(_scalar(obj, self.MAX_STR))
            return
        opener, closer, items, pairs = shape
        if id(obj) in active or depth > self.MAX_DEPTH:
            put(opener + "..." + closer)
            return
        active.add(id(obj))
        put(opener)
        for i, item in enumerate(items):
            if i:
                put(", ")
            if i >= self.MAX_ITEMS:
                put("...")
                break
            if pairs:
                k, v = item
                if isinstance(k, _Kw):
                    if k.name:
                        put(k.name + "=")
                else:
                    self._flat(k, put, depth + 1, active)
                    put(": ")
                self._flat(v, put, depth + 1, active)
            else:
                self._flat(item, put, depth + 1, active)
        if opener == "(" and len(items) == 1 and not pairs and type(obj) is tuple:
            put(",")
        put(closer)
        active.discard(id(obj))

    # -- multi-line form --

    def pretty(self, obj: Any, indent: int, col: int, depth: int, active: set) -> None:
        """Renders `obj` starting at column `col` on a line indented by
        `indent`; its items go on lines indented by `indent + 4`."""
        room = max(self.WIDTH - col, 20)
        one = self.flat(obj, room)
        if one is not None:
            self.emit(one)
            return
        shape = _shape(obj)
        if shape is None:
            self.emit(_scalar(obj, self.MAX_STR))
            return
        opener, closer, items, pairs = shape
        if id(obj) in active or depth > self.MAX_DEPTH:
            self.emit(opener + "..." + closer)
            return
        active.add(id(obj))
        step = indent + 4
        pad = " " * step
        self.emit(opener + "\n")
        if not pairs and all(_shape(x) is None for x in items[: self.MAX_ITEMS]):
            # Scalars fill lines (like pprint's compact=True).
            line = pad
            for i, item in enumerate(items):
                if i >= self.MAX_ITEMS:
                    line += "... (%d more)," % (len(items) - i)
                    break
                word = _scalar(item, self.MAX_STR) + ","
                if len(line) > len(pad) and len(line) + 1 + len(word) > self.WIDTH:
                    self.emit(line + "\n")
                    line = pad
                line += (" " if len(line) > len(pad) else "") + word
            self.emit(line + "\n" + " " * indent + closer)
            active.discard(id(obj))
            return
        for i, item in enumerate(items):
            if i >= self.MAX_ITEMS:
                self.emit(pad + "... (%d more)\n" % (len(items) - i))
                break
            self.emit(pad)
            if pairs:
                k, v = item
                if isinstance(k, _Kw):
                    key = k.name + "=" if k.name else ""
                else:
                    key = (self.flat(k, max(self.WIDTH - step, 20)) or _scalar(k, 80)) + ": "
                self.emit(key)
                self.pretty(v, step, step + len(key), depth + 1, active)
            else:
                self.pretty(item, step, step, depth + 1, active)
            self.emit(",\n")
        self.emit(" " * indent + closer)
        active.discard(id(obj))


class _Kw:
    """A keyword label in a stand-in's rendering (``name=``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _stub_parts(obj: Stub) -> Tuple[str, List[Tuple[Any, Any]]]:
    """`name(args..., kw=..., attr=..., items=[...])` for a stand-in."""
    callee = getattr(obj, "_nws_callee", None)
    if callee is not None:
        name = _stub_title(callee)
    else:
        name = type(obj)._nws_name
    pairs: List[Tuple[Any, Any]] = [(_Kw(""), a) for a in obj._nws_args]
    for k, v in obj._nws_kwargs.items():
        pairs.append((_Kw(str(k)), v))
    state = obj._nws_state
    if state is not _MISSING:
        if isinstance(state, dict) and all(isinstance(k, str) for k in state):
            pairs.extend((_Kw(k), v) for k, v in state.items())
        else:
            pairs.append((_Kw("state"), state))
    if obj._nws_items:
        pairs.append((_Kw("items"), obj._nws_items))
    if obj._nws_pairs:
        pairs.append((_Kw("entries"), dict(_hashable_pairs(obj._nws_pairs))))
    return name, pairs


def _hashable_pairs(pairs: List[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
    out = []
    for k, v in pairs:
        try:
            hash(k)
        except TypeError:
            k = "<unhashable key>"
        out.append((k, v))
    return out


def _stub_title(obj: Any) -> str:
    if isinstance(obj, Stub):
        return type(obj)._nws_name + "(...)"
    if isinstance(obj, type) and issubclass(obj, Stub):
        return obj._nws_name
    return _scalar(obj, 80)


def _shape(obj: Any) -> Optional[Tuple[str, str, List[Any], bool]]:
    """(opener, closer, items, items_are_pairs) for containers, else None."""
    t = type(obj)
    if t is list:
        return "[", "]", obj, False
    if t is tuple:
        return "(", ")", list(obj), False
    if t is dict:
        return "{", "}", list(obj.items()), True
    if t is set:
        return ("{", "}", _sorted(obj), False) if obj else None
    if t is frozenset:
        return ("frozenset({", "})", _sorted(obj), False) if obj else None
    if t is deque:
        return "deque([", "])", list(obj), False
    if t is OrderedDict:
        return "OrderedDict({", "})", list(obj.items()), True
    if t is Counter:
        return "Counter({", "})", list(obj.items()), True
    if t is defaultdict:
        return "defaultdict(%s, {" % (_scalar(obj.default_factory, 80),), "})", list(obj.items()), True
    if isinstance(obj, Stub):
        name, pairs = _stub_parts(obj)
        return name + "(", ")", pairs, True
    return None


def _sorted(items: Any) -> List[Any]:
    items = list(items)
    try:
        return sorted(items)
    except Exception:
        return items


def _scalar(obj: Any, max_str: int) -> str:
    if isinstance(obj, type) and issubclass(obj, Stub):
        return obj._nws_name
    if isinstance(obj, _Missing):
        return "<missing>"
    t = type(obj)
    if t is str:
        if len(obj) > max_str:
            return repr(obj[:max_str]) + "... (%d characters)" % len(obj)
        return repr(obj)
    if t in (bytes, bytearray):
        if len(obj) > max_str:
            return repr(obj[:max_str]) + "... (%d bytes)" % len(obj)
        return repr(obj)
    if t is int:
        try:
            return repr(obj)
        except ValueError:
            return "<int of %d bits>" % obj.bit_length()
    if isinstance(obj, Stub):
        return _stub_title(obj)
    if t in (float, complex, bool, type(None), slice, decimal.Decimal, fractions.Fraction,
             uuid.UUID, datetime.date, datetime.time, datetime.datetime, datetime.timedelta,
             datetime.timezone, set, frozenset, object):
        try:
            return repr(obj)
        except Exception:
            return "<%s>" % t.__name__
    if obj is None:
        return "None"
    if any(obj is t for t in (dict, list, tuple, set, frozenset, str, int, float, complex, bool, object)):
        return obj.__name__
    if obj is _safe_bytes:
        return "bytes"
    if obj is _safe_bytearray:
        return "bytearray"
    return "<%s>" % t.__name__


def show(obj: Any, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """A readable rendering of an unpickled object, at most about
    ``max_chars`` characters (pprint-like; stand-ins as ``module.Name(...)``)."""
    p = _Printer(max_chars)
    try:
        p.pretty(obj, 0, 0, 0, set())
    except _Full:
        text = "".join(p.out)[:max_chars]
        return text + "\n... (cut short)"
    return "".join(p.out)


def describe(data: bytes, max_chars: int = DEFAULT_MAX_CHARS) -> Tuple[bool, str]:
    """Decodes a ``python/pickle`` value safely and renders it: ``(True,
    text)``, or ``(False, why)`` when it cannot be shown."""
    try:
        obj = safe_loads(data)
    except MemoryError:
        return False, "refused: the pickle needs too much memory"
    except RecursionError:
        return False, "refused: the pickle nests too deeply"
    except Exception as e:  # noqa: BLE001 - any failure is shown, not raised
        return False, "cannot unpickle: %s: %s" % (type(e).__name__, e)
    try:
        return True, show(obj, max_chars)
    except MemoryError:
        return False, "refused: too large to show"
    except RecursionError:
        return False, "refused: nests too deeply to show"
    except Exception as e:  # noqa: BLE001
        return False, "cannot show: %s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------------------
# The decoding worker (a separate process with limits)
# ---------------------------------------------------------------------------


def _read_exact(fd: int, n: int, deadline: Optional[float]) -> Optional[bytes]:
    chunks = []
    while n > 0:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _worker_main() -> None:
    """Loop of the decoding worker: requests on stdin, answers on stdout."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except Exception:  # noqa: BLE001 - best effort (not on every platform)
        pass
    sys.setrecursionlimit(5000)
    fin = sys.stdin.fileno()
    fout = sys.stdout.fileno()
    while True:
        head = _read_exact(fin, 12, None)
        if head is None:
            return
        max_chars = int.from_bytes(head[:4], "big")
        n = int.from_bytes(head[4:], "big")
        data = _read_exact(fin, n, None)
        if data is None:
            return
        ok, text = describe(data, max_chars)
        body = text.encode("utf-8", "replace")
        os.write(fout, bytes([1 if ok else 0]) + len(body).to_bytes(8, "big"))
        view = memoryview(body)
        while view:
            written = os.write(fout, view)
            view = view[written:]


class Worker:
    """A decoding worker process, replaced when it exceeds its time limit
    or dies (e.g. out of memory)."""

    def __init__(self, seconds: float = WORKER_SECONDS) -> None:
        self.seconds = seconds
        self.proc: Optional[subprocess.Popen] = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nws.babelfish", "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        return self.proc

    def _kill(self) -> None:
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(5)
            except Exception:  # noqa: BLE001
                pass
            self.proc = None

    def describe(self, data: bytes, max_chars: int) -> Tuple[bool, str]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + self.seconds
        try:
            proc.stdin.write(max_chars.to_bytes(4, "big") + len(data).to_bytes(8, "big"))
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._kill()
            return False, "the decoding worker died"
        fd = proc.stdout.fileno()
        head = _read_exact(fd, 9, deadline)
        body = _read_exact(fd, int.from_bytes(head[1:], "big"), deadline) if head else None
        if head is None or body is None:
            timed_out = time.monotonic() >= deadline
            self._kill()
            if timed_out:
                return False, "refused: decoding took longer than %g s" % self.seconds
            return False, "refused: the decoding worker died (out of memory?)"
        return head[0] == 1, body.decode("utf-8", "replace")

    def close(self) -> None:
        self._kill()


# ---------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------


def answer(request: Any, decode: Callable[[bytes, int], Tuple[bool, str]] = describe) -> Optional[str]:
    """The answer to one request from ``food`` (``<id> ok|error\\n<text>``),
    or ``None`` for something that is not a request (nothing to answer)."""
    if not isinstance(request, (bytes, bytearray)):
        return None
    head, sep, payload = bytes(request).partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) < 3 or parts[0] != MAGIC:
        return None
    try:
        rid = int(parts[2])
    except ValueError:
        return None
    if parts[1] != b"1":
        return "%d error\nunsupported request version %s" % (rid, parts[1].decode("ascii", "replace"))
    codec = parts[3].decode("ascii", "replace") if len(parts) > 3 else ""
    try:
        max_chars = max(1, min(int(parts[4]), 1_000_000)) if len(parts) > 4 else DEFAULT_MAX_CHARS
    except ValueError:
        max_chars = DEFAULT_MAX_CHARS
    if codec not in CODECS:
        return "%d error\nthe Python babelfish does not read %s" % (rid, codec)
    ok, text = decode(payload, max_chars)
    return "%d %s\n%s" % (rid, "ok" if ok else "error", text)


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print("nws.babelfish: " + msg, file=sys.stderr, flush=True)


def serve(
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    workspace: str = WORKSPACE,
    quiet: bool = False,
    seconds: float = WORKER_SECONDS,
) -> None:
    """Serves translation requests until interrupted, reconnecting when the
    server is not (yet) reachable."""
    from nws.client import (
        FIFO,
        NetWorkSpace,
        NwsConnectException,
        NwsNoWorkSpaceException,
        NwsServer,
        NwsServerException,
    )

    worker = Worker(seconds)
    waiting_said = False
    try:
        while True:
            try:
                server = NwsServer(host, port)
            except NwsConnectException as e:
                if not waiting_said:
                    _log(quiet, "waiting for the server (%s)" % (e,))
                    waiting_said = True
                time.sleep(1.0)
                continue
            waiting_said = False
            try:
                ws = NetWorkSpace(workspace, server=server)
                ws.declare("food", FIFO)
                ws.declare("doof", FIFO)
                _log(quiet, "serving %r on %s" % (workspace, server))
                while True:
                    try:
                        request = ws.fetch("food")
                        reply = answer(request, worker.describe)
                        if reply is not None:
                            ws.store("doof", reply)
                    except NwsNoWorkSpaceException:
                        # Deleted (from the web UI, say): open it again.
                        ws = NetWorkSpace(workspace, server=server)
                        ws.declare("food", FIFO)
                        ws.declare("doof", FIFO)
            except NwsServerException as e:
                _log(quiet, "lost the server (%s); reconnecting" % (e,))
            finally:
                try:
                    server.close()
                except Exception:  # noqa: BLE001
                    pass
            time.sleep(1.0)
    finally:
        worker.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m nws.babelfish",
        description="Show pickled Python values in the NetWorkSpaces web UI.",
    )
    parser.add_argument("--host", default=None, help="server host (default: NWS_HOST or localhost)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: NWS_PORT or 8765)")
    parser.add_argument("--workspace", default=WORKSPACE, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=WORKER_SECONDS,
                        help="time limit for decoding one value (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="log nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main()
        return 0
    try:
        serve(args.host, args.port, workspace=args.workspace, quiet=args.quiet, seconds=args.seconds)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
