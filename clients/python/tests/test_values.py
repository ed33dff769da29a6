"""Values: str as text, bytes as raw, everything else pickled; foreign and
broken values are never lost (spec/values.md)."""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

import pytest

from nws.client import NwsBlob, NwsPicklingException, NwsUnpicklingException


@dataclass(frozen=True)
class Point:
    x: float
    y: float


class Label(str):
    """A str subclass: pickled, so it comes back as itself."""


def raw_of(ws, var):
    """The stored bytes of a value, undecoded (findFile)."""
    buf = io.BytesIO()
    ws.findFile(var, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**100,
        3.25,
        float("inf"),
        complex(1, 2),
        True,
        None,
        (1, 2, 3),
        [1, "a", (2.5, None)],
        {"list": ["a", "b", "c"], "tuple": (1, 2, 3)},
        {1, 2, 3},
        frozenset({"x"}),
        OrderedDict(a=1, b=2),
        Fraction(1, 3),
        Point(1.0, 2.0),
        bytearray(b"abc"),
        (),
        [],
    ],
    ids=repr,
)
def test_python_objects_round_trip_exactly(ws, value):
    ws.store("v", value)
    got = ws.fetch("v")
    assert got == value
    assert type(got) is type(value)


def test_str_travels_as_utf8_text_not_pickled(ws):
    ws.store("s", "héllo wörld ✓")
    assert raw_of(ws, "s") == "héllo wörld ✓".encode()
    got = ws.fetch("s")
    assert got == "héllo wörld ✓" and type(got) is str


def test_bytes_travel_as_raw_bytes(ws):
    data = bytes(range(256))
    ws.store("b", data)
    assert raw_of(ws, "b") == data
    got = ws.fetch("b")
    assert got == data and type(got) is bytes


def test_empty_str_and_empty_bytes_keep_their_type(ws):
    ws.store("e", "")
    ws.store("e", b"")
    assert ws.fetch("e") == "" and ws.fetch("e") == b""


def test_str_subclasses_are_pickled_and_keep_their_class(ws):
    ws.store("l", Label("tag"))
    got = ws.fetch("l")
    assert type(got) is Label and got == "tag"


def test_strings_that_are_not_utf8_are_pickled_not_lost(ws):
    odd = "surrogate \udc80 inside"
    ws.store("odd", odd)
    assert ws.fetch("odd") == odd


def test_other_objects_use_the_highest_pickle_protocol(ws):
    ws.store("p", {"a": 1})
    raw = raw_of(ws, "p")
    assert raw[:2] == bytes([0x80, pickle.HIGHEST_PROTOCOL])
    assert pickle.loads(raw) == {"a": 1}


def test_an_unpicklable_value_raises_nws_pickling_exception_and_stores_nothing(ws):
    with pytest.raises(NwsPicklingException) as info:
        ws.store("f", lambda x: x)
    assert info.value.exception is not None
    assert "f" in str(info.value)
    assert ws.fetchTry("f", "nothing") == "nothing"


@pytest.mark.parametrize("codec", ["r/serialize", "rust/cbor", "octave/whatever"])
def test_a_foreign_value_raises_unpickling_exception_carrying_the_raw_value(ws, codec):
    payload = b"\x58\x0a\x00\x00\x00\x03"
    ws.store("foreign", NwsBlob(codec, payload))
    with pytest.raises(NwsUnpicklingException) as info:
        ws.fetch("foreign")
    exc = info.value
    assert exc.obj == payload and exc.codec == codec
    assert exc.value == NwsBlob(codec, payload)
    # Consumed, not lost: the exception can put it back unchanged.
    assert ws.fetchTry("foreign", "gone") == "gone"
    ws.store("foreign", exc.value)
    with pytest.raises(NwsUnpicklingException):
        ws.find("foreign")


def test_a_broken_pickle_raises_unpickling_exception_with_its_bytes(ws):
    ws.store("broken", NwsBlob("python/pickle", b"\x80\x05not a pickle"))
    with pytest.raises(NwsUnpicklingException) as info:
        ws.fetch("broken")
    assert info.value.obj == b"\x80\x05not a pickle"
    assert info.value.codec == "python/pickle"


def test_json_blobs_decode_to_python_structures(ws):
    ws.store("j", NwsBlob("json", b'{"a": [1, 2.5, null, true], "b": "x"}'))
    assert ws.fetch("j") == {"a": [1, 2.5, None, True], "b": "x"}


def test_blob_checks_its_codec():
    with pytest.raises(ValueError):
        NwsBlob("", b"x")
    with pytest.raises(ValueError):
        NwsBlob("has space", b"x")
    b = NwsBlob("json", b"1")
    assert b.codec == "json" and b.data == b"1" and len(b) == 1
    assert pickle.loads(pickle.dumps(b)) == b


def test_a_100_mib_bytes_value_round_trips(ws):
    big = bytes(range(256)) * (100 * 4096)  # 100 MiB
    ws.store("big", big)
    got = ws.find("big")
    assert len(got) == len(big) and got == big
    assert ws.fetch("big") == big


def test_a_large_pickled_value_round_trips(ws):
    value = list(range(2_000_000))
    ws.store("biglist", value)
    assert ws.fetch("biglist") == value


def test_unicode_workspace_and_variable_names_work(nws_server):
    from nws.client import NetWorkSpace

    with NetWorkSpace("werkbank ✓ 工作区") as w:
        w.store("größe ∑", "wert")
        assert w.fetch("größe ∑") == "wert"
