"""Exceptions: the original classes, chosen by the server's stable reason
(spec/errors.md#client-mapping). Tests check reasons, never messages."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from nws.client import (
    LIFO,
    MULTI,
    SINGLE,
    NetWorkSpace,
    NwsConnectException,
    NwsConnectionDroppedException,
    NwsDeclarationFailedException,
    NwsException,
    NwsNoWorkSpaceException,
    NwsOperationException,
    NwsPicklingException,
    NwsServer,
    NwsServerException,
    NwsTimeoutException,
    NwsUnpicklingException,
)


def test_the_exception_hierarchy_is_the_originals():
    assert issubclass(NwsServerException, NwsException)
    assert issubclass(NwsConnectException, NwsServerException)
    assert issubclass(NwsConnectionDroppedException, NwsServerException)
    assert issubclass(NwsOperationException, NwsException)
    for cls in (
        NwsNoWorkSpaceException,
        NwsDeclarationFailedException,
        NwsTimeoutException,
        NwsPicklingException,
        NwsUnpicklingException,
    ):
        assert issubclass(cls, NwsOperationException)
    assert issubclass(NwsTimeoutException, TimeoutError)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_server_listening_raises_nws_connect_exception():
    with pytest.raises(NwsConnectException):
        NwsServer("127.0.0.1", free_port())
    with pytest.raises(NwsConnectException):
        NetWorkSpace("x", "127.0.0.1", free_port())


def test_open_without_create_of_a_missing_workspace_is_no_workspace(nws_server, wsname):
    with pytest.raises(NwsNoWorkSpaceException) as info:
        NetWorkSpace(wsname, create=False)
    assert info.value.reason == "NO_SUCH_WORKSPACE"


def test_deleted_workspace_operations_are_no_workspace(ws, other):
    other.deleteWs(ws.currentWs())
    with pytest.raises(NwsNoWorkSpaceException):
        ws.store("x", 1)
    with pytest.raises(NwsNoWorkSpaceException):
        ws.fetchTry("x")
    with pytest.raises(NwsNoWorkSpaceException):
        other.deleteWs(ws.currentWs())


def test_declaring_another_mode_is_declaration_failed(ws):
    ws.declare("v", SINGLE)
    ws.declare("v", SINGLE)
    with pytest.raises(NwsDeclarationFailedException) as info:
        ws.declare("v", LIFO)
    assert info.value.reason == "MODE_CONFLICT"


def test_an_illegal_mode_or_format_is_a_value_error(ws):
    with pytest.raises(ValueError):
        ws.declare("v", "sideways")
    with pytest.raises(ValueError):
        ws.listVars(format="xml")
    with pytest.raises(ValueError):
        ws.server.listWss(format="xml")


def test_names_must_be_strings(ws):
    with pytest.raises(TypeError):
        ws.store(42, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        NetWorkSpace(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "bad\nname", "x" * 1025])
def test_invalid_names_are_operation_exceptions_with_reason(ws, name):
    with pytest.raises(NwsOperationException) as info:
        ws.store(name, 1)
    assert info.value.reason == "INVALID_NAME"


def test_a_timeout_raises_nws_timeout_exception_and_consumes_nothing(ws):
    t0 = time.monotonic()
    with pytest.raises(NwsTimeoutException) as info:
        ws.fetch("empty", timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 5
    assert info.value.reason == "TIMED_OUT"
    with pytest.raises(TimeoutError):
        ws.find("empty", timeout=0)
    ws.store("empty", 1)
    assert ws.fetch("empty", timeout=5) == 1


def test_a_negative_timeout_is_a_value_error(ws):
    with pytest.raises(ValueError):
        ws.fetch("x", timeout=-1)


def test_iterating_a_lifo_or_multi_variable_is_an_error_not_an_end(ws):
    ws.declare("stack", LIFO)
    ws.declare("bag", MULTI)
    ws.store("stack", 1)
    for var in ("stack", "bag"):
        with pytest.raises(NwsOperationException) as info:
            next(ws.ifindTry(var))
        assert info.value.reason == "ITERATOR_MODE"


def test_deleting_a_variable_wakes_a_waiting_fetch_with_variable_deleted(ws, other):
    errors = []

    def waiter():
        try:
            ws.fetch("doomed")
        except NwsOperationException as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    other.openWs(ws.currentWs()).deleteVar("doomed")
    t.join(10)
    assert not t.is_alive()
    assert [e.reason for e in errors] == ["VARIABLE_DELETED"]


def test_calls_on_a_closed_session_raise_connection_dropped(nws_server, wsname):
    w = NetWorkSpace(wsname)
    w.close()
    w.close()  # idempotent
    with pytest.raises(NwsConnectionDroppedException):
        w.store("x", 1)
    with pytest.raises(NwsConnectionDroppedException):
        w.server.listWss()


def test_a_server_shutdown_fails_waiting_calls_with_connection_dropped():
    from conftest import start_server, stop_server

    srv = start_server()
    w = NetWorkSpace("doomed", srv.host, srv.port)
    errors = []

    def waiter():
        try:
            w.fetch("never")
        except NwsException as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    stop_server(srv)
    t.join(10)
    assert len(errors) == 1 and isinstance(errors[0], NwsConnectionDroppedException)
    with pytest.raises(NwsConnectionDroppedException):
        w.store("x", 1)
