"""A small client of the original (2007) NWS wire protocol, on raw sockets.

Written from spec/legacy.md for our tests; it is not the original client.
Every request is a 4-digit argument count and arguments of a 20-digit length
and bytes; replies are short (4-digit status) or long (status, 20-digit type
descriptor, optional 40-byte iterator cookie, 20-digit length, bytes).
"""

import socket

DIRECT_STRING = 1
BINARY = 2
PYTHON_FP = 0x01000000
R_FP = 0x03000000


class LegacyError(Exception):
    """A reply with a nonzero status."""

    def __init__(self, status, value=b"", metadata=None):
        super().__init__(f"status {status}: {value!r} {metadata or {}}")
        self.status = status
        self.value = value
        self.metadata = metadata or {}


def encode_dict(d):
    out = b"%04d" % len(d)
    for k, v in d.items():
        k, v = k.encode(), v.encode()
        out += b"%04d%s%04d%s" % (len(k), k, len(v), v)
    return out


def encode_args(args):
    out = b"%04d" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"%020d" % len(a) + a
    return out


class LongReply:
    def __init__(self, status, desc, var_id, index, value, metadata):
        self.status = status
        self.desc = desc
        self.var_id = var_id
        self.index = index
        self.value = value
        self.metadata = metadata

    def __repr__(self):
        return (f"LongReply(status={self.status}, desc={self.desc:#x}, "
                f"var_id={self.var_id!r}, index={self.index}, value={self.value[:40]!r})")


class Legacy:
    """One connection. handshake: 'new' (X000 + options), 'old' (1112,
    cookies) or 'nocookie' (0000)."""

    def __init__(self, port, host="127.0.0.1", handshake="new", options=None, timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.options = dict(options or {})
        self.advertised = None
        self.meta_to = self.options.get("MetadataToServer") == "1"
        self.meta_from = self.options.get("MetadataFromServer") == "1"
        if handshake == "new":
            self.sock.sendall(b"X000")
            assert self.recv(4) == b"P000"
            self.advertised = self.recv_dict()
            self.sock.sendall(b"R000" + encode_dict(self.options))
            answer = self.recv(4)
            if answer != b"A000":
                raise ConnectionRefusedError(answer)
            self.cookies = True
        else:
            self.sock.sendall(b"1112" if handshake == "old" else b"0000")
            reply = self.recv(4)
            assert reply == b"2223", reply
            self.cookies = handshake == "old"

    # ----- wire ---------------------------------------------------------
    def recv(self, n):
        chunks = []
        while n > 0:
            b = self.sock.recv(min(n, 1 << 20))
            if not b:
                raise ConnectionError("connection closed")
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def recv_dict(self):
        d = {}
        for _ in range(int(self.recv(4))):
            k = self.recv(int(self.recv(4))).decode()
            d[k] = self.recv(int(self.recv(4))).decode()
        return d

    def send(self, *args, metadata=None):
        data = b""
        if self.meta_to:
            data += encode_dict(metadata or {})
        self.sock.sendall(data + encode_args(args))

    def short(self):
        meta = self.recv_dict() if self.meta_from else None
        status = int(self.recv(4))
        if status:
            raise LegacyError(status, metadata=meta)
        return meta

    def long(self, check=True):
        meta = self.recv_dict() if self.meta_from else None
        status = int(self.recv(4))
        desc = int(self.recv(20))
        var_id, index = "", 0
        if self.cookies:
            var_id = self.recv(20).decode()
            index = int(self.recv(20))
        n = int(self.recv(20))
        value = self.recv(n)
        reply = LongReply(status, desc, var_id, index, value, meta)
        if check and status:
            raise LegacyError(status, value, meta)
        return reply

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # ----- verbs --------------------------------------------------------
    def open_ws(self, ws, owner="4242", persistent=False, create=True):
        args = ["open ws", ws, owner, "yes" if persistent else "no"]
        if not create:
            args.append("no")
        self.send(*args)
        return self.short()

    def use_ws(self, ws, create=True):
        args = ["use ws", ws, "", "no"]
        if not create:
            args.append("no")
        self.send(*args)
        return self.short()

    def delete_ws(self, ws):
        self.send("delete ws", ws)
        return self.short()

    def mktemp_ws(self, template=None):
        self.send(*(["mktemp ws"] + ([template] if template is not None else [])))
        return self.long().value.decode()

    def list_wss(self, ws=None):
        self.send(*(["list wss"] + ([ws] if ws else [])))
        return self.long().value.decode()

    def list_vars(self, ws):
        self.send("list vars", ws)
        return self.long().value.decode()

    def declare(self, ws, var, mode):
        self.send("declare var", ws, var, mode)
        return self.short()

    def delete_var(self, ws, var):
        self.send("delete var", ws, var)
        return self.short()

    def store(self, ws, var, value, desc=None):
        if isinstance(value, str):
            value = value.encode()
            desc = PYTHON_FP | DIRECT_STRING if desc is None else desc
        desc = PYTHON_FP if desc is None else desc
        # The value goes last, as the original clients sent it.
        self.send("store", ws, var, b"%020d" % desc, value)
        return self.short()

    def get(self, op, ws, var, check=True):
        self.send(op, ws, var)
        return self.long(check=check)

    def step(self, op, ws, var, var_id="", index=0, check=True):
        self.send(op, ws, var, b"%-20.20s" % var_id.encode(), b"%020d" % index)
        return self.long(check=check)

    def iterate(self, op, ws, var, limit=1000):
        """Values of an iterator until it ends (the original client's rule:
        an empty, not-direct value is the end)."""
        out, var_id, index = [], "", 0
        for _ in range(limit):
            r = self.step(op, ws, var, var_id, index, check=False)
            if not (r.desc & DIRECT_STRING) and not r.value:
                return out
            if r.status:
                raise LegacyError(r.status, r.value, r.metadata)
            out.append(r.value)
            var_id, index = r.var_id, r.index
        raise AssertionError("iterator did not end")
