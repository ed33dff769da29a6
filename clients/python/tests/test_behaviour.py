"""What a Python library must do: release the GIL while blocked, honour
Ctrl-C, survive fork, share one session between threads, keep an idle
session alive, stay quiet on import, and lose nothing at exit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

import pytest

from conftest import python, spawn, unique
from nws.client import NetWorkSpace, NwsServer, NwsTimeoutException


def test_importing_prints_nothing(nws_server):
    r = python("import nws, nws.client; from nws.client import NetWorkSpace")
    assert r.returncode == 0
    assert r.stdout == "" and r.stderr == ""


def test_the_package_is_typed():
    import nws

    pkg = os.path.dirname(nws.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    assert os.path.exists(os.path.join(pkg, "_nws.pyi"))


def test_a_blocked_fetch_releases_the_gil(ws):
    got = []
    t = threading.Thread(target=lambda: got.append(ws.fetch("later")))
    t.start()
    # Pure Python work in this thread proceeds while the other one waits.
    deadline = time.monotonic() + 0.5
    spins = 0
    while time.monotonic() < deadline:
        spins += 1
    assert spins > 10_000
    assert t.is_alive()
    ws.store("later", "now")
    t.join(10)
    assert got == ["now"]


def test_threads_share_one_session_and_pipeline(ws):
    n_threads, per_thread = 8, 200
    errors = []

    def work(i):
        try:
            for j in range(per_thread):
                ws.store("q%d" % i, (i, j))
                assert ws.fetch("q%d" % i) == (i, j)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    # A fetch blocked in one thread does not hold up the others.
    blocked = threading.Thread(target=lambda: ws.fetch("gate"))
    blocked.start()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert blocked.is_alive()
    ws.store("gate", 1)
    blocked.join(10)
    # All of it on one session: only this workspace's owner label appears.
    assert ws.server.listWss(format="dict")[ws.currentWs()][1] is True


def test_ctrl_c_interrupts_a_blocked_fetch_and_withdraws_it(nws_server, wsname):
    child = spawn(
        """
import sys
from nws.client import NetWorkSpace
ws = NetWorkSpace(sys.argv[1], useUse=True)
ws.store('ready', 1)
try:
    ws.fetch('never')
except KeyboardInterrupt:
    print('interrupted', flush=True)
ws.store('after', 'still works')
""",
        wsname,
    )
    with NetWorkSpace(wsname) as ws:
        assert ws.fetch("ready", timeout=30) == 1
        time.sleep(0.3)
        # The child's fetch is waiting: a placeholder with one fetcher.
        assert ws.listVars(format="dict")["never"][2] == 1
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert out.strip() == "interrupted"
        assert ws.fetch("after", timeout=10) == "still works"
        # Withdrawn: nobody waits on 'never' any more, so a value stays.
        assert "never" not in ws.listVars(format="dict")
        ws.store("never", 1)
        assert ws.findTry("never") == 1


def test_ctrl_c_during_an_iterator_step_is_a_keyboard_interrupt(nws_server, wsname):
    child = spawn(
        """
import sys
from nws.client import NetWorkSpace
ws = NetWorkSpace(sys.argv[1], useUse=True)
ws.store('ready', 1)
try:
    for v in ws.ifind('stream'):
        pass
except KeyboardInterrupt:
    print('interrupted', flush=True)
""",
        wsname,
    )
    with NetWorkSpace(wsname) as ws:
        ws.fetch("ready", timeout=30)
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        assert out.strip() == "interrupted", err


def test_an_os_fork_child_can_use_inherited_objects_and_new_ones(ws):
    ws.store("from parent", 1)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            assert ws.fetch("from parent") == 1  # inherited object, child's own session
            ws.store("from child", os.getpid())
            with NetWorkSpace(ws.currentWs(), useUse=True) as fresh:
                fresh.store("from child", "fresh")
            ws.server.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert ws.fetch("from child", timeout=10) == pid
    assert ws.fetch("from child", timeout=10) == "fresh"
    # The parent's session is intact and still owns its workspace.
    ws.store("x", 2)
    assert ws.fetch("x") == 2
    assert ws.server.listWss(format="dict")[ws.currentWs()][1] is True


def _mp_worker(ws, i):
    ws.store("results", i * i)


def test_multiprocessing_fork_children_use_the_parents_workspace(ws):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_mp_worker, args=(ws, i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(ws.fetch("results", timeout=10) for _ in range(4)) == [0, 1, 4, 9]


def test_multiprocessing_spawn_children_get_a_pickled_workspace(ws):
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_mp_worker, args=(ws, 7))
    p.start()
    p.join(120)
    assert p.exitcode == 0
    assert ws.fetch("results", timeout=10) == 49


def _mp_fetcher(ws):
    ws.store("got", ws.fetch("task"))


def test_a_value_fetched_by_an_exiting_multiprocessing_child_stays_consumed(ws):
    ctx = multiprocessing.get_context("fork")
    for i in range(5):
        ws.store("task", i)
        p = ctx.Process(target=_mp_fetcher, args=(ws,))
        p.start()
        p.join(60)
        assert p.exitcode == 0
        assert ws.fetch("got", timeout=10) == i
        time.sleep(0.05)
        # Acknowledged before the child left: it did not come back.
        assert ws.fetchTry("task", "gone") == "gone"


def test_a_value_fetched_by_an_exiting_program_stays_consumed(ws):
    for i in range(5):
        ws.store("task", i)
        r = python(
            "import sys; from nws.client import NetWorkSpace; "
            "print(NetWorkSpace(sys.argv[1], useUse=True).fetch('task'))",
            ws.currentWs(),
        )
        assert r.stdout.strip() == str(i), r.stderr
        time.sleep(0.05)
        assert ws.fetchTry("task", "gone") == "gone"


def test_an_idle_session_survives_while_python_holds_the_gil(nws_server, wsname):
    # The server drops a session whose keepalive ping goes unanswered for
    # 1 s; a pure-Python loop holds the GIL for 3 s here.
    with NetWorkSpace(wsname) as ws:
        ws.store("x", 1)
        end = time.monotonic() + 3.0
        n = 0
        while time.monotonic() < end:
            n += 1
        with NwsServer() as other:
            assert wsname in other.listWss(format="dict")
        assert ws.fetch("x") == 1


def test_timeout_is_per_call(ws):
    t0 = time.monotonic()
    with pytest.raises(NwsTimeoutException):
        ws.find("nothing", timeout=0.3)
    assert time.monotonic() - t0 >= 0.25
