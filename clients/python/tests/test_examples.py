"""The example programs in examples/python/, each run as a user would."""

from __future__ import annotations

import signal
import threading
import time

from conftest import EXAMPLES, python, spawn, unique
from nws.client import NwsServer


def example(name: str) -> str:
    return str(EXAMPLES / name)


def test_hello_stores_and_fetches_a_counter(nws_server):
    r = python(example("hello.py"), "25", "--ws", unique("hello"), is_file=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["hello: iterations: 25", "Success"]


def test_hello_asks_for_the_count_when_not_given(nws_server):
    r = python(example("hello.py"), "--ws", unique("hello"), input="3\n", is_file=True)
    assert r.returncode == 0, r.stderr
    assert "hello: iterations: 3" in r.stdout and "Success" in r.stdout


def test_hello_reports_a_missing_server(nws_server):
    r = python(example("hello.py"), "2", "--port", "1", is_file=True)
    assert r.returncode == 1
    assert "no NWS server" in r.stderr


def test_ping_and_pong_play_between_two_processes(nws_server):
    wsname = unique("ping-pong")
    ping = spawn(example("ping.py"), wsname, is_file=True)
    try:
        assert ping.stdout is not None
        assert ping.stdout.readline().strip() == "Ping-pong server '%s' starting" % wsname
        for game in range(2):  # two games, one after the other
            r = python(example("pong.py"), "5", wsname, is_file=True)
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert lines[0] == "Starting a ping-pong game %d" % game
            assert len(lines) == 7 and "'i': 4" in lines[5] and "'time'" in lines[5]
            assert lines[-1].startswith("5 round trips in ")
        # Ctrl-C stops the ping server cleanly.
        ping.send_signal(signal.SIGINT)
        out, err = ping.communicate(timeout=30)
        assert ping.returncode == 0, err
        assert out.count("Got a ping from pong_0") == 5
        assert out.count("Got a ping from pong_1") == 5
        assert out.rstrip().endswith("Ping-pong server '%s' exiting" % wsname)
    finally:
        if ping.poll() is None:
            ping.kill()
            ping.wait()


def test_a_token_travels_around_a_ring_of_processes(nws_server):
    r = python(example("ring.py"), "-c", "3", "-n", "25", is_file=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "The token was passed 100 times" in r.stdout


def test_chat_users_see_each_others_messages(nws_server):
    room = unique("room")
    alice = spawn(example("chat.py"), "--user", "alice", "--room", room, "--linger", "1.5", is_file=True, stdin=-1)
    bob = spawn(example("chat.py"), "--user", "bob", "--room", room, "--linger", "1.5", is_file=True, stdin=-1)
    try:
        # Both type at about the same time and listen for 1.5 s more.
        results = {}
        talks = [
            threading.Thread(target=lambda p=p, text=text: results.__setitem__(p.pid, p.communicate(text, timeout=60)))
            for p, text in ((alice, "hello bob\n"), (bob, "hi alice\nbye\n"))
        ]
        for t in talks:
            t.start()
        for t in talks:
            t.join(90)
        (a_out, a_err), (b_out, b_err) = results[alice.pid], results[bob.pid]
        assert alice.returncode == 0 and bob.returncode == 0, a_err + b_err
        for out in (a_out, b_out):
            assert "alice: hello bob" in out.splitlines()
            assert "bob: hi alice" in out.splitlines()
        # A late arrival sees the history: the room is persistent.
        late = python(example("chat.py"), "--user", "carol", "--room", room, "--linger", "1", is_file=True, input="")
        assert late.stdout.splitlines()[:1] in (["alice: hello bob"], ["bob: hi alice"])
        assert {"alice: hello bob", "bob: hi alice", "bob: bye"} <= set(late.stdout.splitlines())
    finally:
        for p in (alice, bob):
            if p.poll() is None:
                p.kill()
        with NwsServer() as s:
            s.deleteWs(room)
