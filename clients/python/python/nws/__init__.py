"""NetWorkSpaces (NWS) for Python.

``nws.client`` is the API (``from nws.client import NetWorkSpace``): the
original NWS client's names and behaviour, on a server speaking the nws.v1
protocol. ``nws._nws`` is the private native module it is built on.
"""

from nws._nws import __version__

__all__ = ["__version__"]
