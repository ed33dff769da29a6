"""The Sleigh worker: ``python -m nws.sleigh_worker --ws NAME --rank R ...``.

A ``Sleigh`` master starts one of these per worker (locally, or on another
host through its ``launch`` function, e.g. ``sshcmd``). A worker connects to
the NWS server, takes tasks from the sleigh workspace, runs them and stores
what they return, until the sleigh workspace goes away (``Sleigh.stop()``,
or the end of the master's session) or its master process dies. The
protocol is spec/sleigh.md; the master side is ``nws.sleigh``.

In a worker, the functions of the tasks see these globals (also attributes
of this module):

- ``SleighRank``: this worker's rank, 0 .. workerCount-1;
- ``SleighWorkerCount``: the number of workers the sleigh started;
- ``SleighUserNws``: a ``NetWorkSpace`` on the sleigh's user workspace
  (``Sleigh.userNws`` in the master);
- ``SleighNws``: a ``NetWorkSpace`` on the sleigh workspace itself.

State persists across tasks: functions defined in the master's ``__main__``
(lambdas included) are rebuilt here in one namespace that lives as long as
the worker, so ``global`` assignments made by one task (typically through
``eachWorker``) are seen by later ones.
"""

from __future__ import annotations

import argparse
import builtins
import io
import os
import pickle
import platform
import signal
import socket
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

from nws.client import (
    NetWorkSpace,
    NwsNoWorkSpaceException,
    NwsOperationException,
    NwsServer,
    NwsServerException,
)

# The protocol's names (spec/sleigh.md#variables); nws.sleigh uses the same.
TASK = "task"
RESULT = "result"
WORKER_INFO = "worker info"
MASTER_INFO = "master info"


def function_var(job: int) -> str:
    return "function %d" % job


def barrier_var(job: int) -> str:
    return "barrier %d" % job


def alive_var(rank: int) -> str:
    return "alive %d" % rank


#: Set when this process is a worker (see the module notes).
SleighRank: Optional[int] = None
SleighWorkerCount: Optional[int] = None
SleighUserNws: Optional[NetWorkSpace] = None
SleighNws: Optional[NetWorkSpace] = None

# --- functions from the master's __main__ ------------------------------------
#
# cloudpickle sends a function the master's __main__ defines by value: its
# code, plus the globals it refers to. Rebuilt by plain unpickling it would get
# a fresh globals dict of its own each time, so what one task sets with
# ``global`` would be lost to the next. The unpickler below gives every
# function pickled by value from module M the one namespace this worker keeps
# for M (created on first use), as the master's functions share M's globals.

_NAMESPACES: Dict[str, Dict[str, Any]] = {}


def _namespace(modname: str) -> Dict[str, Any]:
    ns = _NAMESPACES.get(modname)
    if ns is None:
        ns = {"__name__": modname, "__builtins__": builtins}
        _NAMESPACES[modname] = ns
    return ns


def _make_function(code: Any, globals: Dict[str, Any], name: Any, argdefs: Any, closure: Any) -> Any:
    modname = globals.get("__name__")
    ns = _namespace(modname) if isinstance(modname, str) else globals
    ns.setdefault("__builtins__", builtins)
    return types.FunctionType(code, ns, name, argdefs, closure)


def _builtin_type(name: str) -> Any:
    # Older cloudpickle rebuilds functions by calling types.FunctionType,
    # which it pickles as _builtin_type('FunctionType').
    if name == "FunctionType":
        return _make_function
    import cloudpickle

    return cloudpickle.cloudpickle._builtin_type(name)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("cloudpickle"):
            if name == "_make_function":
                return _make_function
            if name == "_builtin_type":
                return _builtin_type
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """Unpickles what the master sent (functions into the shared namespaces)."""
    return _Unpickler(io.BytesIO(data)).load()


def dumps(obj: Any) -> bytes:
    """Pickles for the master: plain pickle when it can, else cloudpickle
    (lambdas, and classes the master's __main__ defined)."""
    try:
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except Exception:
        import cloudpickle

        return cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


# --- errors ------------------------------------------------------------------


class RemoteError:
    """A task's failure as sent to the master: plain data, always
    unpicklable there. The master turns it into ``SleighTaskException``."""

    def __init__(
        self,
        type_name: str,
        message: str,
        traceback_text: str,
        exception: Optional[bytes],
        rank: Optional[int],
        host: str,
        pid: int,
    ) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback_text
        self.exception = exception
        self.rank = rank
        self.host = host
        self.pid = pid

    def __repr__(self) -> str:
        return "RemoteError(%s: %s)" % (self.type_name, self.message)


def _remote_error(exc: BaseException, skip_frames: int = 1) -> RemoteError:
    tb = exc.__traceback__
    for _ in range(skip_frames):  # drop the worker's own frame(s)
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    blob: Optional[bytes]
    try:
        data = dumps(exc)
        pickle.loads(data)  # must come back here too, or the master may fail
        blob = data
    except Exception:
        blob = None
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable %s>" % type(exc).__name__
    return RemoteError(
        type(exc).__qualname__, message, text, blob, SleighRank, platform.node(), os.getpid()
    )


# --- the worker --------------------------------------------------------------


class _Stop(Exception):
    """The sleigh is over: leave the loop."""


class Worker:
    """One worker's loop (see the module notes and spec/sleigh.md#worker)."""

    def __init__(self, server: NwsServer, ws: NetWorkSpace, rank: int, verbose: bool) -> None:
        self.server = server
        self.ws = ws
        self.rank = rank
        self.verbose = verbose
        # job -> (kind, function, fixed args, argPermute); the last few jobs.
        self.functions: Dict[int, Tuple[Any, ...]] = {}
        self.last_broadcast = -1
        self.tasks_done = 0

    def log(self, *msg: Any) -> None:
        if self.verbose:
            print("sleigh worker %d:" % self.rank, *msg, file=sys.stderr, flush=True)

    # -- NWS calls: a missing workspace or a dropped session ends the worker.

    def _call(self, f: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                return f(*args)
            except NwsNoWorkSpaceException as e:
                raise _Stop("sleigh workspace gone") from e
            except NwsServerException as e:
                raise _Stop("session ended: %s" % e) from e
            except NwsOperationException as e:
                if e.reason == "VARIABLE_DELETED":
                    # The master requeued the tasks (spec/sleigh.md#requeue).
                    continue
                raise

    def fetch_task(self, wait: bool) -> Optional[Tuple[Any, Any]]:
        if wait:
            got = self._call(self.ws.fetchLeased, TASK)
        else:
            got = self._call(self.ws.fetchTryLeased, TASK)
        return got

    def store(self, var: str, value: Any) -> None:
        self._call(self.ws.store, var, value)

    def function(self, job: int) -> Optional[Tuple[Any, ...]]:
        f = self.functions.get(job)
        if f is None:
            data = self._call(self.ws._ws.retrieve_bytes, function_var(job), False, True, None)
            if data is None:
                return None  # a finished or abandoned job
            try:
                f = loads(data)
            except BaseException as e:
                f = ("error", _remote_error(e, 0))
            if len(self.functions) >= 8:
                self.functions.pop(min(self.functions))
            self.functions[job] = f
        return f

    # -- running tasks

    def run(self, task: Tuple[Any, ...]) -> Tuple[Any, ...]:
        """Runs a task: ``(job, first, count, values, errors, seconds)``."""
        kind, job, first, count, payload = task
        spec = self.function(job)
        values: List[Any] = [None] * count
        errors: Dict[int, RemoteError] = {}
        start = time.perf_counter()
        if spec is None:
            return (job, first, count, None, None, 0.0)
        if spec[0] == "error":
            errors = {i: spec[1] for i in range(count)}
            return (job, first, count, values, errors, 0.0)
        fkind, fun, fixed, permute = spec
        try:
            elements = loads(payload) if kind != "W" else [()]
        except BaseException as e:
            err = _remote_error(e, 0)
            return (job, first, count, values, {i: err for i in range(count)}, 0.0)
        start = time.perf_counter()
        for i, elem in enumerate(elements):
            try:
                if kind == "K":
                    f, args, kwargs = elem
                    values[i] = f(*args, **kwargs)
                else:
                    args = tuple(elem) + fixed
                    if permute is not None:
                        args = tuple(args[j] for j in permute)
                    values[i] = fun(*args)
            except (Exception, SystemExit) as e:
                errors[i] = _remote_error(e)
        return (job, first, count, values, errors or None, time.perf_counter() - start)

    def pack(self, done: Tuple[Any, ...]) -> Tuple[Any, ...]:
        """The result part of a message: values pickled here, so that what
        cannot be pickled becomes an error of its own task."""
        job, first, count, values, errors, seconds = done
        if values is None:
            return (job, first, count, None, seconds)
        try:
            blob = dumps((values, errors))
        except Exception:
            errors = dict(errors or {})
            for i, v in enumerate(values):
                if i in errors:
                    continue
                try:
                    dumps(v)
                except Exception as e:
                    errors[i] = RemoteError(
                        type(e).__qualname__,
                        "the result of the task cannot be sent to the master: %s" % e,
                        "".join(traceback.format_exception_only(type(e), e)),
                        None,
                        self.rank,
                        platform.node(),
                        os.getpid(),
                    )
                    values[i] = None
            blob = dumps((values, errors))
        return (job, first, count, blob, seconds)

    def loop(self) -> None:
        # carry: the packed result of the last task, sent together with the
        # start of the next one (spec/sleigh.md#worker).
        carry: Optional[Tuple[Any, ...]] = None
        while True:
            got = self.fetch_task(wait=carry is None)
            if got is None:
                assert carry is not None
                self.store(RESULT, (self.rank, carry, None))
                carry = None
                continue
            task, lease = got
            if not (isinstance(task, tuple) and len(task) == 5):
                self.log("ignoring a malformed task:", repr(task)[:200])
                lease.ack()
                continue
            kind, job, first, count, _ = task
            if kind == "W" and job <= self.last_broadcast:
                lease.ack()  # a spare copy of an eachWorker call already run here
                continue
            if self.function(job) is None:
                lease.ack()  # its job is over
                continue
            self.store(RESULT, (self.rank, carry, (job, first, count)))
            carry = None
            # The start is recorded where the master reads it: from now on the
            # master re-runs the task if this worker dies, and counts the
            # attempt (spec/sleigh.md#fault-tolerance).
            lease.ack()
            self.log("running", kind, job, first, count)
            done = self.pack(self.run(task))
            self.tasks_done += count
            if kind == "W":
                self.store(RESULT, (self.rank, done, None))
                self.last_broadcast = job
                self._call(self.ws.find, barrier_var(job))
            else:
                carry = done


def _watch_parent(ppid: int) -> None:
    """Ends this process when the master dies (it is reparented)."""

    def watch() -> None:
        while True:
            time.sleep(0.25)
            if os.getppid() != ppid:
                os._exit(3)

    threading.Thread(target=watch, name="sleigh-parent-watch", daemon=True).start()


def main(argv: Optional[List[str]] = None) -> int:
    global SleighRank, SleighWorkerCount, SleighUserNws, SleighNws
    p = argparse.ArgumentParser(prog="python -m nws.sleigh_worker", description=__doc__.split("\n")[0])
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--ws", required=True, help="the sleigh workspace")
    p.add_argument("--user-ws", required=True, help="the user workspace")
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--count", type=int, required=True, help="workerCount")
    p.add_argument("--name", default=None, help="the node name given in nodeList")
    p.add_argument("--cwd", default=None)
    p.add_argument("--log", default=None, help="file for this worker's stdout and stderr")
    p.add_argument("--parent", type=int, default=0, help="exit when this process is no longer the parent")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)

    if a.log:
        fd = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    # The master stops workers; Ctrl-C in its terminal is its business.
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    if a.parent:
        _watch_parent(a.parent)
    if a.cwd:
        try:
            os.chdir(a.cwd)
        except OSError as e:
            print("sleigh worker %d: cannot chdir to %s: %s" % (a.rank, a.cwd, e), file=sys.stderr)

    try:
        server = NwsServer(a.host, a.port)
        ws = server.useWs(a.ws, create=False)
        user = server.useWs(a.user_ws, create=False)
        # The liveness token: held (leased, never acknowledged) for the life of
        # this session; the end of the session gives it back, which tells the
        # master this worker is gone (spec/sleigh.md#liveness).
        _token, token_lease = ws.fetchLeased(alive_var(a.rank))
        info = ws.find(MASTER_INFO)
    except NwsNoWorkSpaceException:
        return 0  # the sleigh ended before this worker started
    except NwsServerException as e:
        print("sleigh worker %d: cannot join the sleigh: %s" % (a.rank, e), file=sys.stderr)
        return 1

    for d in reversed(info.get("path", [])):
        if d not in sys.path and os.path.isdir(d):
            sys.path.insert(0, d)
    SleighRank = a.rank
    SleighWorkerCount = a.count
    SleighUserNws = user
    SleighNws = ws
    for name in ("SleighRank", "SleighWorkerCount", "SleighUserNws", "SleighNws"):
        setattr(builtins, name, globals()[name])
    # Code that tries to start a sleigh from a worker gets an error instead.
    os.environ["NWS_SLEIGH_WORKER"] = str(a.rank)

    ws.store(
        WORKER_INFO,
        {
            "rank": a.rank,
            "host": platform.node(),
            "fqdn": socket.getfqdn() if a.name not in (None, "localhost") else "localhost",
            "name": a.name or "localhost",
            "pid": os.getpid(),
            "python": platform.python_version(),
            "os": platform.system(),
            "logfile": a.log,
        },
    )
    worker = Worker(server, ws, a.rank, a.verbose)
    try:
        worker.loop()
    except _Stop as e:
        worker.log("exiting:", e)
    except KeyboardInterrupt:
        pass
    finally:
        del token_lease
    try:
        server.close()
    except Exception:
        pass
    return 0


if __name__ == "__main__":
    # Run the copy importable as nws.sleigh_worker, so that the globals above
    # are the ones tasks see.
    from nws import sleigh_worker as _self

    sys.exit(_self.main())
