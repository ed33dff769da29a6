"""Python API for NetWorkSpaces (NWS): the original ``nws.client`` interface.

A server holds named *workspaces*; a workspace holds named *variables*; a
variable holds a queue of *values*. Programs ``store`` values, ``fetch``
them (consume; waits while the variable is empty: "please hold"), ``find``
them (read without consuming) and iterate over them::

    >>> from nws.client import NetWorkSpace
    >>> ws = NetWorkSpace('test')
    >>> ws.store('answer', 42)
    >>> ws.fetch('answer')
    42

Programs written for the original client run unchanged after the usual
Python 3 changes. New code may use the snake_case aliases (``fetch_try``,
``list_vars``, ...), ``timeout=`` on blocking calls, and ``with`` blocks.

Values: a ``str`` travels as text (R and Rust read it as their string
type), ``bytes`` as raw bytes, an ``NwsBlob(codec, data)`` as bytes tagged
with another serializer, and everything else is pickled (highest protocol,
codec ``python/pickle``). A value Python cannot decode raises
``NwsUnpicklingException``, which keeps it (``.obj``, ``.codec``).
Unpickling runs code chosen by whoever stored the value: share a server
only among trusted programs.

Blocking calls release the GIL and can be interrupted with Ctrl-C (the
request is withdrawn; no value is lost). One ``NwsServer`` is one session;
any number of threads may use it (and its workspaces) at once. After
``os.fork()`` a child may keep using objects it inherited: they open a
session of the child's own on first use.

Server address: ``serverHost``/``port`` arguments, else the environment
variables ``NWS_HOST`` and ``NWS_PORT``, else ``localhost:8765``.
"""

from __future__ import annotations

import atexit
import os
import platform
import socket
import sys
import threading
import weakref
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple, Union

from nws import _nws
from nws._exceptions import (
    NwsConnectException,
    NwsConnectionDroppedException,
    NwsDeclarationFailedException,
    NwsException,
    NwsNoWorkSpaceException,
    NwsOperationException,
    NwsPicklingException,
    NwsServerException,
    NwsTimeoutException,
    NwsUnpicklingException,
    NwsUnsupportedMethodException,
    NwsUnsupportedOperationException,
)

__all__ = [
    "NwsServer",
    "NetWorkSpace",
    "NwsValueIterator",
    "NwsTextFile",
    "NwsBlob",
    "NwsLease",
    "NwsException",
    "NwsServerException",
    "NwsConnectException",
    "NwsConnectionDroppedException",
    "NwsUnsupportedOperationException",
    "NwsOperationException",
    "NwsNoWorkSpaceException",
    "NwsDeclarationFailedException",
    "NwsTimeoutException",
    "NwsPicklingException",
    "NwsUnpicklingException",
    "NwsUnsupportedMethodException",
    "FIFO",
    "LIFO",
    "MULTI",
    "SINGLE",
    "STRING",
    "DICT",
    "NWS_PORT",
    "WS_NAME",
    "WS_MINE",
    "WS_OWNER",
    "WS_PERSISTENT",
    "WS_NUMVARS",
    "WS_VARLIST",
    "V_VARIABLE",
    "V_VALUES",
    "V_FETCHERS",
    "V_FINDERS",
    "V_MODE",
]

#: The default server port (the original's).
NWS_PORT = 8765

#: Variable modes (``declare``).
FIFO = "fifo"
LIFO = "lifo"
MULTI = "multi"
SINGLE = "single"

#: Listing formats (``listVars``, ``listWss``).
STRING = "string"
DICT = "dict"

#: Field indices of a ``listWss(format=DICT)`` entry.
WS_NAME = 0
WS_MINE = 1
WS_OWNER = 2
WS_PERSISTENT = 3
WS_NUMVARS = 4
WS_VARLIST = 5

#: Field indices of a ``listVars(format=DICT)`` entry.
V_VARIABLE = 0
V_VALUES = 1
V_FETCHERS = 2
V_FINDERS = 3
V_MODE = 4

#: A value tagged with a codec: ``NwsBlob(codec, data)``. Store one to send
#: bytes written by another serializer (``NwsBlob('json', b'[1, 2]')``); an
#: ``NwsUnpicklingException`` carries a value Python could not decode as
#: one (``exc.value``).
NwsBlob = _nws.Blob

#: The claim on a value taken by ``NetWorkSpace.fetchLeased``: ``ack()``
#: consumes it, ``release()`` gives it back; ``id`` and ``settled`` describe
#: it. Unsettled leases are released when dropped or when the session ends.
NwsLease = _nws.Lease

_MODES = (FIFO, LIFO, MULTI, SINGLE)
_FORMATS = (STRING, DICT)

_LABEL = "python %s nws %s" % (platform.python_version(), _nws.__version__)


def _hostname() -> str:
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


def _default_host() -> str:
    return os.environ.get("NWS_HOST", "").strip() or "localhost"


def _default_port() -> int:
    p = os.environ.get("NWS_PORT", "").strip()
    try:
        return int(p) if p else NWS_PORT
    except ValueError:
        raise ValueError("NWS_PORT must be a port number, not %r" % p) from None


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError("%s must be a string, not %s" % (what, type(name).__name__))
    return name


def _check_format(format: Any) -> str:
    if format not in _FORMATS:
        raise ValueError("illegal format: %r (use STRING or DICT)" % (format,))
    return str(format)


# --- closing sessions at exit ---------------------------------------------
#
# Fetched values are acknowledged on receipt; closing a session first sends
# what is queued, so values a program received stay consumed when it exits.
# Normal exits run atexit; multiprocessing children leave through os._exit
# after running multiprocessing's finalizers, so a finalizer is registered
# there too (and again in each forked multiprocessing child).

_servers: "weakref.WeakSet[NwsServer]" = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_pid = 0


def _close_all() -> None:
    for server in list(_servers):
        try:
            server.close()
        except BaseException:
            pass


class _ExitHooks:
    """Anchor for multiprocessing's after-fork and finalizer registries."""

    def install(self) -> None:
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.Finalize(self, _close_all, exitpriority=100)
            mp_util.register_after_fork(self, _ExitHooks.install)


_exit_hooks = _ExitHooks()


def _track(server: "NwsServer") -> None:
    global _hooks_pid
    _servers.add(server)
    pid = os.getpid()
    if _hooks_pid != pid:
        with _hooks_lock:
            if _hooks_pid != pid:
                if _hooks_pid == 0:
                    atexit.register(_close_all)
                _exit_hooks.install()
                _hooks_pid = pid


# --- the server ------------------------------------------------------------


def _address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host  # a bare IPv6 address
    return "%s:%d" % (host, port)


class NwsServer:
    """A session with an NWS server: workspace-level operations.

    ``NwsServer(host='localhost', port=8765)`` connects (raising
    ``NwsConnectException`` if it cannot). Variable operations go through
    the ``NetWorkSpace`` objects its ``openWs``/``useWs`` return, which share
    this session. Closing the session (``close()``, leaving a ``with``
    block, or process exit) makes the server delete the non-persistent
    workspaces it owns.
    """

    def __init__(
        self,
        host: Optional[str] = None,
        port: Optional[int] = None,
        connopts: Optional[Dict[str, str]] = None,
    ) -> None:
        if connopts and any(k.lower().startswith("ssl") for k in connopts):
            raise NwsConnectException("SSL connection options are not supported by this client")
        self.serverHost: str = host if host else _default_host()
        self.serverPort: int = int(port) if port else _default_port()
        self._session = _nws.Session(
            _address(self.serverHost, self.serverPort), _LABEL, _hostname()
        )
        _track(self)

    # -- workspaces --

    def openWs(
        self,
        wsName: str,
        space: Optional["NetWorkSpace"] = None,
        persistent: bool = False,
        create: bool = True,
    ) -> "NetWorkSpace":
        """Open the workspace ``wsName`` and return a NetWorkSpace for it.

        Creates it unless ``create=False`` (then ``NwsNoWorkSpaceException``
        if missing); this session becomes its owner if it has none, and
        ``persistent=True`` makes it outlive its owner's session.
        """
        _check_name(wsName, "workspace name")
        if space is not None and space.currentWs() != wsName:
            raise ValueError("name of the specified workspace is incorrect")
        return NetWorkSpace(wsName, server=self, persistent=persistent, create=create)

    def useWs(
        self,
        wsName: str,
        space: Optional["NetWorkSpace"] = None,
        create: bool = True,
        persistent: bool = False,
    ) -> "NetWorkSpace":
        """Use the workspace ``wsName`` without ever owning it."""
        _check_name(wsName, "workspace name")
        if space is not None and space.currentWs() != wsName:
            raise ValueError("name of the specified workspace is incorrect")
        return NetWorkSpace(
            wsName, server=self, useUse=True, persistent=persistent, create=create
        )

    def mktempWs(self, wsName: str = "__pyws__%d", persistent: bool = False) -> str:
        """Create a workspace with a unique name made from the template
        ``wsName`` (``%d`` becomes a server counter) and return the name.

        This session owns it (so it is deleted when the session ends)
        unless ``persistent=True``. Open it with ``openWs(name)``.
        """
        _check_name(wsName, "workspace name")
        name: str = self._session.mktemp_ws(wsName, persistent).name
        return name

    def deleteWs(self, wsName: str) -> None:
        """Delete the workspace ``wsName``; calls waiting on it fail with
        ``NwsNoWorkSpaceException`` (iterators end)."""
        self._session.delete_ws(_check_name(wsName, "workspace name"))

    def listWss(self, format: str = STRING) -> Union[str, Dict[str, Tuple[Any, ...]]]:
        """List every workspace on the server.

        ``STRING`` (default): one line per workspace, ending in a newline,
        of tab-separated fields: the name prefixed by ``>`` if this session
        owns it (else a space), the owner, persistent (``True``/``False``),
        the number of variables, and their names separated by commas.
        ``DICT``: ``{name: (name, mine, owner, persistent, nvars, [vars])}``
        (see ``WS_NAME`` ... ``WS_VARLIST``).
        """
        _check_format(format)
        rows = self._session.list_wss()
        if format == DICT:
            return {r[0]: (r[0], r[1], r[2], r[3], r[4], list(r[5])) for r in rows}
        return "".join(
            "%s%s\t%s\t%s\t%d\t%s\n" % (">" if mine else " ", name, owner, persistent, n, ",".join(vs))
            for (name, mine, owner, persistent, n, vs) in rows
        )

    def close(self) -> None:
        """End the session. Queued acknowledgements go out first; the
        server then deletes the non-persistent workspaces this session
        owns. Idempotent."""
        self._session.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._session.closed

    def serverInfo(self) -> Dict[str, Any]:
        """Facts from the server's greeting: implementation, protocol
        version, session id and size limits."""
        server, version, session_id, max_chunk, max_value = self._session.info()
        return {
            "server": server,
            "protocol_version": version,
            "session_id": session_id,
            "max_chunk_size": max_chunk,
            "max_value_size": max_value,
        }

    def get_protocol_version(self) -> str:
        """The protocol spoken: ``'nws.v1'``."""
        return "nws.v1"

    # -- Python conveniences --

    def __enter__(self) -> "NwsServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Any:
        # A copy in another process opens a session of its own.
        return (NwsServer, (self.serverHost, self.serverPort))

    def __str__(self) -> str:
        return "NwsServer %s:%d" % (self.serverHost, self.serverPort)

    def __repr__(self) -> str:
        return "<NwsServer %s:%d%s>" % (
            self.serverHost,
            self.serverPort,
            " closed" if self.closed else "",
        )

    # -- snake_case aliases --
    open_ws = openWs
    use_ws = useWs
    mktemp_ws = mktempWs
    delete_ws = deleteWs
    list_wss = listWss
    server_info = serverInfo


# --- workspaces ------------------------------------------------------------


def _reopen(
    wsName: str, host: str, port: int, useUse: bool, persistent: bool, create: bool
) -> "NetWorkSpace":
    return NetWorkSpace(wsName, host, port, useUse=useUse, persistent=persistent, create=create)


class NetWorkSpace:
    """A workspace on an NWS server: store, fetch, find, iterate.

    ``NetWorkSpace(wsName, serverHost, port)`` connects (a session of its
    own, ``self.server``) and opens ``wsName``, creating it if missing and
    becoming its owner if it has none; the owner's session end deletes a
    non-persistent workspace. ``useUse=True`` uses it without ever owning
    it; ``persistent=True`` makes it outlive its owner; ``create=False``
    raises ``NwsNoWorkSpaceException`` instead of creating it. Pass
    ``server=`` to share an ``NwsServer``'s session.

    Blocking calls (``fetch``, ``find``, iterators) wait as long as needed,
    or at most ``timeout`` seconds (``NwsTimeoutException``, nothing
    consumed).
    """

    def __init__(
        self,
        wsName: str = "__default",
        serverHost: Optional[str] = None,
        port: Optional[int] = None,
        useUse: bool = False,
        server: Optional[NwsServer] = None,
        persistent: bool = False,
        create: bool = True,
        *,
        serverPort: Optional[int] = None,
        connopts: Optional[Dict[str, str]] = None,
    ) -> None:
        _check_name(wsName, "workspace name")
        self.curWs: str = wsName
        self._useUse = bool(useUse)
        self._persistent = bool(persistent)
        self._create = bool(create)
        own = server is None
        if server is None:
            server = NwsServer(serverHost, port if port is not None else serverPort, connopts)
        self.server: NwsServer = server
        try:
            self._ws = server._session.open_ws(wsName, self._useUse, not self._create, self._persistent)
        except BaseException:
            if own:
                try:
                    server.close()
                except BaseException:
                    pass
            raise

    def currentWs(self) -> str:
        """The name of this workspace."""
        return self.curWs

    @property
    def owned(self) -> bool:
        """Whether this session owned the workspace when it was opened."""
        return self._ws.owned

    # -- variables --

    def declare(self, varName: str, mode: str) -> None:
        """Create ``varName`` with ``mode`` (FIFO, LIFO, MULTI or SINGLE),
        or check that it has it (``NwsDeclarationFailedException`` if it
        has another). A variable created by ``store`` is FIFO."""
        if mode not in _MODES:
            raise ValueError("illegal mode: %r" % (mode,))
        self._ws.declare(varName, mode)

    def store(self, varName: str, val: Any) -> None:
        """Add ``val`` to the variable ``varName`` (created FIFO if missing)."""
        self._ws.store(varName, val)

    def fetch(self, varName: str, timeout: Optional[float] = None) -> Any:
        """Remove and return a value of ``varName``, waiting while it has
        none (at most ``timeout`` seconds)."""
        return self._ws.fetch(varName, timeout)

    def fetchTry(self, varName: str, missing: Any = None) -> Any:
        """Remove and return a value of ``varName``, or ``missing`` if it
        has none."""
        return self._ws.fetch_try(varName, missing)

    def fetchLeased(self, varName: str, timeout: Optional[float] = None) -> Tuple[Any, "NwsLease"]:
        """Take a value of ``varName`` under a lease, waiting while it has
        none (at most ``timeout`` seconds): returns ``(value, lease)``.

        The value has left the variable but is consumed only by
        ``lease.ack()``; ``lease.release()``, dropping the lease, or the
        end of this session (a crash included) give it back to the
        variable as if it had never been fetched (spec/leases.md). ``with
        lease:`` acknowledges at the end of the block, or releases if the
        block raises. A value that cannot be decoded is consumed and
        raises ``NwsUnpicklingException``, as with ``fetch``.
        """
        return self._ws.fetch_leased(varName, timeout)

    def fetchTryLeased(self, varName: str, missing: Any = None) -> Any:
        """Like ``fetchLeased`` without waiting: ``(value, lease)``, or
        ``missing`` if ``varName`` has no value."""
        got = self._ws.fetch_try_leased(varName)
        return missing if got is None else got

    def storeMany(self, varName: str, values: Any) -> None:
        """Store each value of the iterable ``values`` in ``varName``, in
        order, in one pipelined batch (one wait for all the replies)."""
        self._ws.store_many(varName, values)

    def find(self, varName: str, timeout: Optional[float] = None) -> Any:
        """Return a value of ``varName`` without removing it, waiting while
        it has none (at most ``timeout`` seconds)."""
        return self._ws.find(varName, timeout)

    def findTry(self, varName: str, missing: Any = None) -> Any:
        """Return a value of ``varName`` without removing it, or
        ``missing`` if it has none."""
        return self._ws.find_try(varName, missing)

    def deleteVar(self, varName: str) -> None:
        """Delete ``varName`` and its values. Waiting fetches and finds on
        it fail (``NwsOperationException``, reason ``VARIABLE_DELETED``);
        iterators over it end."""
        self._ws.delete_var(varName)

    def listVars(
        self, wsName: Optional[str] = None, format: str = STRING
    ) -> Union[str, Dict[str, Tuple[Any, ...]]]:
        """List the variables of this workspace (or of ``wsName``).

        ``STRING`` (default): one line per variable, joined by newlines, of
        tab-separated fields: name, number of values, waiting fetchers,
        waiting finders, mode. ``DICT``: ``{name: (name, values, fetchers,
        finders, mode)}`` (see ``V_VARIABLE`` ... ``V_MODE``).
        """
        if wsName is not None:
            _check_name(wsName, "workspace name")
        _check_format(format)
        rows = self._ws.list_vars(wsName or None)
        if format == DICT:
            return {r[0]: tuple(r) for r in rows}
        return "\n".join("%s\t%d\t%d\t%d\t%s" % r for r in rows)

    # -- iterators --

    def ifetch(self, varName: str, timeout: Optional[float] = None) -> "NwsValueIterator":
        """An iterator that fetches the values of ``varName`` one by one,
        waiting for more when it is empty; it ends when the variable is
        deleted. FIFO and SINGLE variables only."""
        return NwsValueIterator(self._ws.iterate(varName, "ifetch", timeout))

    def ifetchTry(self, varName: str) -> "NwsValueIterator":
        """An iterator that fetches the values of ``varName`` until it is
        empty."""
        return NwsValueIterator(self._ws.iterate(varName, "ifetchTry"))

    def ifind(self, varName: str, timeout: Optional[float] = None) -> "NwsValueIterator":
        """An iterator over every value of ``varName``, in order, without
        consuming them; it waits for new values and ends when the variable
        is deleted. FIFO and SINGLE variables only."""
        return NwsValueIterator(self._ws.iterate(varName, "ifind", timeout))

    def ifindTry(self, varName: str) -> "NwsValueIterator":
        """An iterator over the values of ``varName`` not seen yet, without
        consuming them; it ends when none is left (``restart()`` it later
        to see newer ones)."""
        return NwsValueIterator(self._ws.iterate(varName, "ifindTry"))

    # -- values as files --

    def _retrieve_to(self, varName: str, fobj: IO[bytes], fetch: bool, try_only: bool) -> int:
        data = self._ws.retrieve_bytes(varName, fetch, try_only)
        if data is None:
            return 0
        fobj.write(data)
        return len(data)

    def fetchFile(self, varName: str, fobj: IO[bytes]) -> int:
        """Fetch a value and write its bytes to the binary file ``fobj``;
        returns the number of bytes written."""
        return self._retrieve_to(varName, fobj, True, False)

    def fetchTryFile(self, varName: str, fobj: IO[bytes]) -> int:
        """As ``fetchFile``, but 0 at once if there is no value."""
        return self._retrieve_to(varName, fobj, True, True)

    def findFile(self, varName: str, fobj: IO[bytes]) -> int:
        """Find a value and write its bytes to the binary file ``fobj``."""
        return self._retrieve_to(varName, fobj, False, False)

    def findTryFile(self, varName: str, fobj: IO[bytes]) -> int:
        """As ``findFile``, but 0 at once if there is no value."""
        return self._retrieve_to(varName, fobj, False, True)

    def storeFile(self, varName: str, fobj: IO[bytes], n: int = 0) -> int:
        """Store up to ``n`` bytes (0: all) read from the binary file
        ``fobj`` as one raw value; returns the number of bytes stored (0,
        and nothing stored, at the end of the file)."""
        data = fobj.read() if n <= 0 else fobj.read(n)
        if not data:
            return 0
        if isinstance(data, str):
            raise TypeError("fobj must be a binary mode file object opened for reading")
        self._ws.store(varName, bytes(data))
        return len(data)

    def makefile(self, varName: str, mode: str = "r") -> "NwsTextFile":
        """A text file on the variable ``varName``: mode ``'r'`` reads its
        lines (strings stored as values), ``'w'`` replaces it, ``'a'``
        appends one value per written line."""
        if mode in ("r", "w", "a"):
            return NwsTextFile(self, varName, mode)
        if mode in ("rb", "wb", "ab"):
            raise ValueError("mode %r is not supported yet" % mode)
        raise ValueError("illegal mode specified: %r" % mode)

    # -- session --

    def close(self) -> None:
        """Close the session this workspace uses (``self.server``)."""
        self.server.close()

    def __enter__(self) -> "NetWorkSpace":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Any:
        # A copy in another process opens a session of its own.
        return (
            _reopen,
            (
                self.curWs,
                self.server.serverHost,
                self.server.serverPort,
                self._useUse,
                self._persistent,
                self._create,
            ),
        )

    def __str__(self) -> str:
        return "NetWorkspace '%s' [%s]" % (self.curWs, self.server)

    def __repr__(self) -> str:
        return "<NetWorkSpace %r on %s:%d>" % (
            self.curWs,
            self.server.serverHost,
            self.server.serverPort,
        )

    # -- snake_case aliases --
    current_ws = currentWs
    fetch_try = fetchTry
    fetch_leased = fetchLeased
    fetch_try_leased = fetchTryLeased
    store_many = storeMany
    find_try = findTry
    delete_var = deleteVar
    list_vars = listVars
    ifetch_try = ifetchTry
    ifind_try = ifindTry
    fetch_file = fetchFile
    fetch_try_file = fetchTryFile
    find_file = findFile
    find_try_file = findTryFile
    store_file = storeFile


class NwsValueIterator:
    """The values of one variable (``ifetch``, ``ifetchTry``, ``ifind``,
    ``ifindTry``), one request per step.

    Once ended it keeps raising ``StopIteration`` until ``restart()``
    (continue after the last value seen: useful with the Try kinds to pick
    up values stored since) or ``reset()`` (start over from the first
    value). An error (e.g. ``ITERATOR_MODE`` on a LIFO or MULTI variable)
    raises instead of ending the iteration.
    """

    __slots__ = ("_it",)

    def __init__(self, it: "_nws.ValueIter") -> None:
        self._it = it

    def __iter__(self) -> "NwsValueIterator":
        return self

    def __next__(self) -> Any:
        return next(self._it)

    next = __next__

    def restart(self) -> None:
        """Let an ended iterator continue where it left off."""
        self._it.restart()

    def reset(self) -> None:
        """Start over from the first value of the variable."""
        self._it.reset()

    def writeTo(self, fobj: IO[bytes]) -> int:
        """Write the next value's bytes to the binary file ``fobj``;
        returns the number of bytes written, 0 at the end."""
        data = self._it.next_bytes()
        if data is None:
            return 0
        fobj.write(data)
        return len(data)

    write_to = writeTo


class NwsTextFile:
    """A text file view of a variable (``NetWorkSpace.makefile``): each
    line is one string value."""

    def __init__(self, ws: NetWorkSpace, varName: str, mode: str) -> None:
        if mode not in ("r", "w", "a"):
            raise ValueError("illegal mode specified: %r" % mode)
        self._ws = ws
        self._varName = varName
        self._wbuffer: List[str] = []
        self._rbuffer = ""
        self.closed = False
        self.mode = mode
        self.name = varName
        if mode == "w":
            ws.deleteVar(varName)
        if mode == "r":
            self._it = ws.ifindTry(varName)
        else:
            ws.declare(varName, FIFO)

    def __iter__(self) -> Iterator[str]:
        if self.mode != "r":
            raise ValueError("iteration not allowed in mode %r" % self.mode)
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def __enter__(self) -> "NwsTextFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<%s nws file %r, mode %r>" % (
            "closed" if self.closed else "open",
            self.name,
            self.mode,
        )

    def _check(self, reading: bool) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if reading and self.mode != "r":
            raise ValueError("read operation not allowed in mode %r" % self.mode)
        if not reading and self.mode == "r":
            raise ValueError("write operation not allowed in mode %r" % self.mode)

    def _next_value(self) -> Optional[str]:
        try:
            x = next(self._it)
        except StopIteration:
            return None
        if not isinstance(x, str):
            raise ValueError("read a non-string from %r: %r" % (self, x))
        return x

    def read(self, n: int = -1) -> str:
        self._check(True)
        parts = [self._rbuffer]
        have = len(self._rbuffer)
        while n < 0 or have < n:
            x = self._next_value()
            if x is None:
                break
            parts.append(x)
            have += len(x)
        data = "".join(parts)
        if n < 0:
            self._rbuffer = ""
            return data
        self._rbuffer = data[n:]
        return data[:n]

    def readline(self) -> str:
        self._check(True)
        parts = [self._rbuffer]
        x = self._rbuffer
        while not x.endswith("\n"):
            nxt = self._next_value()
            if nxt is None:
                break
            x = nxt
            parts.append(x)
        data = "".join(parts)
        i = data.find("\n")
        if i >= 0 and i + 1 < len(data):
            self._rbuffer = data[i + 1 :]
            return data[: i + 1]
        self._rbuffer = ""
        return data

    def readlines(self) -> List[str]:
        return list(self)

    def write(self, s: str) -> None:
        self._check(False)
        if not s:
            return
        parts = s.split("\n")
        if len(parts) == 1:
            self._wbuffer.append(s)
            return
        self._wbuffer.append(parts[0])
        self._ws.store(self._varName, "".join(self._wbuffer) + "\n")
        for line in parts[1:-1]:
            self._ws.store(self._varName, line + "\n")
        self._wbuffer = [parts[-1]] if parts[-1] else []

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._check(False)
        if self._wbuffer:
            data = "".join(self._wbuffer)
            self._wbuffer = []
            if data:
                self._ws.store(self._varName, data)

    def close(self) -> None:
        if not self.closed:
            try:
                if self.mode != "r":
                    self.flush()
            finally:
                self.closed = True

    def isatty(self) -> bool:
        return False
