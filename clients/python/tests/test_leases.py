"""Leased fetches (spec/leases.md) and pipelined stores from Python:
NetWorkSpace.fetchLeased / fetchTryLeased / storeMany and NwsLease."""

from __future__ import annotations

import gc

import pytest

from nws.client import NetWorkSpace, NwsLease, NwsTimeoutException


def test_a_leased_value_is_consumed_only_by_ack(ws):
    ws.store("q", "task")
    value, lease = ws.fetchLeased("q")
    assert value == "task" and isinstance(lease, NwsLease) and lease.id > 0 and not lease.settled
    assert ws.fetchTry("q") is None  # taken, though not consumed yet
    lease.ack()
    assert lease.settled
    lease.release()  # no effect after ack
    assert ws.fetchTry("q") is None


def test_release_and_drop_give_the_value_back(ws):
    ws.store("q", 1)
    _, lease = ws.fetchLeased("q")
    lease.release()
    assert ws.fetchTry("q") == 1
    ws.store("q", 2)
    value, lease = ws.fetch_leased("q")
    del lease
    gc.collect()
    assert ws.fetch("q", timeout=5) == 2


def test_with_block_acks_or_releases(ws):
    ws.storeMany("q", [1, 2])
    v, lease = ws.fetchLeased("q")
    with lease:
        pass
    assert lease.settled
    v, lease = ws.fetchLeased("q")
    with pytest.raises(RuntimeError):
        with lease:
            raise RuntimeError("task failed")
    assert ws.fetchTry("q") == 2


def test_the_end_of_the_session_gives_leased_values_back(ws, wsname):
    ws.store("q", "job")
    other = NetWorkSpace(wsname, useUse=True)
    value, lease = other.fetchLeased("q")
    assert value == "job" and ws.fetchTry("q") is None
    other.server.close()
    assert ws.fetch("q", timeout=5) == "job"


def test_try_and_timeout_variants(ws):
    assert ws.fetchTryLeased("none") is None
    assert ws.fetch_try_leased("none", "missing") == "missing"
    with pytest.raises(NwsTimeoutException):
        ws.fetchLeased("none", timeout=0.05)
    ws.store("q", (1, 2))
    (value, lease) = ws.fetchTryLeased("q")
    assert value == (1, 2)
    lease.ack()


def test_store_many_keeps_the_order(ws):
    ws.storeMany("q", range(12000))  # more than one window of pipelined stores
    ws.store_many("q", iter(["a", b"b", {"c": 1}]))
    ws.storeMany("q", [])
    assert list(ws.ifetchTry("q")) == list(range(12000)) + ["a", b"b", {"c": 1}]


def test_store_many_in_slices(ws):
    """Batches that take longer than one 50 ms driving slice: a slice used to
    end right after the outgoing stream had used up its cooperative budget,
    and the stream was never woken again (the runtime dropped the deferred
    wake-up). 200,000 values of 1 KB, in 10 calls, all arrive in order."""
    for k in range(10):
        ws.storeMany("big", ["%06d" % (k * 20000 + i) + "x" * 994 for i in range(20000)])
    row = [line.split("\t") for line in ws.listVars().splitlines() if line.startswith("big\t")]
    assert row[0][1] == "200000"
    assert ws.fetch("big")[:6] == "000000"
    assert ws.fetchTry("big")[:6] == "000001"
