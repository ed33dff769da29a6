"""The Python babelfish (nws.babelfish): the restricted unpickler, the
rendering, the protocol, and the translator against a real server and its
web UI (spec/babelfish.md)."""

from __future__ import annotations

import collections
import datetime
import decimal
import json
import os
import pickle
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from nws import babelfish
from nws.babelfish import answer, describe, safe_loads, show


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


class Runs:
    """Unpickling this with pickle.loads would run os.system."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker,))


class Evals:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, ("open(%r, 'w').write('pwned')" % self.marker,))


def _getattr_chain(marker: str) -> bytes:
    # getattr(__import__('os'), 'system')('touch marker'), written by hand.
    return (
        b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX\x02\x00\x00\x00os\x85R"
        b"X\x06\x00\x00\x00system\x86R"
        + b"X" + len("touch " + marker).to_bytes(4, "little") + ("touch " + marker).encode()
        + b"\x85R."
    )


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_unpickles_like_pickle_loads(protocol: int) -> None:
    value = {
        "name": "cubes",
        "sizes": [1, 8, 27],
        "nested": {"ok": True, "t": (1, 2.5, None), "s": {3, 1}, "f": frozenset([2])},
        "bytes": b"\x00\xff",
        "big": 2**100,
        "od": collections.OrderedDict(a=1),
        "dd": collections.defaultdict(list, {"k": [1]}),
        "dq": collections.deque([1, 2]),
        "c": collections.Counter("aab"),
        "when": datetime.datetime(2024, 5, 6, 7, 8, 9),
        "d": decimal.Decimal("1.25"),
        "z": 1 + 2j,
        "ba": bytearray(b"xy"),
    }
    assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_a_hostile_pickle_runs_no_code(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    for hostile in (Runs(str(marker)), Evals(str(marker))):
        data = pickle.dumps(hostile, protocol=protocol)
        ok, text = describe(data)
        assert not marker.exists(), text
        assert ok
        # Shown, not run: the call it would make is displayed.
        assert ("system(" in text) or ("eval(" in text), text
    ok, text = describe(_getattr_chain(str(marker)))
    assert not marker.exists()
    assert "builtins.getattr" in text and "touch" in text, text


def test_unknown_classes_become_inert_stand_ins() -> None:
    obj = safe_loads(pickle.dumps(Point(1, [2, 3])))
    assert isinstance(obj, babelfish.Stub)
    assert show(obj) == "test_babelfish.Point(x=1, y=[2, 3])"
    # A stand-in inside plain data.
    assert show(safe_loads(pickle.dumps({"p": Point(0, 0)}))) == "{'p': test_babelfish.Point(x=0, y=0)}"


def test_allocation_tricks_are_refused() -> None:
    # builtins.bytes(10**10) would allocate 10 GB.
    data = b"\x80\x04cbuiltins\nbytes\n\x8a\x05\x00\xe4\x0bT\x02\x85R."
    ok, text = describe(data)
    assert not ok and "refused" in text


def test_rendering_is_bounded_for_exponential_structures() -> None:
    x: list = [1]
    for _ in range(80):
        x = [x, x]
    started = time.monotonic()
    ok, text = describe(pickle.dumps(x), 2000)
    assert ok
    assert time.monotonic() - started < 2
    assert len(text) < 2100 and text.endswith("(cut short)")


def test_cycles_render_as_ellipsis() -> None:
    a: list = [1]
    a.append(a)
    assert show(safe_loads(pickle.dumps(a))) == "[1, [...]]"


def test_long_data_is_pretty_printed_in_lines() -> None:
    text = show({"k%d" % i: list(range(30)) for i in range(3)})
    lines = text.splitlines()
    assert lines[0] == "{"
    assert lines[1].startswith("    'k0': [")
    assert all(len(line) <= 88 for line in lines)


def test_answer_follows_the_protocol() -> None:
    req = b"nws-babelfish 1 42 python/pickle 100\n" + pickle.dumps((1, "a"))
    assert answer(req) == "42 ok\n(1, 'a')"
    assert answer(b"nws-babelfish 1 7 r/serialize 100\nX") == "7 error\nthe Python babelfish does not read r/serialize"
    assert answer(b"nws-babelfish 2 7 python/pickle 100\nX").startswith("7 error\nunsupported request version")
    assert answer(b"nws-babelfish 1 8 python/pickle 100\nnot a pickle").startswith("8 error\ncannot unpickle")
    assert answer("a string") is None
    assert answer(b"no header") is None


def test_the_worker_survives_a_memory_bomb() -> None:
    # list(b'x' * ...) cannot be built; instead nest a huge repeated list via
    # the memo to blow up a set() of tuples: the worker's limits stop it.
    worker = babelfish.Worker(seconds=3)
    try:
        ok, text = worker.describe(pickle.dumps({"a": 1}), 100)
        assert (ok, text) == (True, "{'a': 1}")
        ok, text = worker.describe(b"\x80\x04cbuiltins\nbytes\n\x8a\x05\x00\xe4\x0bT\x02\x85R.", 100)
        assert not ok
        ok, text = worker.describe(pickle.dumps([1, 2]), 100)
        assert (ok, text) == (True, "[1, 2]")
    finally:
        worker.close()


# ---------------------------------------------------------------------------
# Against a real server and its web UI
# ---------------------------------------------------------------------------


def _web_port(server) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in list(server.log):
            m = re.search(r"web UI on http://[\d.]+:(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no web UI line in the server log")


def _values(web: int, ws: str, var: str) -> dict:
    q = urllib.parse.urlencode({"ws": ws, "var": var})
    with urllib.request.urlopen("http://127.0.0.1:%d/api/values?%s" % (web, q), timeout=10) as r:
        return json.load(r)


def test_the_translator_shows_a_dict_in_the_web_ui(nws_server, ws, wsname, tmp_path: Path) -> None:
    web = _web_port(nws_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nws.babelfish", "--host", nws_server.host, "--port", str(nws_server.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws.store("d", {"list": ["a", "b", "c"], "tuple": (1, 2, 3)})
        ws.store("hostile", Runs(str(tmp_path / "pwned")))
        deadline = time.monotonic() + 15
        while True:
            v = _values(web, wsname, "d")["values"][0]
            if v["shown_as"] == "translated" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert v["shown_as"] == "translated", v
        assert v["display"] == "{'list': ['a', 'b', 'c'], 'tuple': (1, 2, 3)}"
        assert v["translator"] == "Python babelfish"
        h = _values(web, wsname, "hostile")["values"][0]
        assert re.search(r"system\(\s*'touch ", h["display"]), h
        assert not (tmp_path / "pwned").exists()
        # The values are still there: showing consumed nothing.
        assert ws.fetch("d") == {"list": ["a", "b", "c"], "tuple": (1, 2, 3)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
