"""The examples of the article (shared/seeds: "Python NetWorkSpaces and
Parallel Programs", Dr. Dobb's 2007), in Python 3, as tests."""

from __future__ import annotations

import io
import multiprocessing
import threading
import time

import pytest

from conftest import python, spawn, unique
from nws.client import SINGLE, NetWorkSpace, NwsServer


def test_dict_example_round_trips_composite_values(nws_server, wsname):
    ws = NetWorkSpace(wsname)
    l = ["a", "b", "c"]
    t = (1, 2, 3)
    d = {"list": l, "tuple": t}
    ws.store("dict example", d)
    assert ws.fetch("dict example") == {"list": ["a", "b", "c"], "tuple": (1, 2, 3)}
    ws.close()


def test_a_ticket_string_travels_as_plain_text(nws_server, wsname):
    ws = NetWorkSpace(wsname)
    ws.store("ticket", "ticket string")
    # What another language's client receives: the UTF-8 text itself.
    buf = io.BytesIO()
    other = NetWorkSpace(wsname, useUse=True)
    other.fetchFile("ticket", buf)
    assert buf.getvalue() == b"ticket string"
    other.close()
    ws.close()


CUBES_WORKER = """
import sys
from nws.client import NetWorkSpace
def f(x): return x*x*x
ws = NetWorkSpace(sys.argv[1])
while True:
  ws.store('r', f(ws.fetch('x')))
"""


def test_cubes_worker_and_master_in_two_processes(nws_server):
    table = unique("table")
    worker = spawn(CUBES_WORKER, table)  # run first, as in the article
    try:
        ws = NetWorkSpace(table)
        for x in range(100):
            ws.store("x", x)
        lines = ["f(%d) = %d" % (x, ws.fetch("r", timeout=60)) for x in range(100)]
        assert lines[:3] == ["f(0) = 0", "f(1) = 1", "f(2) = 8"]
        assert lines[-1] == "f(99) = 970299"
        ws.close()
    finally:
        worker.kill()
        worker.wait()


def f_max(x):
    return -((x - 617) ** 2) + 5


def max_searcher(wsname, candidates):
    ws = NetWorkSpace(wsname, useUse=True)
    for x in candidates:
        currentMax = ws.find("max")
        y = f_max(x)
        if y > currentMax:
            currentMax = ws.fetch("max")
            if y > currentMax:
                currentMax = y
            ws.store("max", currentMax)
    ws.close()


def test_max_search_with_find_and_fetch_across_processes(nws_server, wsname):
    ws = NetWorkSpace(wsname)
    ws.store("max", float("-inf"))
    ctx = multiprocessing.get_context("fork")
    lists = [range(i, 1000, 4) for i in range(4)]
    procs = [ctx.Process(target=max_searcher, args=(wsname, lst)) for lst in lists]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert ws.find("max") == 5 == max(f_max(x) for x in range(1000))
    assert ws.listVars(format="dict")["max"][1] == 1  # one value: updates were atomic
    ws.close()


def test_single_mode_holds_the_latest_status(nws_server, wsname):
    ws = NetWorkSpace(wsname)
    ws.declare("status", SINGLE)
    for status in ("starting", "25%", "50%", "done"):
        ws.store("status", status)
    watcher = NetWorkSpace(wsname, useUse=True)
    assert watcher.find("status") == "done"
    assert watcher.find("status") == "done"  # find does not consume
    assert ws.listVars(format="dict")["status"][1:] == (1, 0, 0, "single")
    watcher.close()
    ws.close()


def test_ifind_waits_for_more_values_until_the_variable_is_deleted(nws_server, wsname):
    ws = NetWorkSpace(wsname)
    for v in range(5):
        ws.store("v", v)
    seen = []
    loop = threading.Thread(target=lambda: seen.extend(v for v in ws.ifind("v")))
    loop.start()
    deadline = time.monotonic() + 10
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert seen == [0, 1, 2, 3, 4] and loop.is_alive()  # "the second loop hangs"
    # Another process stores more: the loop wakes up and sees it.
    r = python("import sys; from nws.client import NetWorkSpace; NetWorkSpace(sys.argv[1], useUse=True).store('v', 5)", wsname)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while len(seen) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [0, 1, 2, 3, 4, 5]
    # "To signal it to stop, you can delete the binding."
    NetWorkSpace(wsname, useUse=True).deleteVar("v")
    loop.join(10)
    assert not loop.is_alive()
    # ifindTry terminates as soon as there are no more values.
    for v in range(3):
        ws.store("w", v)
    assert [v for v in ws.ifindTry("w")] == [0, 1, 2]
    assert [v for v in ws.ifetchTry("w")] == [0, 1, 2]
    ws.close()


def test_the_first_to_mention_a_workspace_owns_it_and_users_come_and_go(nws_server):
    name = unique("example")
    master = NetWorkSpace(name)
    for _ in range(3):
        helper = NetWorkSpace(name)  # mentions it later: does not own it
        helper.store("result", 1)
        helper.close()
    notmine = NetWorkSpace(name, useUse=True)
    notmine.close()
    with NwsServer() as s:
        assert s.listWss(format="dict")[name][4] == 1  # still there, with 'result'
        master.close()  # "when the master exits, the NWS is cleaned up"
        assert name not in s.listWss(format="dict")


def test_use_use_never_owns_even_when_first(nws_server):
    name = unique("not mine")
    ws = NetWorkSpace(name, useUse=True)
    with NwsServer() as s:
        assert s.listWss(format="dict")[name][2] == ""  # no owner
        ws.close()
        assert name in s.listWss(format="dict")  # nobody's exit destroys it
        s.deleteWs(name)


def test_mktemp_ws_gives_unique_names(nws_server):
    with NwsServer() as s:
        names = {s.mktempWs() for _ in range(5)}
        assert len(names) == 5
        ws = s.openWs(names.pop())
        ws.store("x", 1)
        assert ws.fetch("x") == 1
