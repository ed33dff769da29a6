"""Fixtures: one real nws-server for the whole session, workspaces per test.

The server is the release binary (``target/release/nws-server``, or
``$NWS_SERVER_BIN``) started on a free port (``--port 0``); its log line
``listening on 127.0.0.1:PORT`` tells the port. ``NWS_HOST``/``NWS_PORT``
are set for the tests and the subprocesses they start, so programs using
the defaults reach it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "python"


def _server_binary() -> Path:
    env = os.environ.get("NWS_SERVER_BIN")
    path = Path(env) if env else ROOT / "target" / "release" / "nws-server"
    if not path.exists():
        pytest.exit("nws-server not found at %s: run `cargo build --release -p nws-server`" % path, 2)
    return path


class Server:
    """A running nws-server."""

    def __init__(self, proc: subprocess.Popen, host: str, port: int) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.log: List[str] = []


def start_server(*extra: str) -> Server:
    proc = subprocess.Popen(
        [str(_server_binary()), "--port", "0", "--web-port", "0", "--log-level", "info", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    pattern = re.compile(r"listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = pattern.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            server = Server(proc, m.group(1), int(m.group(2)))

            def drain() -> None:
                for rest in proc.stdout:  # type: ignore[union-attr]
                    server.log.append(rest)

            threading.Thread(target=drain, daemon=True).start()
            return server
    proc.kill()
    raise RuntimeError("nws-server did not start:\n" + "".join(seen))


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def nws_server() -> Iterator[Server]:
    server = start_server()
    old = {k: os.environ.get(k) for k in ("NWS_HOST", "NWS_PORT")}
    os.environ["NWS_HOST"] = server.host
    os.environ["NWS_PORT"] = str(server.port)
    try:
        yield server
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_server(server)


def unique(prefix: str = "t") -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


@pytest.fixture
def wsname(nws_server: Server) -> str:
    return unique()


@pytest.fixture
def ws(nws_server: Server, wsname: str):
    from nws.client import NetWorkSpace

    space = NetWorkSpace(wsname)
    try:
        yield space
    finally:
        space.close()


@pytest.fixture
def other(nws_server: Server):
    """A second session (another "process" as far as the server knows)."""
    from nws.client import NwsServer

    s = NwsServer()
    try:
        yield s
    finally:
        s.close()


def python(
    code_or_path: str,
    *args: str,
    input: Optional[str] = None,
    timeout: float = 60,
    is_file: bool = False,
) -> subprocess.CompletedProcess:
    """Runs Python code (or a file) in a subprocess with the test's server."""
    cmd = [sys.executable, code_or_path, *args] if is_file else [sys.executable, "-c", code_or_path, *args]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def spawn(code_or_path: str, *args: str, is_file: bool = False, **kw) -> subprocess.Popen:
    cmd = [sys.executable, code_or_path, *args] if is_file else [sys.executable, "-c", code_or_path, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ), **kw)
