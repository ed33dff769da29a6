"""Starts target/release/nws-server for the legacy-protocol tests."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("NWS_SERVER_BIN", ROOT / "target" / "release" / "nws-server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class Server:
    """One nws-server process on free ports; `port` speaks both protocols
    (unless started with --no-legacy), `legacy_port` only the original one."""

    def __init__(self, *args):
        self.log = tempfile.NamedTemporaryFile(prefix="nws-legacy-test-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(BINARY), "--port", "0", "--no-web", "--log-level", "info", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.port = self.legacy_port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            text = Path(self.log.name).read_text(errors="replace")
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                l = re.search(r"original NWS protocol only on 127\.0\.0\.1:(\d+)", text)
                if "--legacy-port" not in args or l:
                    self.legacy_port = int(l.group(1)) if l else None
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nws-server did not start:\n{Path(self.log.name).read_text()}")

    def logs(self):
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not built: cargo build --release -p nws-server")
    s = Server()
    yield s
    s.stop()
    os.unlink(s.log.name)


@pytest.fixture
def make_server():
    """Factory for servers with their own flags, stopped after the test."""
    started = []

    def make(*args):
        s = Server(*args)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
        os.unlink(s.log.name)
