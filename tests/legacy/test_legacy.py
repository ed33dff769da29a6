"""The original NWS wire protocol against our server (spec/legacy.md).

Our own raw-socket client (legacy_client.py) exercises both handshakes, every
request type, the iterator cookies, the listing formats, status codes, large
values and limits, ownership, blocking, sniffing and shutdown; the interop
tests also use our Python 3 gRPC client (nws.client) on the same port.
"""

import glob
import os
import pickle
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from legacy_client import (
    BINARY,
    DIRECT_STRING,
    PYTHON_FP,
    R_FP,
    Legacy,
    LegacyError,
    encode_dict,
)


def name(prefix):
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def conn(server):
    c = Legacy(server.port)
    yield c
    c.close()


@pytest.fixture
def ws(conn):
    w = name("legacy ws")
    conn.open_ws(w)
    return w


def wss_listing(text):
    """Parses `list wss` the way the original test suite did."""
    assert text.endswith("\n")
    out = {}
    for line in text[:-1].split("\n"):
        if not line:
            continue
        t = line.split("\t")
        assert len(t) == 5, t
        assert t[0][0] in " >"
        assert t[2] in ("True", "False")
        names = t[4].split(",") if t[4] else []
        assert int(t[3]) == len(names)
        out[t[0][1:]] = dict(mine=t[0][0] == ">", owner=t[1], persistent=t[2] == "True", vars=names)
    return out


def vars_listing(text):
    out = {}
    if text:
        assert not text.endswith("\n")
        for line in text.split("\n"):
            t = line.split("\t")
            assert len(t) == 5, t
            out[t[0]] = (int(t[1]), int(t[2]), int(t[3]), t[4])
    return out


# ----- handshakes -------------------------------------------------------------


def test_new_handshake_advertises_the_original_options(server):
    c = Legacy(server.port)
    assert c.advertised == {"MetadataToServer": "", "MetadataFromServer": "", "KillServerOnClose": ""}
    assert c.cookies
    c.close()


def test_an_option_the_server_does_not_offer_is_refused_with_F000(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"X000")
    assert s.recv(4) == b"P000"
    time.sleep(0.1)
    s.recv(4096)  # the advertised options
    s.sendall(b"R000" + encode_dict({"SSL": "1"}))
    assert s.recv(4) == b"F000"
    assert s.recv(1) == b""  # and closed
    s.close()


def test_old_handshake_1112_gets_2223_and_cookies(server):
    c = Legacy(server.port, handshake="old")
    assert c.cookies
    w = name("old")
    c.open_ws(w)
    for i in range(3):
        c.store(w, "x", str(i))
    assert c.iterate("ifindTry", w, "x") == [b"0", b"1", b"2"]
    assert c.get("fetch", w, "x").value == b"0"
    c.close()


def test_old_handshake_0000_gets_replies_without_cookies(server):
    c = Legacy(server.port, handshake="nocookie")
    assert not c.cookies
    w = name("nocookie")
    c.open_ws(w)
    c.store(w, "x", "v")
    r = c.get("find", w, "x")
    assert (r.status, r.desc, r.value) == (0, DIRECT_STRING, b"v")
    r = c.get("fetchTry", w, "nothing here", check=False)
    assert (r.status, r.value) == (1, b"")
    assert w in c.list_wss()
    c.close()


def test_metadata_in_both_directions(server):
    c = Legacy(server.port, options={"MetadataToServer": "1", "MetadataFromServer": "1"})
    w = name("meta")
    c.send("open ws", w, "1", "no", metadata={"wstype": "ignored"})
    assert c.short() == {}
    c.send("store", w, "x", b"%020d" % DIRECT_STRING, b"hi", metadata={"k": "v"})
    assert c.short() == {}
    r = c.get("fetchTry", w, "y", check=False)
    assert r.status == 1 and r.metadata["nwsReason"] == "no value available"
    with pytest.raises(LegacyError) as e:
        c.use_ws(name("missing"), create=False)
    assert e.value.status == 100
    assert e.value.metadata["nwsError"] == "NO_SUCH_WORKSPACE"
    c.close()


def test_kill_server_on_close_and_deadman_are_accepted_and_ignored(server):
    c = Legacy(server.port, options={"KillServerOnClose": "1"})
    c.send("deadman")
    c.short()
    c.close()
    time.sleep(0.2)
    d = Legacy(server.port)
    assert "__default" in d.list_wss()
    d.close()


# ----- workspaces -------------------------------------------------------------


def test_list_wss_format_mine_owner_persistence_and_variables(server, conn, ws):
    conn.store(ws, "b", "1")
    conn.store(ws, "a", "2")
    other = Legacy(server.port)
    other_ws = name("other")
    other.open_ws(other_ws, owner="777", persistent=True)
    listing = wss_listing(conn.list_wss())
    assert listing[ws]["mine"] and not listing[other_ws]["mine"]
    assert listing[ws]["vars"] == ["a", "b"]
    assert listing[ws]["owner"].endswith("(4242)")
    assert listing[other_ws]["owner"].endswith("(777)")
    assert listing[other_ws]["persistent"] and not listing[ws]["persistent"]
    assert "__default" in listing and listing["__default"]["persistent"]
    # one workspace only
    only = wss_listing(conn.list_wss(ws))
    assert list(only) == [ws]
    other.delete_ws(other_ws)
    other.close()


def test_use_ws_without_create_on_a_missing_workspace_is_status_100(conn):
    with pytest.raises(LegacyError) as e:
        conn.use_ws(name("missing"), create=False)
    assert e.value.status == 100
    with pytest.raises(LegacyError) as e:
        conn.open_ws(name("missing"), create=False)
    assert e.value.status == 100


def test_owned_non_persistent_workspaces_go_with_their_connection(server, conn):
    owner = Legacy(server.port)
    gone, kept = name("gone"), name("kept")
    owner.open_ws(gone)
    owner.open_ws(kept, persistent=True)
    conn.use_ws(gone)  # using never owns (our fix of the original)
    owner.close()
    for _ in range(100):
        listing = wss_listing(conn.list_wss())
        if gone not in listing:
            break
        time.sleep(0.02)
    assert gone not in listing
    assert kept in listing
    conn.delete_ws(kept)


def test_a_user_leaving_does_not_purge_the_owners_workspace(server, conn, ws):
    user = Legacy(server.port)
    user.open_ws(ws)  # already owned by conn: user does not become owner
    user.store(ws, "x", "kept")
    user.close()
    time.sleep(0.2)
    assert conn.get("fetch", ws, "x").value == b"kept"


def test_delete_ws(server, conn):
    w = name("deleted")
    conn.open_ws(w)
    other = Legacy(server.port)
    other.delete_ws(w)
    with pytest.raises(LegacyError) as e:
        conn.store(w, "x", "fail")
    assert e.value.status == 100
    with pytest.raises(LegacyError):
        other.delete_ws(w)
    other.close()


def test_mktemp_templates(conn):
    a = conn.mktemp_ws()
    assert a.startswith("__ws__")
    b = conn.mktemp_ws("__pyws__%d")
    c = conn.mktemp_ws("__Rws__%010d")
    assert b.startswith("__pyws__") and c.startswith("__Rws__")
    assert len({a, b, c}) == 3
    listing = wss_listing(conn.list_wss())
    assert listing[b]["mine"]  # owned by the caller (our fix of the original)
    for bad in ["foo", "%d%d", "%s"]:
        with pytest.raises(LegacyError) as e:
            conn.mktemp_ws(bad)
        assert e.value.status == 1
    conn.delete_ws(b)


# ----- variables --------------------------------------------------------------


def test_declare_and_list_vars_format(conn, ws):
    conn.declare(ws, "s", "single")
    for v in ["a", "b", "c"]:
        conn.store(ws, "s", v)
    conn.declare(ws, "m", "multi")
    conn.store(ws, "m", "x")
    conn.store(ws, "m", "x")
    conn.declare(ws, "l", "lifo")
    conn.store(ws, "f", "100")
    conn.get("fetchTry", ws, "f")
    assert vars_listing(conn.list_vars(ws)) == {
        "s": (1, 0, 0, "single"),
        "m": (2, 0, 0, "multi"),
        "l": (0, 0, 0, "lifo"),
        "f": (0, 0, 0, "fifo"),
    }
    for mode in ["fifo", "lifo", "single"]:
        with pytest.raises(LegacyError) as e:
            conn.declare(ws, "m", mode)
        assert e.value.status == 1
    with pytest.raises(LegacyError):
        conn.declare(ws, "new", "__barrier")
    conn.declare(ws, "m", "multi")  # same mode: fine
    conn.delete_var(ws, "s")
    conn.delete_var(ws, "never existed")  # idempotent (ours)
    assert "s" not in vars_listing(conn.list_vars(ws))
    with pytest.raises(LegacyError) as e:
        conn.list_vars(name("missing"))
    assert e.value.status == 100


def test_modes_fifo_lifo_single_multi(conn, ws):
    for i in range(5):
        conn.store(ws, "fifo", str(i))
    assert [conn.get("fetch", ws, "fifo").value for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
    conn.declare(ws, "lifo", "lifo")
    for i in range(5):
        conn.store(ws, "lifo", str(i))
    assert [conn.get("fetchTry", ws, "lifo").value for _ in range(5)] == [b"4", b"3", b"2", b"1", b"0"]
    conn.declare(ws, "single", "single")
    for i in range(5):
        conn.store(ws, "single", str(i))
    assert conn.get("find", ws, "single").value == b"4"
    assert conn.get("fetch", ws, "single").value == b"4"
    assert conn.get("fetchTry", ws, "single", check=False).status == 1
    conn.declare(ws, "multi", "multi")
    for i in range(5):
        conn.store(ws, "multi", str(i))
    got = {conn.get("fetch", ws, "multi").value for _ in range(5)}
    assert got == {b"0", b"1", b"2", b"3", b"4"}


def test_try_variants_answer_status_1_and_an_empty_value(conn, ws):
    for op in ["fetchTry", "findTry"]:
        r = conn.get(op, ws, "missing", check=False)
        assert (r.status, r.desc, r.value) == (1, 0, b"")
    assert "missing" not in conn.list_vars(ws)  # no placeholder left behind


def test_descriptors_round_trip(conn, ws):
    blob = pickle.dumps({"a": (1, 2)}, 1)
    cases = [
        (PYTHON_FP | DIRECT_STRING, b"text", DIRECT_STRING),
        (R_FP | DIRECT_STRING, b"r text", DIRECT_STRING),
        (R_FP | DIRECT_STRING | BINARY, b"\x00\x01", DIRECT_STRING | BINARY),
        (PYTHON_FP | DIRECT_STRING, b"\xff not utf-8", DIRECT_STRING | BINARY),
        (PYTHON_FP, blob, PYTHON_FP),
        (R_FP, b"X\n\x00\x00", R_FP),
        (0x02000000, b"matlab", 0x02000000),
        (PYTHON_FP | DIRECT_STRING, b"", DIRECT_STRING),
    ]
    for desc, data, _ in cases:
        conn.store(ws, "v", data, desc=desc)
    for desc, data, back in cases:
        r = conn.get("fetch", ws, "v")
        assert (r.desc, r.value) == (back, data), hex(desc)
    conn.store(ws, "p", blob, desc=PYTHON_FP)
    assert pickle.loads(conn.get("find", ws, "p").value) == {"a": (1, 2)}


def test_a_bad_descriptor_or_missing_workspace_fails_the_store(conn, ws):
    conn.send("store", ws, "x", b"not a number", b"v")
    with pytest.raises(LegacyError) as e:
        conn.short()
    assert e.value.status == 1
    with pytest.raises(LegacyError) as e:
        conn.store(name("missing"), "x", "v")
    assert e.value.status == 100


def test_unknown_verbs_and_missing_arguments_get_a_reply(conn, ws):
    conn.send("frobnicate", ws)
    with pytest.raises(LegacyError) as e:
        conn.short()
    assert e.value.status == 1
    conn.send("fetch", ws)  # no variable
    r = conn.long(check=False)
    assert r.status == 1
    conn.store(ws, "x", "still in step")
    assert conn.get("fetch", ws, "x").value == b"still in step"


# ----- iterators --------------------------------------------------------------


def test_ifindtry_cookies_restart_and_reset(conn, ws):
    for i in range(5):
        conn.store(ws, "it", str(i))
    r = conn.step("ifindTry", ws, "it")
    assert r.value == b"0" and len(r.var_id) == 20 and r.var_id.strip().isdigit() and r.index == 0
    var_id = r.var_id
    seen = [r.value]
    while True:
        r = conn.step("ifindTry", ws, "it", var_id, r.index, check=False)
        if r.status:
            break
        assert r.var_id == var_id
        seen.append(r.value)
    assert seen == [b"0", b"1", b"2", b"3", b"4"]
    assert (r.status, r.desc, r.value) == (1, 0, b"")
    conn.store(ws, "it", "5")  # restart from the last cookie
    assert conn.step("ifindTry", ws, "it", var_id, 4).value == b"5"
    assert conn.iterate("ifindTry", ws, "it") == [b"0", b"1", b"2", b"3", b"4", b"5"]  # reset


def test_ifetchtry_consumes_and_concurrent_iterators_share(conn, ws):
    for i in range(6):
        conn.store(ws, "q", str(i))
    a = conn.step("ifetchTry", ws, "q")
    b = conn.step("ifetchTry", ws, "q")
    a2 = conn.step("ifetchTry", ws, "q", a.var_id, a.index)
    assert [a.value, b.value, a2.value] == [b"0", b"1", b"2"]
    assert conn.iterate("ifetchTry", ws, "q") == [b"3", b"4", b"5"]
    assert conn.iterate("ifetchTry", ws, "q") == []


def test_ifind_and_ifetch_end_when_the_variable_is_deleted(server, conn, ws):
    conn.store(ws, "v", "a")
    r = conn.step("ifind", ws, "v")
    assert r.value == b"a"
    conn.delete_var(ws, "v")
    end = conn.step("ifind", ws, "v", r.var_id, r.index, check=False)
    assert (end.status, end.desc, end.value) == (1, 0, b"")
    # a blocked ifetch ends too when another connection deletes the variable
    conn.store(ws, "w", "x")
    first = conn.step("ifetch", ws, "w")
    other = Legacy(server.port)
    timer = threading.Timer(0.3, lambda: other.delete_var(ws, "w"))
    timer.start()
    end = conn.step("ifetch", ws, "w", first.var_id, first.index, check=False)
    assert (end.status, end.value) == (1, b"")
    timer.join(10)
    other.close()


def test_a_cookie_we_never_issued_ends_the_iterator(conn, ws):
    conn.store(ws, "v", "a")
    for bogus in ["garbage", "00000000000000000000", "99999999999999999999"]:
        r = conn.step("ifindTry", ws, "v", bogus, 0, check=False)
        assert (r.status, r.desc, r.value) == (1, 0, b""), bogus


def test_iterators_on_lifo_fail_clearly_not_as_the_end(conn, ws):
    conn.declare(ws, "stack", "lifo")
    conn.store(ws, "stack", "x")
    r = conn.step("ifindTry", ws, "stack", check=False)
    assert r.status == 1009
    assert r.desc & DIRECT_STRING and b"iterators need FIFO or SINGLE" in r.value


def test_ifindtry_on_single(conn, ws):
    conn.declare(ws, "s", "single")
    conn.store(ws, "s", "100")
    r = conn.step("ifindTry", ws, "s")
    assert r.value == b"100"
    conn.store(ws, "s", "101")
    conn.store(ws, "s", "102")
    r = conn.step("ifindTry", ws, "s", r.var_id, r.index)
    assert r.value == b"102"
    assert conn.step("ifindTry", ws, "s", r.var_id, r.index, check=False).status == 1


# ----- blocking ---------------------------------------------------------------


def test_a_blocked_fetch_is_served_by_another_connections_store(server, conn, ws):
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", conn.get("fetch", ws, "later")))
    t.start()
    other = Legacy(server.port)
    for _ in range(100):
        if vars_listing(other.list_vars(ws)).get("later") == (0, 1, 0, "unknown"):
            break
        time.sleep(0.02)
    assert vars_listing(other.list_vars(ws))["later"] == (0, 1, 0, "unknown")
    other.store(ws, "later", "now")
    t.join(10)
    assert got["r"].value == b"now"
    assert "later" in other.list_vars(ws)
    other.close()


def test_a_client_that_leaves_while_blocked_loses_nothing(server, conn, ws):
    waiter = Legacy(server.port)
    waiter.send("fetch", ws, "x")
    time.sleep(0.2)
    waiter.close()
    time.sleep(0.2)
    conn.store(ws, "x", "not lost")
    assert conn.get("fetchTry", ws, "x").value == b"not lost"
    assert "x\t0\t0\t0\tfifo" == conn.list_vars(ws)


def test_deleting_the_variable_wakes_a_blocked_fetch_with_an_error(server, conn, ws):
    other = Legacy(server.port)
    timer = threading.Timer(0.3, lambda: other.delete_var(ws, "gone"))
    timer.start()
    r = conn.get("fetch", ws, "gone", check=False)
    assert r.status == 1 and r.value == b""
    timer.join(10)
    other.close()


# ----- values and limits ------------------------------------------------------


def test_100_mib_values_round_trip(conn, ws):
    big = bytes(range(256)) * (100 * 4096)  # 100 MiB
    conn.store(ws, "big", big, desc=PYTHON_FP | DIRECT_STRING | BINARY)
    r = conn.get("fetch", ws, "big")
    assert len(r.value) == len(big) and r.value == big


def test_limits_answer_legacy_status_codes_and_keep_the_connection(make_server):
    s = make_server("--max-value-size", "1MiB", "--max-memory", "3MiB")
    c = Legacy(s.port)
    w = name("limits")
    c.open_ws(w)
    with pytest.raises(LegacyError) as e:
        c.store(w, "x", b"x" * (2 << 20), desc=PYTHON_FP)
    assert e.value.status == 1007
    c.store(w, "y", b"y" * (1 << 20), desc=PYTHON_FP)
    c.store(w, "y", b"y" * (1 << 20), desc=PYTHON_FP)
    c.store(w, "y", b"y" * (1 << 20), desc=PYTHON_FP)
    with pytest.raises(LegacyError) as e:
        c.store(w, "y", b"y" * (1 << 20), desc=PYTHON_FP)
    assert e.value.status == 1008
    assert c.get("fetch", w, "y").value == b"y" * (1 << 20)
    c.close()


def test_garbage_closes_only_that_connection(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"1112")
    assert s.recv(4) == b"2223"
    s.sendall(b"00x1garbage")
    assert s.recv(100) == b""
    s.close()
    c = Legacy(server.port)
    assert "__default" in c.list_wss()
    c.close()


# ----- one port, two protocols -------------------------------------------------


def nws_client():
    try:
        from nws.client import NetWorkSpace
    except ImportError:
        pytest.skip("our Python client (nws) is not installed: scripts/python.sh install")
    return NetWorkSpace


def test_values_cross_between_legacy_and_grpc_clients_on_one_port(server, conn, ws):
    NetWorkSpace = nws_client()
    conn.store(ws, "s", "from legacy")
    conn.store(ws, "p", pickle.dumps({"k": [1, 2.5, "x"]}, 2), desc=PYTHON_FP)
    with NetWorkSpace(ws, serverPort=server.port, useUse=True) as g:
        assert g.fetch("s") == "from legacy"
        assert g.fetch("p") == {"k": [1, 2.5, "x"]}
        g.store("back", "from grpc")
        g.store("back", b"\x00raw")
        g.store("back", (1, 2))
    r = conn.get("fetch", ws, "back")
    assert (r.desc, r.value) == (DIRECT_STRING, b"from grpc")
    r = conn.get("fetch", ws, "back")
    assert (r.desc, r.value) == (DIRECT_STRING | BINARY, b"\x00raw")
    r = conn.get("fetch", ws, "back")
    assert r.desc == PYTHON_FP and pickle.loads(r.value) == (1, 2)


def python2():
    found = shutil.which("python2.7") or shutil.which("python2")
    if not found:
        found = next(iter(sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))), None)
    return found


def test_a_real_python2_pickle_is_read_by_our_python3_client(server, conn, ws):
    NetWorkSpace = nws_client()
    py2 = python2()
    if not py2:
        pytest.skip("no python2.7 on this machine")
    env = dict(os.environ, PYENV_VERSION="2.7.18")
    out = subprocess.run(
        [py2, "-c", "import cPickle, sys; sys.stdout.write(cPickle.dumps("
         "{'a': [1, 2.5, (3, 'x')], 'u': u'caf\\xe9', 'n': None}, 1).encode('hex'))"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    conn.store(ws, "py2", bytes.fromhex(out), desc=PYTHON_FP)
    with NetWorkSpace(ws, serverPort=server.port, useUse=True) as g:
        assert g.fetch("py2") == {"a": [1, 2.5, (3, "x")], "u": "caf\u00e9", "n": None}


def test_no_legacy_turns_the_sniffing_off(make_server):
    s = make_server("--no-legacy")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(b"X000")
    reply = b""
    try:
        while len(reply) < 4:
            b = sock.recv(4 - len(reply))
            if not b:
                break
            reply += b
    except OSError:
        pass
    assert reply != b"P000"
    sock.close()


def test_legacy_port_serves_only_the_original_protocol(make_server):
    s = make_server("--legacy-port", "0")
    assert s.legacy_port and s.legacy_port != s.port
    c = Legacy(s.legacy_port)
    w = name("port")
    c.open_ws(w)
    c.store(w, "x", "shared store")
    d = Legacy(s.port)
    assert d.get("fetch", w, "x").value == b"shared store"
    c.close()
    d.close()


def test_shutdown_ends_legacy_connections(make_server):
    s = make_server()
    c = Legacy(s.port)
    w = name("shutdown")
    c.open_ws(w)
    idle = Legacy(s.port)
    c.send("fetch", w, "never")
    time.sleep(0.2)
    started = time.time()
    s.stop()
    assert time.time() - started < 8
    # The waiting fetch is answered SHUTTING_DOWN (1012) or the socket closes.
    try:
        r = c.long(check=False)
        assert r.status == 1012
    except ConnectionError:
        pass
    with pytest.raises((ConnectionError, OSError)):
        idle.list_wss()
