"""Sleigh: parallel map over worker processes, coordinated through NWS.

A ``Sleigh`` starts worker processes (three on this machine by default, or
one per host of ``nodeList`` through a ``launch`` function such as
``sshcmd``) that wait for work in a workspace of their own::

    >>> from nws.sleigh import Sleigh
    >>> s = Sleigh()
    >>> from socket import gethostname
    >>> s.eachWorker(gethostname)
    ['newt', 'newt', 'newt']
    >>> r = s.eachElem(lambda x: x*x*x, range(100))
    >>> r[2:5]
    [8, 27, 64]
    >>> s.eachElem(f, [[1,2,3],[11,12,13]], [99])   # f(1,11,99), f(2,12,99), f(3,13,99)
    >>> p = s.eachElem(f, range(1000), blocking=False)
    >>> p.check()                                   # tasks still outstanding
    >>> p.wait()                                    # the results
    >>> s.stop()

``eachWorker(fun, *args)`` runs ``fun(*args)`` once on every worker and
returns the results in rank order; ``eachElem(fun, elementArgs, fixedArgs)``
calls ``fun`` once per element and returns the results in element order.
Functions defined in the master's ``__main__`` (lambdas too) reach the
workers (by value, with cloudpickle), and workers keep state across tasks:
what ``eachWorker`` defines with ``global`` is there for later tasks. In
workers, ``SleighRank``, ``SleighWorkerCount`` and ``SleighUserNws`` (the
workspace ``s.userNws`` of the master) are globals.

A ``Sleigh`` is also a ``concurrent.futures.Executor`` (``submit``, ``map``,
``shutdown``, ``with Sleigh() as s:``).

Tasks are leased (spec/sleigh.md#fault-tolerance): a task whose worker dies
runs again on another worker; a task that keeps killing its workers fails
after ``maxRetries`` re-runs; a task that raises is reported in the master
with the worker's traceback (``SleighTaskException``), or returned as a value
with ``errors='value'``. ``stop()`` (or the end of the master) leaves no
worker processes behind.

The behaviour shared with R's ``sleigh()`` (argument lengths, result order,
errors, retries) and the workspace variables used are specified in
spec/sleigh.md.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import nws
from nws.client import (
    DICT,
    FIFO,
    SINGLE,
    V_VALUES,
    NetWorkSpace,
    NwsBlob,
    NwsException,
    NwsNoWorkSpaceException,
    NwsServer,
    NwsServerException,
    NwsTimeoutException,
)
from nws.sleigh_worker import (
    MASTER_INFO,
    RESULT,
    TASK,
    WORKER_INFO,
    RemoteError,
    alive_var,
    barrier_var,
    function_var,
)

__all__ = [
    "Sleigh",
    "SleighPending",
    "SleighProgress",
    "sshcmd",
    "defaultSleighOptions",
    "SleighException",
    "SleighNwsException",
    "SleighGatheredException",
    "SleighStoppedException",
    "SleighOccupiedException",
    "SleighIllegalValueException",
    "SleighTaskException",
    "SleighNoWorkersException",
    "SleighNotAllowedException",
]


# --- exceptions --------------------------------------------------------------


class SleighException(Exception):
    """Base class for all exceptions raised by this module."""


class SleighNwsException(SleighException):
    """Error performing an NWS operation."""


class SleighGatheredException(SleighException):
    """Results already gathered (``SleighPending.wait`` called twice)."""


class SleighStoppedException(SleighException):
    """The sleigh is stopped."""


class SleighOccupiedException(SleighException):
    """A non-blocking ``eachElem``/``eachWorker`` is pending: ``wait()`` for
    it first."""


class SleighIllegalValueException(SleighException, ValueError):
    """Illegal value specified."""


class SleighNotAllowedException(SleighException):
    """Sleigh construction not allowed (from inside a sleigh worker)."""


class SleighNoWorkersException(SleighException):
    """Every worker of the sleigh has died."""


class SleighTaskException(SleighException):
    """A task failed in a worker: its function raised, or its worker died
    more than ``maxRetries + 1`` times while running it.

    ``index``: the element (eachElem) or rank (eachWorker) of the task;
    ``rank``, ``host``, ``pid``: where it last ran; ``exception``: the
    exception the function raised, when it could be brought back (else
    None); ``type_name``, ``traceback``: its type and the worker's
    traceback as text; ``killed``: True when the worker died instead.
    ``str()`` includes the worker's traceback.
    """

    def __init__(
        self,
        message: str,
        index: Optional[int] = None,
        rank: Optional[int] = None,
        host: Optional[str] = None,
        pid: Optional[int] = None,
        exception: Optional[BaseException] = None,
        type_name: Optional[str] = None,
        traceback: str = "",
        killed: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.rank = rank
        self.host = host
        self.pid = pid
        self.exception = exception
        self.type_name = type_name
        self.traceback = traceback
        self.killed = killed

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return (
            _rebuild_task_exception,
            (
                self.message,
                self.index,
                self.rank,
                self.host,
                self.pid,
                None,
                self.type_name,
                self.traceback,
                self.killed,
            ),
        )


def _rebuild_task_exception(*args: Any) -> SleighTaskException:
    return SleighTaskException(*args)


class SleighRemoteTraceback(Exception):
    """The worker's traceback, attached as ``__cause__`` to exceptions that
    ``Future.result()`` re-raises (as ``ProcessPoolExecutor`` does)."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return '\n"""\n%s"""' % self.tb


def _from_remote(err: RemoteError, what: str, index: Optional[int]) -> SleighTaskException:
    exc = None
    if err.exception is not None:
        try:
            exc = pickle.loads(err.exception)
        except Exception:
            exc = None
    where = "worker %s on %s, pid %s" % (err.rank, err.host, err.pid)
    message = "%s raised %s: %s (%s)\n\nWorker traceback:\n%s" % (
        what,
        err.type_name,
        err.message,
        where,
        err.traceback.rstrip("\n"),
    )
    return SleighTaskException(
        message,
        index=index,
        rank=err.rank,
        host=err.host,
        pid=err.pid,
        exception=exc,
        type_name=err.type_name,
        traceback=err.traceback,
    )


# --- options -----------------------------------------------------------------


def _default_host() -> str:
    return os.environ.get("NWS_HOST", "").strip() or "localhost"


def _default_port() -> int:
    p = os.environ.get("NWS_PORT", "").strip()
    return int(p) if p else 8765


#: The constructor's options and their defaults (``None``: computed, see
#: ``Sleigh``). Unknown keyword arguments raise ``TypeError``.
defaultSleighOptions: Dict[str, Any] = {
    "nwsHost": None,
    "nwsPort": None,
    "nwsHostRemote": None,
    "nwsPortRemote": None,
    "launch": "local",
    "workerCount": 3,
    "nodeList": None,
    "interp": None,
    "workingDir": None,
    "modulePath": None,
    "logDir": None,
    "user": None,
    "wsNameTemplate": "sleigh_ride_%d",
    "userWsNameTemplate": "sleigh_user_%d",
    "maxRetries": 1,
    "verbose": False,
}

# Options of the original that have no effect here (accepted, with a warning).
_IGNORED_OPTIONS = ("scriptExec", "scriptDir", "scriptName", "passwd", "redirectOutput", "outfile")


def sshcmd(machine: str, **kw: Any) -> List[str]:
    """A ``launch`` function: the command prefix that runs a worker on
    ``machine`` over ssh (``ssh -n -x [-l user] machine``).

    ``Sleigh(nodeList=['hippo', 'rhino'], launch=sshcmd)`` starts one worker
    per host. ssh must log in without a password (keys, an agent), the
    workers must reach the NWS server at ``nwsHostRemote``/``nwsPortRemote``
    (default ``nwsHost``/``nwsPort``: use a name the hosts can resolve, and
    a server bound to that interface), and ``interp`` names the Python that
    has ``nws`` installed there (default: this interpreter's path). A launch
    function receives the host and every Sleigh option as keywords and
    returns a list of strings; the worker's command line (quoted for a
    shell) is appended to it.
    """
    if not machine:
        raise SleighIllegalValueException("empty string specified in nodeList")
    ssh = shutil.which("ssh") or "/usr/bin/ssh"
    user = kw.get("user")
    if isinstance(user, dict):
        user = user.get(machine, user.get("default"))
    cmd = [ssh, "-n", "-x", "-o", "BatchMode=yes"]
    if user:
        cmd += ["-l", str(user)]
    return cmd + [machine]


# --- progress ----------------------------------------------------------------


class SleighProgress(int):
    """What ``SleighPending.check()`` returns: the number of tasks still
    outstanding (an ``int``, as the original's), with ``done`` and
    ``total``."""

    done: int
    total: int

    def __new__(cls, done: int, total: int) -> "SleighProgress":
        obj = super().__new__(cls, total - done)
        obj.done = done
        obj.total = total
        return obj

    def __repr__(self) -> str:
        return "SleighProgress(done=%d, total=%d)" % (self.done, self.total)


class _Bar:
    """A progress bar on stderr: tqdm if installed, else a line of text."""

    def __init__(self, total: int, desc: str) -> None:
        self.total = total
        self.shown = 0
        self.tqdm: Any = None
        try:
            from tqdm import tqdm  # type: ignore[import-not-found,import-untyped]

            self.tqdm = tqdm(total=total, desc=desc, unit="task")
        except Exception:
            self.desc = desc
            self.last = 0.0

    def update(self, done: int) -> None:
        if done <= self.shown:
            return
        if self.tqdm is not None:
            self.tqdm.update(done - self.shown)
        else:
            now = time.monotonic()
            if now - self.last >= 0.2 or done == self.total:
                sys.stderr.write("\r%s: %d/%d tasks" % (self.desc, done, self.total))
                sys.stderr.flush()
                self.last = now
        self.shown = done

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
        elif self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --- pickling ------------------------------------------------------------------


def _dumps(obj: Any, what: str) -> bytes:
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - cloudpickle is a dependency
        cloudpickle = None
    try:
        if cloudpickle is not None:
            return bytes(cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        hint = "" if cloudpickle is not None else " (pip install cloudpickle to send lambdas and __main__ functions)"
        raise SleighIllegalValueException("cannot send %s to the workers: %s%s" % (what, e, hint)) from e


_MISSING = object()

#: The duration a chunk of tasks aims at under automatic chunking (s).
_CHUNK_TARGET = 0.02
#: How often the collector looks at the workers while waiting (s).
_POLL = 0.1
#: How often the web UI counts are updated (s).
_PROGRESS_EVERY = 0.25


def _template(t: Any) -> str:
    """A workspace name template for mktempWs, which knows only ``%d``: the
    original's ``%04d`` becomes ``%d``."""
    if not isinstance(t, str) or not t:
        raise SleighIllegalValueException("a workspace name template must be a non-empty string, not %r" % (t,))
    return re.sub(r"%0?\d*d", "%d", t)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return "signal %d" % code


# --- jobs ----------------------------------------------------------------------


class _Job:
    """One eachElem/eachWorker call (or the executor's stream of calls): its
    results and its part of the task queue. Guarded by the core's lock."""

    kind = "?"

    def __init__(self, core: "_Core", jid: int, errors: str) -> None:
        self.core = core
        self.id = jid
        self.errors = errors
        self.cond = threading.Condition(core.lock)
        self.finished = False
        self.error: Optional[BaseException] = None
        self.gathered = False

    # Overridden: what the collector tells a job.
    def on_start(self, rank: int, first: int, count: int) -> None:
        pass

    def on_done(self, rank: int, first: int, count: int, values: Any, errors: Any, seconds: float) -> None:
        raise NotImplementedError

    def on_worker_died(self, rank: int, running: Optional[Tuple[int, int, int]], why: str) -> List[Tuple[int, int]]:
        return []

    def refill(self) -> List[Tuple[int, int]]:
        return []

    def progress(self) -> Tuple[int, int]:
        return (0, 0)

    def finish(self, error: Optional[BaseException] = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.error = error
        self.core._job_finished(self)
        self.cond.notify_all()

    def outcome(self) -> Any:
        raise NotImplementedError


class _ElemJob(_Job):
    """eachElem (kind ``E``) and Executor.map: elements in chunks."""

    kind = "E"

    def __init__(
        self,
        core: "_Core",
        jid: int,
        elements: List[Any],
        errors: str,
        retries: int,
        chunk_size: Optional[int],
        load_factor: Optional[float],
    ) -> None:
        super().__init__(core, jid, errors)
        self.elements = elements
        self.n = len(elements)
        self.results: List[Any] = [_MISSING] * self.n
        self.ndone = 0
        self.retries = retries
        self.fixed_k = chunk_size
        self.load_factor = load_factor
        self.next = 0
        self.live: Dict[Tuple[int, int], bool] = {}
        self.attempts: Dict[int, int] = {}
        self.tau: Optional[float] = None
        # Elements given up on whose copies must leave the queue.
        self.purge: List[int] = []

    def window(self) -> Optional[int]:
        wc = max(1, self.core.live_workers())
        if self.load_factor:
            return max(wc, int(self.load_factor * wc))
        if self.fixed_k:
            return None  # everything at once, as the original
        return 2 * wc

    def chunk(self) -> int:
        if self.fixed_k:
            return self.fixed_k
        if self.tau is None:
            return 1
        wc = max(1, self.core.live_workers())
        by_time = int(_CHUNK_TARGET / max(self.tau, 1e-7))
        by_balance = (self.n - self.next) // (4 * wc)
        return max(1, min(by_time, by_balance))

    def refill(self) -> List[Tuple[int, int]]:
        out: List[Tuple[int, int]] = []
        if self.finished:
            return out
        w = self.window()
        while self.next < self.n and (w is None or len(self.live) < w):
            k = min(self.chunk(), self.n - self.next)
            key = (self.next, k)
            self.live[key] = True
            out.append(key)
            self.next += k
        return out

    def payload(self, first: int, count: int) -> bytes:
        return _dumps(self.elements[first : first + count], "the arguments")

    def progress(self) -> Tuple[int, int]:
        return (self.ndone, self.n)

    def deliver(self, i: int, value: Any) -> None:
        self.results[i] = value
        self.ndone += 1

    def on_done(self, rank: int, first: int, count: int, values: Any, errors: Any, seconds: float) -> None:
        self.live.pop((first, count), None)
        if seconds > 0 and count > 0:
            sample = seconds / count
            self.tau = sample if self.tau is None else 0.5 * self.tau + 0.5 * sample
        for off in range(count):
            i = first + off
            if i >= self.n or self.results[i] is not _MISSING:
                continue  # a duplicate (see spec/sleigh.md#duplicates)
            if errors and off in errors:
                err = _from_remote(errors[off], "task %d" % i, i)
                if self.errors == "raise":
                    self.finish(err)
                    return
                self.deliver(i, err)
            else:
                self.deliver(i, values[off])
        self.maybe_finish()

    def maybe_finish(self) -> None:
        if self.ndone >= self.n and not self.finished:
            self.finish()

    def on_worker_died(self, rank: int, running: Optional[Tuple[int, int, int]], why: str) -> List[Tuple[int, int]]:
        if running is None or self.finished:
            return []
        _, first, count = running
        if self.live.pop((first, count), None) is None:
            return []  # done meanwhile (by a duplicate)
        front: List[Tuple[int, int]] = []
        for i in range(first, first + count):
            if self.results[i] is not _MISSING:
                continue
            if count == 1:
                # Only a death while running one element counts against it
                # (spec/sleigh.md#retries).
                n = self.attempts[i] = self.attempts.get(i, 0) + 1
                if n > self.retries:
                    err = SleighTaskException(
                        "task %d failed: its worker died each of the %d times it ran (last: worker %d %s);"
                        " maxRetries=%d" % (i, n, rank, why, self.retries),
                        index=i,
                        rank=rank,
                        killed=True,
                    )
                    if self.errors == "raise":
                        self.finish(err)
                        return []
                    self.deliver(i, err)
                    self.purge.append(i)
                    continue
            self.live[(i, 1)] = True
            front.append((i, 1))
        self.maybe_finish()
        return front

    def outcome(self) -> List[Any]:
        if self.error is not None:
            raise self.error
        return list(self.results)


class _CallJob(_ElemJob):
    """The executor's calls (kind ``K``): one element per ``submit``, each
    carrying its function; results go to futures."""

    kind = "K"

    def __init__(self, core: "_Core", jid: int, retries: int) -> None:
        super().__init__(core, jid, [], "value", retries, 1, None)
        self.futures: Dict[int, concurrent.futures.Future] = {}

    def add(self, fut: concurrent.futures.Future, call: Tuple[Any, Any, Any]) -> Tuple[int, int]:
        i = self.n
        self.elements.append(call)
        self.results.append(_MISSING)
        self.n += 1
        self.next = self.n
        self.futures[i] = fut
        self.live[(i, 1)] = True
        return (i, 1)

    def refill(self) -> List[Tuple[int, int]]:
        return []

    def on_start(self, rank: int, first: int, count: int) -> None:
        fut = self.futures.get(first)
        if fut is not None and not fut.running():
            try:
                fut.set_running_or_notify_cancel()
            except RuntimeError:
                pass  # already finished, or cancelled and notified

    def deliver(self, i: int, value: Any) -> None:
        self.ndone += 1
        self.elements[i] = None
        self.results[i] = None
        fut = self.futures.pop(i, None)
        if fut is None or fut.done():
            return
        if isinstance(value, SleighTaskException):
            exc: BaseException = value.exception if value.exception is not None else value
            if value.traceback and exc is value.exception:
                exc.__cause__ = SleighRemoteTraceback(value.traceback)
            fut.set_exception(exc)
        else:
            fut.set_result(value)

    def maybe_finish(self) -> None:
        pass  # lives as long as the sleigh

    def fail_all(self, exc: BaseException) -> None:
        for fut in self.futures.values():
            if not fut.done():
                fut.set_exception(exc)
        self.futures.clear()


class _WorkerJob(_Job):
    """eachWorker (kind ``W``): one copy per live worker, results by rank."""

    kind = "W"

    def __init__(self, core: "_Core", jid: int, ranks: List[int], errors: str) -> None:
        super().__init__(core, jid, errors)
        self.ranks = ranks
        self.results: Dict[int, Any] = {}

    def progress(self) -> Tuple[int, int]:
        return (len(self.results), len(self.ranks))

    def on_done(self, rank: int, first: int, count: int, values: Any, errors: Any, seconds: float) -> None:
        if rank not in self.ranks or rank in self.results:
            return
        if errors and 0 in errors:
            err = _from_remote(errors[0], "eachWorker", rank)
            if self.errors == "raise":
                self.finish(err)
                return
            self.results[rank] = err
        else:
            self.results[rank] = values[0]
        self.check()

    def on_worker_died(self, rank: int, running: Optional[Tuple[int, int, int]], why: str) -> List[Tuple[int, int]]:
        if rank in self.ranks and rank not in self.results and not self.finished:
            err = SleighTaskException(
                "eachWorker failed on worker %d: the worker %s" % (rank, why), index=rank, rank=rank, killed=True
            )
            if self.errors == "raise":
                self.finish(err)
                return []
            self.results[rank] = err
            self.check()
        return []

    def check(self) -> None:
        if len(self.results) >= len(self.ranks):
            self.finish()

    def outcome(self) -> List[Any]:
        if self.error is not None:
            raise self.error
        return [self.results[r] for r in self.ranks]


# --- workers as the master sees them -------------------------------------------


class _WorkerState:
    def __init__(self, rank: int, node: str) -> None:
        self.rank = rank
        self.node = node
        self.proc: Optional[subprocess.Popen] = None
        self.alive = True
        self.seen = False
        self.running: Optional[Tuple[int, int, int]] = None
        self.why = ""


# --- the master's machinery -------------------------------------------------------


class _Core:
    """Everything a Sleigh owns: the session, its two workspaces, the
    worker processes, the jobs and the collector thread that reads the
    workers' messages. Kept apart from ``Sleigh`` so that dropping the last
    reference to a Sleigh stops it (``weakref.finalize``)."""

    def __init__(self, opts: Dict[str, Any]) -> None:
        self.opts = opts
        self.lock = threading.RLock()
        self.verbose = bool(opts["verbose"])
        self.server = NwsServer(opts["nwsHost"], opts["nwsPort"])
        try:
            self.ws_name = self.server.mktempWs(_template(opts["wsNameTemplate"]))
            self.ws = self.server.openWs(self.ws_name)
            self.user_name = self.server.mktempWs(_template(opts["userWsNameTemplate"]))
            self.user = self.server.openWs(self.user_name)
        except BaseException:
            self.server.close()
            raise
        self.workers: Dict[int, _WorkerState] = {}
        self.jobs: Dict[int, _Job] = {}
        self.next_job = 0
        self.last_barrier: Optional[int] = None
        # Tasks stored and not yet started, in queue order, by key (job,
        # first, count): what a requeue stores again (spec/sleigh.md#requeue).
        self.queued: "OrderedDict[Tuple[int, int, int], Tuple[Any, ...]]" = OrderedDict()
        self.call_job: Optional[_CallJob] = None
        self.stopped = False
        self.occupied: Optional[_Job] = None
        self.progress_shown = (-1, -1)
        # (done, total) of the jobs finished so far, for doneTasks/totalTasks.
        self.finished_counts = (0, 0)
        self.progress_at = 0.0
        self.tokens_at = 0.0
        self.collector: Optional[threading.Thread] = None

    def log(self, *msg: Any) -> None:
        if self.verbose:
            print("sleigh master:", *msg, file=sys.stderr, flush=True)

    # -- start

    def start(self, nodes: List[str]) -> None:
        ws = self.ws
        n = len(nodes)
        for name in ("workerCount", "nodeList", "totalTasks", "doneTasks"):
            ws.declare(name, SINGLE)
        ws.store("workerCount", str(n))
        ws.store("nodeList", " ".join(nodes))
        ws.store("totalTasks", "0")
        ws.store("doneTasks", "0")
        ws.declare(TASK, FIFO)
        ws.declare(RESULT, FIFO)
        path = [p for p in sys.path if p and os.path.isdir(p)]
        mp = self.opts["modulePath"]
        if mp:
            path = [p for p in str(mp).split(os.pathsep) if p] + path
        ws.store(MASTER_INFO, {"path": path, "pid": os.getpid(), "host": platform.node()})
        for rank in range(n):
            ws.store(alive_var(rank), "worker %d" % rank)
            self.workers[rank] = _WorkerState(rank, nodes[rank])
        for rank in range(n):
            self.launch(self.workers[rank], n)
        self.collector = threading.Thread(target=self.collect, name="sleigh-collector %s" % self.ws_name, daemon=True)
        self.collector.start()

    def worker_args(self, w: _WorkerState, n: int) -> List[str]:
        o = self.opts
        args = [
            "-m",
            "nws.sleigh_worker",
            "--host",
            str(o["nwsHostRemote"]),
            "--port",
            str(o["nwsPortRemote"]),
            "--ws",
            self.ws_name,
            "--user-ws",
            self.user_name,
            "--rank",
            str(w.rank),
            "--count",
            str(n),
            "--name",
            w.node,
        ]
        if o["workingDir"]:
            args += ["--cwd", str(o["workingDir"])]
        if o["logDir"]:
            args += ["--log", os.path.join(str(o["logDir"]), "%s_%04d.log" % (self.ws_name, w.rank))]
        if self.verbose:
            args.append("--verbose")
        return args

    def launch(self, w: _WorkerState, n: int) -> None:
        o = self.opts
        launch = o["launch"]
        interp = str(o["interp"] or sys.executable)
        args = [interp] + self.worker_args(w, n)
        env = dict(os.environ)
        if launch == "local":
            argv = args + ["--parent", str(os.getpid())]
            # The worker imports the same nws package as this process.
            pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(nws.__file__)))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH", "")) if p)
        else:
            prefix = launch(w.node, **o)
            if not isinstance(prefix, list) or not all(isinstance(a, str) for a in prefix):
                raise SleighIllegalValueException("launch must return a list of strings, not %r" % (prefix,))
            argv = prefix + [shlex.quote(a) for a in args]
        self.log("starting worker", w.rank, argv)
        try:
            w.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as e:
            w.alive = False
            w.why = "could not be started: %s" % e
            warnings.warn("sleigh worker %d %s" % (w.rank, w.why), stacklevel=4)

    # -- jobs

    def live_workers(self) -> int:
        return sum(1 for w in self.workers.values() if w.alive)

    def new_job_id(self) -> int:
        jid = self.next_job
        self.next_job += 1
        return jid

    def check_usable(self) -> None:
        if self.stopped:
            raise SleighStoppedException("sleigh is stopped")
        if self.live_workers() == 0:
            raise SleighNoWorkersException("every worker of this sleigh has died: %s" % self.deaths())

    def deaths(self) -> str:
        return "; ".join("worker %d %s" % (w.rank, w.why) for w in self.workers.values() if not w.alive)

    def begin(self, job: _Job, record: Tuple[Any, ...]) -> None:
        """Registers a job and stores its function record and first tasks."""
        blob = _dumps(record, "the function")
        with self.lock:
            self.check_usable()
            self.ws.store(function_var(job.id), NwsBlob("python/pickle", blob))
            self.jobs[job.id] = job
            if isinstance(job, _WorkerJob):
                envs = [("W", job.id, r, 1, b"") for r in job.ranks]
                for e in envs:
                    self.queued[(job.id, -1 - e[2], 1)] = e
                self.ws.storeMany(TASK, envs)
            else:
                self.submit(job, job.refill())
            self.show_progress(force=True)

    def submit(self, job: _Job, chunks: List[Tuple[int, int]], front: bool = False) -> None:
        if not chunks:
            return
        assert isinstance(job, _ElemJob)
        envs = []
        for first, count in chunks:
            env = (job.kind, job.id, first, count, job.payload(first, count))
            self.queued[(job.id, first, count)] = env
            envs.append(env)
        if front:
            for first, count in reversed(chunks):
                self.queued.move_to_end((job.id, first, count), last=False)
            self.requeue()
        else:
            self.ws.storeMany(TASK, envs)

    def requeue(self) -> None:
        """Replaces the task queue by what is in ``queued``, in its order
        (spec/sleigh.md#requeue): re-run tasks go first, abandoned ones go."""
        self.log("requeue:", len(self.queued), "tasks")
        try:
            self.ws.deleteVar(TASK)
            self.ws.declare(TASK, FIFO)
            self.ws.storeMany(TASK, list(self.queued.values()))
        except NwsException as e:
            self.log("requeue failed:", e)

    def abandon(self, job: _Job) -> None:
        """Takes a finished or failed job's unstarted tasks out of the queue."""
        keys = [k for k in self.queued if k[0] == job.id]
        if keys:
            for k in keys:
                del self.queued[k]
            if isinstance(job, _ElemJob):
                self.requeue()

    def _job_finished(self, job: _Job) -> None:
        # Called by job.finish(), lock held.
        if self.jobs.pop(job.id, None) is not None:
            done, total = job.progress()
            self.finished_counts = (self.finished_counts[0] + done, self.finished_counts[1] + total)
        if self.stopped:
            return
        if job.error is not None:
            self.abandon(job)
        else:
            for k in [k for k in self.queued if k[0] == job.id]:
                del self.queued[k]
        try:
            self.ws.deleteVar(function_var(job.id))
            if isinstance(job, _WorkerJob):
                self.ws.store(barrier_var(job.id), "go")
                if self.last_barrier is not None:
                    self.ws.deleteVar(barrier_var(self.last_barrier))
                self.last_barrier = job.id
        except NwsException as e:
            self.log("cleaning up job", job.id, "failed:", e)
        self.show_progress(force=True)

    def wait(self, job: _Job, progress: bool = False, timeout: Optional[float] = None) -> Any:
        bar = None
        if progress:
            with self.lock:
                bar = _Bar(job.progress()[1], "eachElem" if job.kind == "E" else "eachWorker")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self.lock:
                while not job.finished:
                    step = 0.2 if bar is not None else 1.0
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise concurrent.futures.TimeoutError()
                        step = min(step, left)
                    job.cond.wait(step)
                    if bar is not None:
                        bar.update(job.progress()[0])
        except KeyboardInterrupt:
            with self.lock:
                job.finish(SleighStoppedException("interrupted"))
            raise
        finally:
            if bar is not None:
                with self.lock:
                    bar.update(job.progress()[0])
                bar.close()
        with self.lock:
            job.gathered = True
            if self.occupied is job:
                self.occupied = None
            return job.outcome()

    # -- the collector

    def collect(self) -> None:
        last_check = 0.0
        while not self.stopped:
            try:
                msg = self.ws.fetch(RESULT, timeout=_POLL if self.jobs else 0.5)
            except NwsTimeoutException:
                msg = None
            except (NwsNoWorkSpaceException, NwsServerException) as e:
                with self.lock:
                    if not self.stopped:
                        self.fail_all(SleighStoppedException("the sleigh workspace is gone: %s" % e))
                return
            except Exception as e:  # an undecodable message: skip it
                self.log("bad message:", e)
                continue
            try:
                with self.lock:
                    if self.stopped:
                        return
                    if msg is not None:
                        self.on_message(msg)
                    now = time.monotonic()
                    if msg is None or now - last_check >= _POLL:
                        last_check = now
                        self.check_workers(now)
                    for job in list(self.jobs.values()):
                        if not job.finished and isinstance(job, _ElemJob):
                            self.submit(job, job.refill())
                    self.show_progress()
            except NwsException as e:
                with self.lock:
                    if not self.stopped:
                        self.fail_all(SleighStoppedException("NWS error in the sleigh master: %s" % e))
                return
            except Exception as e:  # keep collecting; report on the jobs
                with self.lock:
                    for job in list(self.jobs.values()):
                        job.finish(SleighException("internal error in the sleigh master: %r" % e))

    def on_message(self, msg: Any) -> None:
        try:
            rank, done, start = msg
        except (TypeError, ValueError):
            self.log("ignoring message", repr(msg)[:200])
            return
        w = self.workers.get(rank)
        if w is None:
            return
        w.seen = True
        if done is not None:
            job_id, first, count, blob, seconds = done
            if w.running is not None and w.running[:2] == (job_id, first):
                w.running = None
            job = self.jobs.get(job_id)
            if job is not None and blob is not None and not job.finished:
                try:
                    values, errors = pickle.loads(blob)
                except Exception as e:
                    values = [None] * count
                    errors = {
                        i: RemoteError(
                            type(e).__qualname__,
                            "the result could not be unpickled in the master: %s" % e,
                            "",
                            None,
                            rank,
                            w.node,
                            0,
                        )
                        for i in range(count)
                    }
                job.on_done(rank, first, count, values, errors, seconds)
        if start is not None:
            job_id, first, count = start
            w.running = (job_id, first, count)
            job = self.jobs.get(job_id)
            if job is not None and job.kind == "W":
                # The copies of an eachWorker call are interchangeable.
                for k in self.queued:
                    if k[0] == job_id:
                        del self.queued[k]
                        break
            else:
                self.queued.pop((job_id, first, count), None)
            job = self.jobs.get(job_id)
            if job is not None:
                job.on_start(rank, first, count)

    def check_workers(self, now: float) -> None:
        dead: List[Tuple[_WorkerState, str]] = []
        for w in self.workers.values():
            if w.alive and w.proc is not None:
                code = w.proc.poll()
                if code is not None:
                    if code < 0:
                        why = "was killed by %s" % _signal_name(-code)
                    else:
                        why = "exited with status %d" % code
                    dead.append((w, why))
        if now - self.tokens_at >= 0.5 and any(w.alive for w in self.workers.values()):
            self.tokens_at = now
            try:
                listing = self.ws.listVars(format=DICT)
            except NwsException:
                listing = {}
            for w in self.workers.values():
                row = listing.get(alive_var(w.rank))  # type: ignore[union-attr]
                if not w.alive or row is None or any(d[0] is w for d in dead):
                    continue
                if row[V_VALUES] == 0:
                    w.seen = True  # it holds its token
                elif w.seen:
                    dead.append((w, "lost its NWS session"))
        if not dead:
            return
        # Whatever a dead worker stored is in the result queue by now (it
        # waited for each store's reply): read it all first, so that what
        # the worker was running when it died is known exactly.
        while True:
            try:
                msg = self.ws.fetchTry(RESULT)
            except NwsException:
                break
            if msg is None:
                break
            self.on_message(msg)
        for w, why in dead:
            if w.alive:
                self.worker_died(w, why)

    def worker_died(self, w: _WorkerState, why: str) -> None:
        w.alive = False
        w.why = why
        running, w.running = w.running, None
        self.log("worker", w.rank, why, "while running", running)
        for job in list(self.jobs.values()):
            mine = running if running is not None and running[0] == job.id else None
            if mine is not None and any(
                o.alive and o.running is not None and o.running == mine for o in self.workers.values()
            ):
                mine = None  # a duplicate of it runs elsewhere
            front = job.on_worker_died(w.rank, mine, why)
            purge = getattr(job, "purge", None)
            if front and not job.finished:
                self.submit(job, front, front=True)
            elif purge:
                # Any copy of a task given up on (one the server gave back
                # with a dying worker's lease, say) leaves the queue.
                self.requeue()
            if purge:
                purge.clear()
        if self.live_workers() == 0:
            what = ""
            if running is not None and running[0] in self.jobs:
                job = self.jobs[running[0]]
                what = " (the last one was running %s)" % (
                    "eachWorker" if job.kind == "W" else "task %d" % running[1]
                    if running[2] == 1 else "tasks %d-%d" % (running[1], running[1] + running[2] - 1)
                )
            self.fail_all(
                SleighNoWorkersException("every worker of this sleigh has died%s: %s" % (what, self.deaths()))
            )

    def fail_all(self, exc: BaseException) -> None:
        for job in list(self.jobs.values()):
            if isinstance(job, _CallJob):
                job.fail_all(exc)
                self.jobs.pop(job.id, None)
            else:
                job.finish(exc)

    def show_progress(self, force: bool = False) -> None:
        """Keeps ``doneTasks``/``totalTasks`` (counted over the sleigh's
        life) current for the web UI."""
        now = time.monotonic()
        if not force and now - self.progress_at < _PROGRESS_EVERY:
            return
        done, total = self.finished_counts
        for job in self.jobs.values():
            d, t = job.progress()
            done += d
            total += t
        if (done, total) != self.progress_shown:
            self.progress_at = now
            self.progress_shown = (done, total)
            try:
                self.ws.store("doneTasks", str(done))
                self.ws.store("totalTasks", str(total))
            except NwsException:
                pass

    # -- stop

    def shutdown(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
            self.fail_all(SleighStoppedException("sleigh is stopped"))
        try:
            self.server.deleteWs(self.ws_name)
        except Exception:
            pass
        collector = self.collector
        if collector is not None and collector is not threading.current_thread():
            collector.join(timeout=2.0)
        try:
            self.server.close()
        except Exception:
            pass
        self.reap()

    def reap(self) -> None:
        """Waits briefly for the workers to leave, then ends them."""
        procs = [w.proc for w in self.workers.values() if w.proc is not None]
        deadline = time.monotonic() + 1.0
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            for p in procs:
                if p.poll() is None and sig is not None:
                    try:
                        os.killpg(p.pid, sig)
                    except (ProcessLookupError, PermissionError):
                        try:
                            p.send_signal(sig)
                        except ProcessLookupError:
                            pass
            for p in procs:
                try:
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            if all(p.poll() is not None for p in procs):
                return
            deadline = time.monotonic() + 1.0


# --- the public classes -------------------------------------------------------------


class SleighPending:
    """A non-blocking ``eachElem``/``eachWorker`` in progress.

    ``check()`` returns the number of tasks still outstanding (a
    ``SleighProgress``: also ``.done`` and ``.total``); ``wait()`` waits for
    and returns the results (or raises as the blocking call would).
    """

    def __init__(self, sleigh: "Sleigh", job: _Job) -> None:
        self._sleigh = sleigh  # keeps the sleigh running while pending
        self._job = job

    def check(self) -> SleighProgress:
        """The number of tasks not yet done (``.done``/``.total`` too)."""
        with self._job.cond:
            done, total = self._job.progress()
        return SleighProgress(done, total)

    @property
    def done(self) -> bool:
        """Whether every task has finished (or the call failed)."""
        return self._job.finished

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Waits for the results and returns them, in order (at most
        ``timeout`` seconds: ``concurrent.futures.TimeoutError``)."""
        if self._job.gathered:
            raise SleighGatheredException("results already gathered")
        return self._sleigh._core.wait(self._job, timeout=timeout)

    def __repr__(self) -> str:
        done, total = self._job.progress()
        return "<SleighPending %s %d/%d>" % (self._job.kind, done, total)


def _is_sequence_arg(x: Any) -> bool:
    return not isinstance(x, (str, bytes, bytearray)) and hasattr(x, "__iter__")


def _elements(elementArgs: Any) -> List[Tuple[Any, ...]]:
    """eachElem's elements (spec/sleigh.md#arguments)."""
    if isinstance(elementArgs, list):
        if elementArgs and _is_sequence_arg(elementArgs[0]):
            seqs = elementArgs
        elif not elementArgs:
            seqs = []
        else:
            seqs = [elementArgs]
    else:
        seqs = [elementArgs]
    lists = []
    for s in seqs:
        if not hasattr(s, "__iter__"):
            raise SleighIllegalValueException(
                "elementArgs must be an iterable or a list of iterables, not %s" % type(s).__name__
            )
        lists.append(list(s))
    if not lists:
        return []
    n = max(len(x) for x in lists)
    bad = sorted({len(x) for x in lists if len(x) not in (n, 1)})
    if bad:
        raise SleighIllegalValueException(
            "elementArgs have unequal lengths %s: each must have %d elements (the longest) or 1 (used for every task)"
            % (sorted({len(x) for x in lists}), n)
        )
    cols = [x if len(x) == n else x * n for x in lists]
    return list(zip(*cols))


class Sleigh(concurrent.futures.Executor):
    """A set of worker processes that run Python functions in parallel.

    Options (keywords; the original's names):

    - ``workerCount`` (3): workers to start on this machine (``launch='local'``).
    - ``launch`` (``'local'``): or a function such as ``sshcmd`` giving the
      command prefix that runs a worker on a host; then ``nodeList`` lists
      the hosts, one worker each.
    - ``nodeList``: hosts for a launch function (default: ``workerCount``
      times ``'localhost'``).
    - ``nwsHost``, ``nwsPort``: the NWS server (default ``NWS_HOST``,
      ``NWS_PORT``, else ``localhost:8765``); ``nwsHostRemote``,
      ``nwsPortRemote``: how workers reach it (default: the same).
    - ``interp``: the Python that runs workers (default ``sys.executable``).
    - ``workingDir``: the workers' working directory (default: the master's).
    - ``modulePath``: directories (``os.pathsep``-separated) put first on the
      workers' ``sys.path``; the master's ``sys.path`` follows.
    - ``logDir``: a directory for one log file per worker (default: workers
      write to the master's stdout/stderr).
    - ``user``: passed to the launch function (``sshcmd``: ``-l user``).
    - ``maxRetries`` (1): re-runs of a task whose worker died.
    - ``wsNameTemplate``, ``userWsNameTemplate``: names of the two
      workspaces (``sleigh_ride_%04d``, ``sleigh_user_%04d``).
    - ``verbose`` (False): debug messages on stderr, master and workers.
    """

    def __init__(self, *deprecated: Any, **kw: Any) -> None:
        if os.environ.get("NWS_SLEIGH_WORKER"):
            raise SleighNotAllowedException(
                "Sleigh construction not allowed (probably accidentally called from a sleigh worker)"
            )
        if len(deprecated) > 1:
            raise TypeError("Sleigh() takes at most 1 positional argument (%d given)" % len(deprecated))
        if deprecated:
            if not isinstance(deprecated[0], list):
                raise TypeError("Sleigh()'s positional argument is the nodeList")
            warnings.warn("nodeList should be passed using the nodeList keyword", stacklevel=2)
            kw.setdefault("nodeList", deprecated[0])
        for k in _IGNORED_OPTIONS:
            if k in kw:
                kw.pop(k)
                warnings.warn("Sleigh option %r has no effect in this version" % k, stacklevel=2)
        unknown = [k for k in kw if k not in defaultSleighOptions]
        if unknown:
            raise TypeError("Sleigh() got an unexpected keyword argument %r" % unknown[0])
        opts = dict(defaultSleighOptions)
        opts.update(kw)
        opts["nwsHost"] = opts["nwsHost"] or _default_host()
        opts["nwsPort"] = int(opts["nwsPort"] or _default_port())
        opts["nwsHostRemote"] = opts["nwsHostRemote"] or opts["nwsHost"]
        opts["nwsPortRemote"] = int(opts["nwsPortRemote"] or opts["nwsPort"])
        if opts["workingDir"] is None:
            opts["workingDir"] = os.getcwd()
        retries = opts["maxRetries"]
        if not isinstance(retries, int) or retries < 0:
            raise SleighIllegalValueException("maxRetries must be an integer >= 0, not %r" % (retries,))
        launch = opts["launch"]
        if launch == "local":
            count = opts["workerCount"]
            if not isinstance(count, int) or count < 1:
                raise SleighIllegalValueException("workerCount must be an integer >= 1, not %r" % (count,))
            nodes = ["localhost"] * count
        elif callable(launch):
            nodes = opts["nodeList"]
            if nodes is None:
                nodes = ["localhost"] * int(opts["workerCount"])
            nodes = [str(x) for x in nodes]
            if not nodes:
                raise SleighIllegalValueException("nodeList is empty: a sleigh needs at least one worker")
        else:
            raise SleighIllegalValueException("unknown launch protocol: %r (use 'local' or a function such as sshcmd)" % (launch,))
        opts["nodeList"] = nodes
        opts["workerCount"] = len(nodes)
        self.options = opts
        core = _Core(opts)
        self._core = core
        try:
            core.start(nodes)
        except BaseException:
            core.shutdown()
            raise
        self._finalizer = weakref.finalize(self, core.shutdown)

    # -- the original's attributes

    @property
    def workerCount(self) -> int:
        """The number of workers started."""
        return len(self._core.workers)

    @property
    def nodeList(self) -> List[str]:
        """The node of each worker, by rank."""
        return [w.node for _, w in sorted(self._core.workers.items())]

    @property
    def nws(self) -> NetWorkSpace:
        """The sleigh workspace (tasks, results, worker info)."""
        return self._core.ws

    @property
    def nwsName(self) -> str:
        return self._core.ws_name

    @property
    def userNws(self) -> NetWorkSpace:
        """The user workspace: ``SleighUserNws`` in the workers."""
        return self._core.user

    @property
    def userNwsName(self) -> str:
        return self._core.user_name

    @property
    def stopped(self) -> bool:
        return self._core.stopped

    def __str__(self) -> str:
        return "Sleigh [%s] on nodes: %s" % (self.nwsName, " ".join(self.nodeList))

    def __repr__(self) -> str:
        core = self._core
        return "<Sleigh %s: %d workers, %d alive%s>" % (
            core.ws_name,
            len(core.workers),
            core.live_workers(),
            ", stopped" if core.stopped else "",
        )

    def __reduce__(self) -> Any:
        raise TypeError("a Sleigh cannot be sent to its workers (use SleighUserNws to share data)")

    # -- running tasks

    def _check_call(self) -> None:
        core = self._core
        if core.stopped:
            raise SleighStoppedException("sleigh is stopped")
        if core.occupied is not None:
            raise SleighOccupiedException("sleigh is occupied: wait() for the pending eachElem/eachWorker first")

    def eachWorker(self, fun: Callable[..., Any], *workerArgs: Any, **kw: Any) -> Any:
        """Runs ``fun(*workerArgs)`` once on each worker; returns the
        results in rank order (one per live worker).

        Keywords: ``blocking`` (True; False returns a ``SleighPending``),
        ``errors`` (``'raise'``: a failure raises ``SleighTaskException``;
        ``'value'``: it is the result of that worker). Typical use:
        initialising workers (imports, data, ``global`` state).
        """
        blocking = bool(kw.pop("blocking", True))
        errors = kw.pop("errors", "raise")
        kw.pop("type", None)
        if kw:
            raise TypeError("eachWorker() got an unexpected keyword argument %r" % next(iter(kw)))
        if not callable(fun):
            raise SleighIllegalValueException("fun must be callable, not %s" % type(fun).__name__)
        if errors not in ("raise", "value"):
            raise SleighIllegalValueException("errors must be 'raise' or 'value', not %r" % (errors,))
        core = self._core
        self._check_call()
        with core.lock:
            ranks = sorted(r for r, w in core.workers.items() if w.alive)
            job = _WorkerJob(core, core.new_job_id(), ranks, errors)
        core.begin(job, ("W", fun, tuple(workerArgs), None))
        if not blocking:
            core.occupied = job
            return SleighPending(self, job)
        return core.wait(job)

    def eachElem(self, fun: Callable[..., Any], elementArgs: Any = [[]], fixedArgs: Any = [], **kw: Any) -> Any:
        """Calls ``fun`` once per element; returns the results in element
        order (spec/sleigh.md#arguments).

        ``elementArgs``: one iterable (one varying argument), or a list of
        iterables (several: ``eachElem(f, [[1,2,3],[11,12,13]], [99])``
        calls ``f(1,11,99)``, ``f(2,12,99)``, ``f(3,13,99)``). They must
        have the same length, except that one of length 1 is used for every
        task. ``fixedArgs``: arguments appended to every call (a non-list
        is one argument).

        Keywords:

        - ``argPermute``: indices into (varying + fixed arguments) giving
          the order the function takes them in (``[1, 2, 0]``).
        - ``blocking`` (True): False returns a ``SleighPending``.
        - ``chunkSize``: elements per task message; default automatic
          (grows while tasks are short, keeps every worker busy to the end).
        - ``loadFactor``: at most ``loadFactor * workerCount`` task messages
          queued at a time.
        - ``errors`` (``'raise'``): a task that raises makes the call raise
          ``SleighTaskException`` with the worker's traceback; ``'value'``
          puts that exception in the task's place and runs the rest.
        - ``maxRetries``: re-runs of a task whose worker died (default: the
          sleigh's, 1).
        - ``progress`` (False): show a progress bar (tqdm if installed).
        """
        argPermute = kw.pop("argPermute", None)
        blocking = bool(kw.pop("blocking", True))
        chunk = kw.pop("chunkSize", None)
        load = kw.pop("loadFactor", None)
        errors = kw.pop("errors", "raise")
        retries = kw.pop("maxRetries", None)
        progress = bool(kw.pop("progress", False))
        kw.pop("type", None)
        if kw:
            raise TypeError("eachElem() got an unexpected keyword argument %r" % next(iter(kw)))
        if not callable(fun):
            raise SleighIllegalValueException("fun must be callable, not %s" % type(fun).__name__)
        if errors not in ("raise", "value"):
            raise SleighIllegalValueException("errors must be 'raise' or 'value', not %r" % (errors,))
        if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
            raise SleighIllegalValueException("chunkSize must be an integer >= 1, not %r" % (chunk,))
        if load is not None and (not isinstance(load, (int, float)) or load <= 0):
            raise SleighIllegalValueException("loadFactor must be a number > 0, not %r" % (load,))
        if retries is None:
            retries = self.options["maxRetries"]
        if not isinstance(retries, int) or retries < 0:
            raise SleighIllegalValueException("maxRetries must be an integer >= 0, not %r" % (retries,))
        elements = _elements(elementArgs)
        fixed = tuple(fixedArgs) if isinstance(fixedArgs, list) else (fixedArgs,)
        permute = None
        if argPermute is not None:
            if not isinstance(argPermute, (list, tuple)):
                raise SleighIllegalValueException("argPermute must be a list")
            nargs = (len(elements[0]) if elements else 0) + len(fixed)
            permute = tuple(argPermute)
            for p in permute:
                if not isinstance(p, int) or not (0 <= p < nargs or not elements):
                    raise SleighIllegalValueException(
                        "argPermute entries must be indices of the %d arguments, not %r" % (nargs, p)
                    )
        core = self._core
        self._check_call()
        with core.lock:
            job = _ElemJob(core, core.new_job_id(), elements, errors, retries, chunk, load)
        if elements:
            core.begin(job, ("E", fun, fixed, permute))
        else:
            with core.lock:
                job.finished = True
        if not blocking:
            core.occupied = job
            return SleighPending(self, job)
        return core.wait(job, progress=progress)

    # -- concurrent.futures.Executor

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Schedules ``fn(*args, **kwargs)`` on a worker; returns a
        ``Future``. Exceptions come back from ``Future.result()`` as raised
        (the worker's traceback is their ``__cause__``)."""
        core = self._core
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with core.lock:
            if core.stopped:
                raise RuntimeError("cannot schedule new futures after shutdown")
            core.check_usable()
            job = core.call_job
            if job is None or job.id not in core.jobs:
                job = core.call_job = _CallJob(core, core.new_job_id(), self.options["maxRetries"])
                core.begin(job, ("K", None, (), None))
            try:
                payload = _dumps([(fn, args, kwargs)], "the call")
            except SleighIllegalValueException as e:
                fut.set_exception(e)
                return fut
            key = job.add(fut, (fn, args, kwargs))
            env = ("K", job.id, key[0], 1, payload)
            core.queued[(job.id, key[0], 1)] = env
            core.ws.store(TASK, env)
        return fut

    def map(  # type: ignore[override]
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """``concurrent.futures.Executor.map``: ``fn`` over the zipped
        iterables (stopping at the shortest), results in order, lazily;
        an exception is raised when its result is reached. ``chunksize=1``
        (the default) chunks automatically; larger values fix it."""
        core = self._core
        if core.stopped:
            raise RuntimeError("cannot schedule new futures after shutdown")
        elements = list(zip(*iterables))
        with core.lock:
            job = _ElemJob(core, core.new_job_id(), elements, "value", self.options["maxRetries"],
                           chunksize if chunksize > 1 else None, None)
        if elements:
            core.begin(job, ("E", fn, (), None))
        else:
            job.finished = True
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._map_results(job, deadline)

    def _map_results(self, job: _ElemJob, deadline: Optional[float]) -> Iterator[Any]:
        core = self._core
        try:
            for i in range(job.n):
                with core.lock:
                    while job.results[i] is _MISSING:
                        if job.finished:
                            if job.error is not None:
                                raise job.error
                            break
                        step = 1.0
                        if deadline is not None:
                            step = deadline - time.monotonic()
                            if step <= 0:
                                raise concurrent.futures.TimeoutError()
                        job.cond.wait(min(step, 1.0))
                    value = job.results[i]
                if isinstance(value, SleighTaskException):
                    if value.exception is not None:
                        raise value.exception from SleighRemoteTraceback(value.traceback)
                    raise value
                yield value
        finally:
            with core.lock:
                if not job.finished:
                    job.finish(SleighStoppedException("map abandoned"))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Executor.shutdown: waits for submitted calls (unless
        ``wait=False``), then ``stop()``."""
        core = self._core
        job = core.call_job
        if job is not None:
            with core.lock:
                futs = list(job.futures.values())
            if cancel_futures:
                for f in futs:
                    if f.cancel():
                        f.set_running_or_notify_cancel()
            if wait:
                concurrent.futures.wait(futs)
        self.stop()

    # -- the rest of the original's API

    def stop(self) -> None:
        """Stops the workers and deletes the sleigh's workspaces. Pending
        calls fail with ``SleighStoppedException``. Idempotent."""
        self._finalizer()

    def status(self, closeGroup: bool = False, timeout: float = 0.0) -> Tuple[int, int]:
        """``(workers that have joined, 1 if all have)``, waiting up to
        ``timeout`` seconds for all of them to join."""
        deadline = time.monotonic() + timeout
        while True:
            n = len(self.workerInfo())
            if n >= self.workerCount or time.monotonic() >= deadline:
                return n, int(n >= self.workerCount)
            time.sleep(0.05)

    def workerInfo(self) -> List[Dict[str, Any]]:
        """One dict per worker that has joined (``rank``, ``host``, ``pid``,
        ``python``, ``os``, ``name``, ``logfile``), by rank; ``alive``
        tells whether the master still counts it."""
        core = self._core
        info = [dict(x) for x in core.ws.ifindTry(WORKER_INFO)]
        for x in info:
            rank = x.get("rank")
            w = core.workers.get(rank) if isinstance(rank, int) else None
            x["alive"] = bool(w and w.alive)
        return sorted(info, key=lambda x: x.get("rank", 0))

