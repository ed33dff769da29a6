"""NetWorkSpaces (NWS) for Python.

``nws.client`` is the API (``from nws.client import NetWorkSpace``): the
original NWS client's names and behaviour, on a server speaking the nws.v1
protocol. ``nws.sleigh`` (``Sleigh``) runs Python functions in parallel on
worker processes coordinated through a workspace; ``nws.sleigh_worker`` is
its worker program. ``nws._nws`` is the private native module the client is
built on.
"""

from nws._nws import __version__

__all__ = ["__version__"]
