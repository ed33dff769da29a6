"""nws.sleigh: the article's Sleigh session, options, errors, fault tolerance.

One 2-worker sleigh serves the tests that leave it intact; tests that kill
workers or stop the sleigh start their own. spec/sleigh.md is what is
tested.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import sys
import threading
import time

import cloudpickle
import pytest

from conftest import python, spawn
from nws.sleigh import (
    Sleigh,
    SleighGatheredException,
    SleighIllegalValueException,
    SleighNoWorkersException,
    SleighOccupiedException,
    SleighPending,
    SleighProgress,
    SleighStoppedException,
    SleighTaskException,
    sshcmd,
)

# This module's functions travel by value, as a script's would (the workers
# need not import the test module).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is gone for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def worker_pids(s: Sleigh) -> list:
    s.status(timeout=10)
    return [w["pid"] for w in s.workerInfo()]


@pytest.fixture(scope="module")
def s(nws_server):
    sl = Sleigh(workerCount=2)
    try:
        yield sl
    finally:
        sl.stop()


# --- the article's session ----------------------------------------------------


def test_each_worker_runs_once_on_every_worker_in_rank_order(s):
    assert s.eachWorker(socket.gethostname) == [socket.gethostname()] * 2
    assert s.eachWorker(lambda: (SleighRank, SleighWorkerCount)) == [(0, 2), (1, 2)]  # noqa: F821


def test_each_elem_returns_the_results_in_order(s):
    r = s.eachElem(lambda x: x * x * x, range(100))
    assert len(r) == 100
    assert r[2:5] == [8, 27, 64]
    assert r == [x**3 for x in range(100)]


def test_varying_and_fixed_arguments(s):
    def f(a, b, c):
        return (a, b, c)

    assert s.eachElem(f, [[1, 2, 3], [11, 12, 13]], [99]) == [(1, 11, 99), (2, 12, 99), (3, 13, 99)]
    # argPermute orders (varying..., fixed...) for the function.
    assert s.eachElem(f, [[1, 2], [11, 12]], [99], argPermute=[2, 0, 1]) == [(99, 1, 11), (99, 2, 12)]
    # A fixed argument that is not a list is one argument.
    assert s.eachElem(f, [[1], [2]], (7, 8)) == [(1, 2, (7, 8))]


def test_non_blocking_each_elem_reports_progress_then_results(s):
    p = s.eachElem(lambda x: (time.sleep(0.02), x)[1], range(20), blocking=False)
    assert isinstance(p, SleighPending)
    c = p.check()
    assert isinstance(c, SleighProgress) and c.total == 20 and 0 <= c.done <= 20 and c == 20 - c.done
    with pytest.raises(SleighOccupiedException):
        s.eachElem(abs, [1])
    assert p.wait() == list(range(20))
    assert p.check() == 0 and p.check().done == 20
    with pytest.raises(SleighGatheredException):
        p.wait()
    # Free again.
    assert s.eachElem(abs, [-1]) == [1]


def test_non_blocking_each_worker(s):
    p = s.eachWorker(lambda: SleighRank, blocking=False)  # noqa: F821
    assert p.wait(timeout=10) == [0, 1]


# --- arguments (spec/sleigh.md#arguments) --------------------------------------


def test_an_argument_of_length_one_is_used_for_every_task(s):
    assert s.eachElem(lambda a, b: a + b, [[1, 2, 3], [10]]) == [11, 12, 13]


def test_arguments_of_unequal_lengths_are_an_error(s):
    with pytest.raises(SleighIllegalValueException, match="unequal lengths"):
        s.eachElem(lambda a, b: a + b, [[1, 2, 3], [10, 20]])


def test_no_elements_no_tasks(s):
    assert s.eachElem(abs, []) == []
    assert s.eachElem(abs, [[]]) == []


def test_strings_are_elements_not_argument_lists(s):
    assert s.eachElem(str.upper, ["ab", "cd"]) == ["AB", "CD"]
    # To pass lists as the elements, wrap them in one more list.
    assert s.eachElem(len, [[[1, 2], [3, 4, 5]]]) == [2, 3]


def test_chunk_size_load_factor_and_automatic_chunking_agree(s):
    want = [x * 2 for x in range(500)]
    assert s.eachElem(lambda x: x * 2, range(500)) == want
    assert s.eachElem(lambda x: x * 2, range(500), chunkSize=7) == want
    assert s.eachElem(lambda x: x * 2, range(500), chunkSize=1, loadFactor=2) == want
    assert s.eachElem(lambda x: x * 2, range(500), loadFactor=3) == want


def test_bad_options_are_rejected(s):
    with pytest.raises(SleighIllegalValueException):
        s.eachElem(abs, [1], chunkSize=0)
    with pytest.raises(SleighIllegalValueException):
        s.eachElem(abs, [1], errors="ignore")
    with pytest.raises(SleighIllegalValueException):
        s.eachElem(abs, [1], argPermute=[3])
    with pytest.raises(TypeError):
        s.eachElem(abs, [1], bogus=1)
    with pytest.raises(TypeError):
        Sleigh(bogusOption=1)


# --- state, workspaces ---------------------------------------------------------


def init_counter(start):
    global counter
    counter = start
    return SleighRank  # noqa: F821


def bump(x):
    global counter
    counter += 1
    return counter


def test_workers_keep_state_across_tasks(s):
    assert s.eachWorker(init_counter, 1000) == [0, 1]
    r = s.eachElem(bump, range(40), chunkSize=1)
    # Each worker counts from 1000: together they saw every task once.
    assert len(r) == 40 and all(x > 1000 for x in r)
    assert sum(max(0, r.count(1000 + k)) for k in range(1, 41)) == 40
    assert sorted(s.eachWorker(lambda: counter)) != [1000, 1000]  # noqa: F821


def test_user_workspace_is_shared_with_the_workers(s):
    s.userNws.store("offset", 100)
    assert s.eachElem(lambda i: SleighUserNws.find("offset") + i, range(3)) == [100, 101, 102]  # noqa: F821
    s.eachElem(lambda i: SleighUserNws.store("back", i), range(3))  # noqa: F821
    assert sorted(s.userNws.ifetchTry("back")) == [0, 1, 2]


def test_the_web_ui_counts_tasks(s):
    before = int(s.nws.find("totalTasks"))
    s.eachElem(abs, range(10))
    assert int(s.nws.find("totalTasks")) == before + 10
    assert s.nws.find("doneTasks") == s.nws.find("totalTasks")
    assert s.nws.find("workerCount") == "2"


def test_progress_bar(s, capsys):
    assert s.eachElem(abs, range(30), progress=True) == list(range(30))
    assert "30/30" in capsys.readouterr().err


def test_no_sleigh_inside_a_worker(s):
    r = s.eachWorker(lambda: Sleigh(), errors="value")
    assert all(isinstance(e, SleighTaskException) and e.type_name == "SleighNotAllowedException" for e in r)


# --- errors (spec/sleigh.md#errors) -----------------------------------------------


def divide(x):
    return 10 // x


def test_a_task_that_raises_raises_in_the_master_with_the_worker_traceback(s):
    with pytest.raises(SleighTaskException) as info:
        s.eachElem(divide, [5, 2, 0, 1])
    e = info.value
    assert e.index == 2 and isinstance(e.exception, ZeroDivisionError)
    assert e.type_name == "ZeroDivisionError" and not e.killed
    assert "in divide" in e.traceback and "return 10 // x" in e.traceback
    assert "Worker traceback" in str(e) and "in divide" in str(e)
    # The sleigh is still usable.
    assert s.eachElem(divide, [5, 2]) == [2, 5]


def test_errors_can_be_collected_as_values(s):
    r = s.eachElem(divide, [5, 0, 2, 0], errors="value")
    assert r[0] == 2 and r[2] == 5
    assert isinstance(r[1], SleighTaskException) and r[1].index == 1
    assert isinstance(r[3].exception, ZeroDivisionError)


def test_each_worker_errors(s):
    with pytest.raises(SleighTaskException, match="ValueError"):
        s.eachWorker(lambda: int("x"))
    r = s.eachWorker(lambda: 1 // SleighRank, errors="value")  # noqa: F821
    assert isinstance(r[0], SleighTaskException) and r[1] == 1


def test_a_result_that_cannot_be_pickled_is_an_error(s):
    r = s.eachElem(lambda x: threading.Lock() if x else x, [0, 1], errors="value")
    assert r[0] == 0 and isinstance(r[1], SleighTaskException) and "cannot be sent" in str(r[1])


# --- concurrent.futures.Executor ----------------------------------------------------


def test_executor_submit_and_map(s):
    assert isinstance(s, concurrent.futures.Executor)
    f = s.submit(pow, 2, 10)
    g = s.submit(lambda x, y=1: x / y, 1, y=0)
    assert f.result(timeout=10) == 1024
    with pytest.raises(ZeroDivisionError) as info:
        g.result(timeout=10)
    assert "ZeroDivisionError" in str(info.value.__cause__)
    assert list(s.map(lambda a, b: a + b, range(5), range(10, 20))) == [10, 12, 14, 16, 18]
    fs = [s.submit(abs, -i) for i in range(50)]
    assert sum(f.result() for f in concurrent.futures.as_completed(fs, timeout=20)) == sum(range(50))
    it = s.map(divide, [1, 0, 2])
    assert next(it) == 10
    with pytest.raises(ZeroDivisionError):
        next(it)


# --- launching ---------------------------------------------------------------------


def test_sshcmd_command_line():
    assert sshcmd("hippo")[-1] == "hippo" and "-n" in sshcmd("hippo") and "-x" in sshcmd("hippo")
    cmd = sshcmd("newt", user="bob")
    assert cmd[-3:] == ["-l", "bob", "newt"]
    with pytest.raises(SleighIllegalValueException):
        sshcmd("")


FAKE_SSH = """
import os, sys
# Like ssh: the arguments after the host become one command for a shell.
os.execvp("sh", ["sh", "-c", " ".join(sys.argv[2:])])
"""


def test_a_launch_function_runs_one_worker_per_node(nws_server, tmp_path):
    fake = tmp_path / "fake_ssh.py"
    fake.write_text(FAKE_SSH)

    def launch(machine, **kw):
        assert kw["user"] == "bob"
        return [sys.executable, str(fake), machine]

    with Sleigh(nodeList=["hippo", "rhino", "newt"], launch=launch, user="bob", workingDir=str(tmp_path)) as t:
        assert t.workerCount == 3 and t.nodeList == ["hippo", "rhino", "newt"]
        assert t.eachWorker(lambda: (SleighRank, os.getcwd())) == [(r, str(tmp_path)) for r in range(3)]  # noqa: F821
        assert [w["name"] for w in t.workerInfo()] == ["hippo", "rhino", "newt"]


def test_log_dir_collects_worker_output(nws_server, tmp_path):
    with Sleigh(workerCount=1, logDir=str(tmp_path)) as t:
        t.eachWorker(lambda: print("hello from the worker", flush=True))
        name = t.nwsName
    (log,) = tmp_path.glob("%s_*.log" % name)
    assert "hello from the worker" in log.read_text()


# --- fault tolerance (spec/sleigh.md#fault-tolerance) ---------------------------------


def test_a_worker_killed_mid_task_has_its_task_rerun(nws_server):
    with Sleigh(workerCount=2) as t:
        pids = worker_pids(t)
        t.eachWorker(int)
        timer = threading.Timer(0.4, os.kill, (pids[0], signal.SIGKILL))
        timer.start()
        r = t.eachElem(lambda x: (time.sleep(0.05), x * x)[1], range(40))
        timer.join()
        assert r == [x * x for x in range(40)]
        assert t.eachElem(abs, [-1, -2]) == [1, 2]
        info = t.workerInfo()
        assert [w["alive"] for w in info] == [False, True]


def poison(x):
    if x == 5:
        os._exit(1)
    return x


def test_a_task_that_kills_its_workers_fails_after_the_retry_limit(nws_server):
    with Sleigh(workerCount=3) as t:
        r = t.eachElem(poison, range(10), errors="value")
        assert r[:5] == [0, 1, 2, 3, 4] and r[6:] == [6, 7, 8, 9]
        assert isinstance(r[5], SleighTaskException) and r[5].killed
        assert "maxRetries=1" in str(r[5]) and "died each of the 2 times" in str(r[5])
        # Two workers died (one run and one re-run); the third carries on.
        assert sum(w["alive"] for w in t.workerInfo()) == 1
        assert t.eachElem(abs, [-3]) == [3]
        with pytest.raises(SleighNoWorkersException, match="running task 0"):
            t.eachElem(poison, [5])
        with pytest.raises(SleighNoWorkersException):
            t.eachElem(abs, [1])


def test_raise_mode_stops_at_the_retry_limit(nws_server):
    with Sleigh(workerCount=3, maxRetries=0) as t:
        with pytest.raises(SleighTaskException, match="maxRetries=0") as info:
            t.eachElem(poison, range(10))
        assert info.value.killed and info.value.index == 5


def test_each_worker_reports_a_worker_that_died(nws_server):
    with Sleigh(workerCount=2) as t:
        r = t.eachWorker(lambda: os._exit(2) if SleighRank == 1 else "ok", errors="value")  # noqa: F821
        assert r[0] == "ok" and isinstance(r[1], SleighTaskException) and r[1].killed
        assert t.eachWorker(lambda: SleighRank) == [0]  # noqa: F821


# --- stopping (spec/sleigh.md#stop) -----------------------------------------------------


def test_stop_leaves_no_worker_processes(nws_server):
    t = Sleigh(workerCount=2)
    pids = worker_pids(t)
    p = t.eachElem(time.sleep, [30, 30], blocking=False)
    time.sleep(0.3)
    t.stop()
    assert wait_gone(pids, 5) == []
    with pytest.raises(SleighStoppedException):
        p.wait()
    with pytest.raises(SleighStoppedException):
        t.eachElem(abs, [1])
    t.stop()  # idempotent


MASTER = """
import sys, time
from nws.sleigh import Sleigh
s = Sleigh(workerCount=2)
s.status(timeout=10)
print(' '.join(str(w['pid']) for w in s.workerInfo()), flush=True)
if sys.argv[1] == 'busy':
    p = s.eachElem(time.sleep, [30, 30], blocking=False)
    time.sleep(0.3)
    print('busy', flush=True)
    time.sleep(60)
elif sys.argv[1] == 'interrupt':
    print('busy', flush=True)
    s.eachElem(time.sleep, [30, 30])
"""


def test_master_exit_leaves_no_workers(nws_server):
    r = python(MASTER, "exit")
    assert r.returncode == 0, r.stderr
    pids = [int(x) for x in r.stdout.split()]
    assert len(pids) == 2 and wait_gone(pids, 5) == []


def test_a_killed_master_leaves_no_workers(nws_server):
    p = spawn(MASTER, "busy")
    try:
        pids = [int(x) for x in p.stdout.readline().split()]
        assert p.stdout.readline().strip() == "busy"
        assert all(alive(x) for x in pids)
        p.kill()
        p.wait(10)
        assert wait_gone(pids, 5) == []
    finally:
        if p.poll() is None:
            p.kill()


def test_ctrl_c_interrupts_a_blocking_each_elem(nws_server):
    p = spawn(MASTER, "interrupt")
    try:
        pids = [int(x) for x in p.stdout.readline().split()]
        assert p.stdout.readline().strip() == "busy"
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
        assert "KeyboardInterrupt" in err
        assert wait_gone(pids, 5) == []
    finally:
        if p.poll() is None:
            p.kill()


# --- functions from __main__ (the article's Listing One relies on this) ------------------

MAIN = """
from nws.sleigh import Sleigh

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

def init(scale):
    global factor, seen
    factor = scale
    seen = []

def work(p):
    seen.append(p.x)
    return Point(p.x * factor, len(seen))

s = Sleigh(workerCount=2)
s.eachWorker(init, 10)
r = s.eachElem(work, [Point(i, 0) for i in range(6)])
print([q.x for q in r], type(r[0]).__name__, isinstance(r[0], Point))
print(sum(s.eachWorker(lambda: len(seen))))
print(s.eachElem(lambda v: v + factor, [1, 2]))
s.stop()
"""


def test_functions_and_classes_of_main_reach_the_workers_with_their_state(nws_server):
    r = python(MAIN)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[0, 10, 20, 30, 40, 50] Point True", "6", "[11, 12]"]
