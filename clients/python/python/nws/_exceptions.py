"""The exceptions of nws.client (spec/errors.md#client-mapping).

The hierarchy is the original NWS client's, plus NwsTimeoutException::

    NwsException
    ├── NwsServerException
    │   ├── NwsConnectException             cannot connect
    │   ├── NwsConnectionDroppedException   session ended (SHUTTING_DOWN, PROTOCOL_ERROR, lost)
    │   └── NwsUnsupportedOperationException
    ├── NwsOperationException               any other reason, INTERNAL, unknown reasons
    │   ├── NwsNoWorkSpaceException         NO_SUCH_WORKSPACE
    │   ├── NwsDeclarationFailedException   MODE_CONFLICT, INVALID_MODE
    │   ├── NwsTimeoutException             TIMED_OUT (also a TimeoutError)
    │   ├── NwsPicklingException            a value could not be pickled
    │   └── NwsUnpicklingException          a value could not be decoded (keeps it in .obj)
    └── NwsUnsupportedMethodException

Every exception raised for a server error has ``reason`` (the catalog name,
e.g. ``'TIMED_OUT'``) and ``message`` (human-readable; never parse it).
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "NwsException",
    "NwsServerException",
    "NwsConnectException",
    "NwsConnectionDroppedException",
    "NwsUnsupportedOperationException",
    "NwsOperationException",
    "NwsNoWorkSpaceException",
    "NwsDeclarationFailedException",
    "NwsTimeoutException",
    "NwsUnsupportedMethodException",
    "NwsPicklingException",
    "NwsUnpicklingException",
]


class NwsException(Exception):
    """Base class for all exceptions raised by this module."""

    #: The stable reason from the server's error catalog (``'TIMED_OUT'``,
    #: ``'NO_SUCH_WORKSPACE'``, ...), or None for errors found by the client.
    reason: Optional[str] = None
    #: A human-readable explanation.
    message: str = ""

    def __init__(self, *args: Any, reason: Optional[str] = None) -> None:
        super().__init__(*args)
        if reason is not None:
            self.reason = reason
        if args:
            self.message = str(args[0])


class NwsServerException(NwsException):
    """Error communicating with the NWS server."""


class NwsConnectException(NwsServerException):
    """Unable to connect to the NWS server."""


class NwsConnectionDroppedException(NwsServerException):
    """The NWS session ended (server shutdown, lost connection, or closed)."""


class NwsUnsupportedOperationException(NwsServerException):
    """NWS server does not support this operation."""


class NwsOperationException(NwsException):
    """Error performing an NWS operation."""


class NwsNoWorkSpaceException(NwsOperationException):
    """No such workspace."""


class NwsDeclarationFailedException(NwsOperationException):
    """Variable declaration failed (mode conflict or invalid mode)."""


class NwsTimeoutException(NwsOperationException, TimeoutError):
    """A blocking call's ``timeout`` passed with no value; nothing was consumed."""


class NwsUnsupportedMethodException(NwsException):
    """Unsupported method."""


class NwsPicklingException(NwsOperationException):
    """Error pickling an object to store it.

    ``exception`` is the error pickle raised.
    """

    def __init__(self, exception: BaseException, wsName: str, varName: str) -> None:
        super().__init__(
            "caught %r while pickling object to store in '%s @ %s'"
            % (type(exception).__name__, wsName, varName)
        )
        self.exception = exception
        self._wsName = wsName
        self._varName = varName

    def __str__(self) -> str:
        return self.message


class NwsUnpicklingException(NwsOperationException):
    """A value was received that Python cannot decode.

    Either a ``python/pickle`` value that does not unpickle here (a class
    that cannot be imported, a corrupt stream) or a value another language
    stored with its own codec (``r/serialize``, ``rust/cbor``, ...). The
    value was consumed by the call, so it is kept here: ``obj`` holds its
    raw bytes, ``codec`` its codec and ``value`` both as an ``NwsBlob``
    (which can be stored again unchanged). ``exception`` is the decoding
    error.
    """

    def __init__(
        self,
        exception: BaseException,
        wsName: str,
        varName: str,
        obj: bytes,
        codec: str = "python/pickle",
    ) -> None:
        super().__init__(
            "caught %r while unpickling object retrieved from '%s @ %s' (codec %s, %d bytes): %s"
            % (type(exception).__name__, wsName, varName, codec, len(obj), exception)
        )
        self.exception = exception
        self._wsName = wsName
        self._varName = varName
        self.obj = obj
        self.codec = codec

    @property
    def value(self) -> Any:
        """The undecoded value as an ``NwsBlob(codec, obj)``."""
        from nws._nws import Blob

        return Blob(self.codec, self.obj)

    def __str__(self) -> str:
        return self.message


# Shown as nws.client.<name>, where programs import them from.
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, NwsException):
        _cls.__module__ = "nws.client"
del _cls

_BY_REASON = {
    "NO_SUCH_WORKSPACE": NwsNoWorkSpaceException,
    "MODE_CONFLICT": NwsDeclarationFailedException,
    "INVALID_MODE": NwsDeclarationFailedException,
    "TIMED_OUT": NwsTimeoutException,
    "SHUTTING_DOWN": NwsConnectionDroppedException,
    "PROTOCOL_ERROR": NwsConnectionDroppedException,
}

_BY_KIND = {
    "connect": NwsConnectException,
    "dropped": NwsConnectionDroppedException,
    "protocol": NwsServerException,
}


def _from_error(kind: str, reason: str, message: str) -> NwsException:
    """Builds the exception for an error of the native module.

    ``kind`` is ``server`` (``reason`` is set), ``connect``, ``dropped`` or
    ``protocol``.
    """
    if kind == "server":
        if reason == "UNKNOWN":
            reason = "INTERNAL"
        cls = _BY_REASON.get(reason, NwsOperationException)
        exc = cls("%s: %s" % (reason, message) if message else reason, reason=reason)
        exc.message = message
        return exc
    return _BY_KIND.get(kind, NwsServerException)(message)
