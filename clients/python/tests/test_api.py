"""The original nws.client API: names, defaults, listings, iterators, and
the Python conveniences added on top (aliases, timeout=, with)."""

from __future__ import annotations

import io
import os
import pickle
import threading
import time

import pytest

import nws.client as client
from conftest import unique
from nws.client import (
    DICT,
    FIFO,
    LIFO,
    MULTI,
    SINGLE,
    STRING,
    V_MODE,
    V_VALUES,
    WS_MINE,
    WS_NUMVARS,
    WS_OWNER,
    WS_PERSISTENT,
    WS_VARLIST,
    NetWorkSpace,
    NwsNoWorkSpaceException,
    NwsServer,
)


def test_the_original_names_are_importable():
    for name in (
        "NetWorkSpace NwsServer NwsValueIterator FIFO LIFO MULTI SINGLE STRING DICT "
        "NwsException NwsServerException NwsConnectException NwsConnectionDroppedException "
        "NwsUnsupportedOperationException NwsOperationException NwsNoWorkSpaceException "
        "NwsDeclarationFailedException NwsPicklingException NwsUnpicklingException "
        "NwsUnsupportedMethodException WS_NAME WS_MINE WS_OWNER WS_PERSISTENT WS_NUMVARS "
        "WS_VARLIST V_VARIABLE V_VALUES V_FETCHERS V_FINDERS V_MODE"
    ).split():
        assert hasattr(client, name), name
        assert name in client.__all__
    assert (FIFO, LIFO, MULTI, SINGLE, STRING, DICT) == ("fifo", "lifo", "multi", "single", "string", "dict")


def test_snake_case_aliases_are_the_same_methods():
    for camel, snake in [
        ("fetchTry", "fetch_try"),
        ("findTry", "find_try"),
        ("deleteVar", "delete_var"),
        ("listVars", "list_vars"),
        ("ifetchTry", "ifetch_try"),
        ("ifindTry", "ifind_try"),
        ("currentWs", "current_ws"),
    ]:
        assert getattr(NetWorkSpace, camel) is getattr(NetWorkSpace, snake)
    for camel, snake in [
        ("openWs", "open_ws"),
        ("useWs", "use_ws"),
        ("mktempWs", "mktemp_ws"),
        ("deleteWs", "delete_ws"),
        ("listWss", "list_wss"),
    ]:
        assert getattr(NwsServer, camel) is getattr(NwsServer, snake)


def test_constructor_takes_host_and_port_positionally_and_by_keyword(nws_server):
    name = unique()
    with NetWorkSpace(name, nws_server.host, nws_server.port) as a:
        assert a.currentWs() == name
        with NetWorkSpace(name, serverHost=nws_server.host, port=nws_server.port, useUse=True) as b:
            b.store("x", 1)
        with NetWorkSpace(name, serverHost=nws_server.host, serverPort=nws_server.port) as c:
            assert c.fetch("x") == 1


def test_defaults_come_from_nws_host_and_nws_port(nws_server):
    # The fixture exported NWS_HOST/NWS_PORT; no arguments needed.
    assert os.environ["NWS_PORT"] == str(nws_server.port)
    s = NwsServer()
    assert (s.serverHost, s.serverPort) == (nws_server.host, nws_server.port)
    s.close()


def test_fetch_try_and_find_try_return_missing_when_empty(ws):
    assert ws.fetchTry("nothing") is None
    assert ws.fetchTry("nothing", "dflt") == "dflt"
    assert ws.findTry("nothing", missing=0) == 0
    ws.store("x", None)
    assert ws.findTry("x", "dflt") is None
    assert ws.fetchTry("x", "dflt") is None


def test_modes_fifo_lifo_multi_single(ws):
    ws.declare("f", FIFO)
    ws.declare("l", LIFO)
    ws.declare("m", MULTI)
    ws.declare("s", SINGLE)
    for v in range(4):
        for var in "flms":
            ws.store(var, v)
    assert [ws.fetch("f") for _ in range(4)] == [0, 1, 2, 3]
    assert [ws.fetch("l") for _ in range(4)] == [3, 2, 1, 0]
    assert sorted(ws.fetch("m") for _ in range(4)) == [0, 1, 2, 3]
    assert ws.find("s") == 3 and ws.fetch("s") == 3
    assert ws.fetchTry("s") is None


def test_list_vars_has_the_original_text_and_dict_formats(ws):
    ws.store("a", 1)
    ws.store("a", 2)
    ws.declare("b", SINGLE)
    assert ws.listVars() == "a\t2\t0\t0\tfifo\nb\t0\t0\t0\tsingle"
    d = ws.listVars(format=DICT)
    assert d == {"a": ("a", 2, 0, 0, "fifo"), "b": ("b", 0, 0, 0, "single")}
    assert d["a"][V_VALUES] == 2 and d["b"][V_MODE] == "single"
    assert ws.listVars(ws.currentWs(), STRING) == ws.listVars()


def test_list_vars_shows_waiters_on_a_placeholder(ws, other):
    t = threading.Thread(target=lambda: ws.fetch("later", timeout=10))
    t.start()
    try:
        deadline = time.monotonic() + 5
        while "later" not in ws.listVars(format=DICT) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert other.openWs(ws.currentWs()).listVars(format=DICT)["later"] == ("later", 0, 1, 0, "unknown")
    finally:
        ws.store("later", 1)
        t.join(10)


def test_list_vars_of_another_workspace(ws, other):
    name = unique()
    w2 = other.openWs(name)
    w2.store("q", 1)
    assert ws.listVars(name) == "q\t1\t0\t0\tfifo"


def test_list_wss_marks_owned_workspaces_and_lists_variables(ws, other):
    ws.store("x", 1)
    ws.store("y", 2)
    mine = ws.server.listWss()
    line = [l for l in mine.splitlines() if l[1:].startswith(ws.currentWs() + "\t")][0]
    fields = line.split("\t")
    assert fields[0] == ">" + ws.currentWs()
    assert fields[1].startswith("python ") and ("pid %d" % os.getpid()) in fields[1]
    assert fields[2:] == ["False", "2", "x,y"]
    assert mine.endswith("\n")
    theirs = other.listWss()
    assert (" " + ws.currentWs() + "\t") in theirs
    d = other.listWss(format=DICT)[ws.currentWs()]
    assert d[WS_MINE] is False and d[WS_PERSISTENT] is False
    assert d[WS_NUMVARS] == 2 and d[WS_VARLIST] == ["x", "y"] and d[WS_OWNER] == fields[1]


def test_mktemp_ws_returns_a_new_name_owned_by_the_caller(other):
    with NwsServer() as s:
        name = s.mktempWs("job_%d")
        assert name.startswith("job_")
        assert s.mktempWs() != s.mktempWs()
        ws = s.openWs(name)
        ws.store("x", 1)
        assert name in other.listWss(format=DICT)
    # The owner's session ended: its temporary workspace is gone.
    assert name not in other.listWss(format=DICT)


def test_open_use_and_delete_ws(other, nws_server):
    name = unique()
    used = other.useWs(name)
    assert not used.owned
    d = other.listWss(format=DICT)[name]
    assert d[WS_OWNER] == ""
    with NwsServer() as s:
        opened = s.openWs(name, persistent=True)
        assert opened.owned
    # Persistent: outlives its owner, then unowned.
    assert other.listWss(format=DICT)[name][WS_OWNER] == ""
    other.deleteWs(name)
    with pytest.raises(NwsNoWorkSpaceException):
        other.openWs(name, create=False)


def test_the_owner_closing_deletes_a_non_persistent_workspace(other, wsname):
    with NetWorkSpace(wsname) as w:
        w.store("x", 1)
        helper = NetWorkSpace(wsname, useUse=True)
        helper.close()  # a helper leaving does not delete it
        assert wsname in other.listWss(format=DICT)
    assert wsname not in other.listWss(format=DICT)


def test_with_blocks_close_the_session(nws_server, wsname):
    with NetWorkSpace(wsname) as w:
        assert not w.server.closed
    assert w.server.closed
    with NwsServer() as s:
        pass
    assert s.closed


def test_iterators_are_python_iterators(ws):
    for v in range(5):
        ws.store("v", v)
    it = ws.ifindTry("v")
    assert iter(it) is it
    assert list(it) == [0, 1, 2, 3, 4]
    assert list(ws.ifindTry("v")) == [0, 1, 2, 3, 4]  # find does not consume
    assert list(ws.ifetchTry("v")) == [0, 1, 2, 3, 4]
    assert ws.fetchTry("v") is None


def test_an_ended_iterator_stays_ended_until_restart(ws):
    ws.store("chat", "a")
    it = ws.ifindTry("chat")
    assert list(it) == ["a"]
    ws.store("chat", "b")
    assert list(it) == []  # ended: StopIteration again, no request
    it.restart()
    assert list(it) == ["b"]  # continues after the last value seen
    it.reset()
    assert list(it) == ["a", "b"]  # starts over


def test_ifetch_and_ifind_wait_for_values_and_take_a_timeout(ws):
    it = ws.ifind("w", timeout=0.1)
    with pytest.raises(client.NwsTimeoutException):
        next(it)
    ws.store("w", 1)
    assert next(it) == 1
    f = ws.ifetch("w", timeout=5)
    assert next(f) == 1
    assert ws.fetchTry("w") is None


def test_iterating_a_single_variable_sees_each_new_status_once(ws):
    ws.declare("status", SINGLE)
    it = ws.ifindTry("status")
    ws.store("status", "starting")
    assert list(it) == ["starting"]
    ws.store("status", "half")
    ws.store("status", "done")
    it.restart()
    assert list(it) == ["done"]


def test_files_store_and_fetch_raw_bytes(ws):
    src = io.BytesIO(b"0123456789")
    assert ws.storeFile("f", src, 4) == 4
    assert ws.storeFile("f", src) == 6
    assert ws.storeFile("f", src) == 0
    out = io.BytesIO()
    assert ws.findFile("f", out) == 4
    assert ws.fetchFile("f", out) == 4 and ws.fetchTryFile("f", out) == 6
    assert ws.fetchTryFile("f", out) == 0
    assert out.getvalue() == b"0123" + b"0123" + b"456789"
    ws.store("g", "text")
    it = ws.ifindTry("g")
    buf = io.BytesIO()
    assert it.writeTo(buf) == 4 and it.writeTo(buf) == 0
    assert buf.getvalue() == b"text"


def test_makefile_reads_and_writes_lines(ws):
    with ws.makefile("log", "w") as f:
        f.write("first line\nsecond ")
        f.write("line\nno newline")
    # One string value per line; the unterminated rest is flushed by close.
    assert list(ws.ifindTry("log")) == ["first line\n", "second line\n", "no newline"]
    assert ws.makefile("log").readlines() == ["first line\n", "second line\n", "no newline"]
    assert ws.makefile("log").read() == "first line\nsecond line\nno newline"
    with ws.makefile("log", "a") as f:
        f.write("appended\n")
    # As with a file: the unterminated last line continues.
    assert ws.makefile("log").readlines()[-1] == "no newlineappended\n"
    with ws.makefile("log", "w") as f:
        f.write("fresh\n")
    assert ws.makefile("log").readlines() == ["fresh\n"]


def test_workspace_objects_pickle_into_a_new_session(ws):
    ws.store("x", 41)
    copy = pickle.loads(pickle.dumps(ws))
    try:
        assert copy.currentWs() == ws.currentWs()
        assert copy.server is not ws.server
        assert copy.fetch("x") == 41
    finally:
        copy.close()


def test_server_info_reports_the_server(other):
    info = other.serverInfo()
    assert info["server"].startswith("nws-server")
    assert info["protocol_version"] == 1 and info["max_value_size"] > 0


def test_repr_and_str(ws):
    assert ws.currentWs() in repr(ws) and ws.currentWs() in str(ws)
    assert "NwsServer" in str(ws.server)
