"""Raw HTTP/1.1 and framed-TCP helpers for tests the SDK cannot express."""
from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

OP_PING = 0x0000
OP_REGISTER = 0x0001
OP_PUSH = 0x0010
OP_PUSH_SYNC = 0x0011
OP_PUSH_MANY = 0x0012
OP_GET = 0x0020
OP_MGET = 0x0021
OP_GET_MULTI = 0x0022
OP_GET_RESPONSE = 0x0023
OP_BATCH_GET = 0x0024
OP_RESET = 0x0040
OP_ERROR = 0xFFFF
CT_JSON = 0x01
CT_MSGPACK = 0x02


def split_addr(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def connect(addr: str, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(split_addr(addr), timeout=timeout)


# ------------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------------
@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def build_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                  *, content_length: bool = True) -> bytes:
    hs = {"Host": "127.0.0.1"}
    if content_length:
        hs["Content-Length"] = str(len(body))
    hs.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
    return head.encode("latin-1") + body


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, sep: bytes) -> bytes | None:
        while sep not in self.buf:
            if not self._fill():
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_response(reader: _Reader) -> HttpResponse | None:
    """Reads one response; None if the peer closed before a full response arrived."""
    head = reader.read_until(b"\r\n\r\n")
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = reader.read_n(int(headers["content-length"])) or b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = reader.read_until(b"\r\n")
            if size_line is None:
                break
            size = int(size_line.strip().split(b";")[0], 16)
            if size == 0:
                reader.read_until(b"\r\n")
                break
            body += reader.read_n(size) or b""
            reader.read_n(2)
    return HttpResponse(status, reason, headers, body)


class HttpConn:
    """One keep-alive connection; send raw bytes, read responses in order."""

    def __init__(self, addr: str, timeout: float = 5.0) -> None:
        self.sock = connect(addr, timeout)
        self.reader = _Reader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> HttpResponse | None:
        return read_response(self.reader)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> HttpResponse | None:
        self.send(build_request(method, path, body, headers))
        return self.recv()

    def closed_by_peer(self, wait: float = 2.0) -> bool:
        """True if the peer closes the connection within `wait` seconds (no more data)."""
        self.sock.settimeout(wait)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "HttpConn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_raw_http(addr: str, data: bytes, timeout: float = 5.0) -> tuple[HttpResponse | None, float]:
    """Sends raw bytes on a new connection; returns (first response or None if closed, seconds)."""
    t0 = time.monotonic()
    with HttpConn(addr, timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            return None, time.monotonic() - t0
        try:
            resp = c.recv()
        except (ConnectionResetError, BrokenPipeError):
            resp = None
        return resp, time.monotonic() - t0


# ------------------------------------------------------------------------------------------------
# TCP frames
# ------------------------------------------------------------------------------------------------
@dataclass
class Frame:
    op: int
    ct: int
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)

    def body(self) -> Any:
        if self.ct == CT_MSGPACK:
            import msgpack

            return msgpack.unpackb(self.payload, raw=False)
        return json.loads(self.payload)


def frame(op: int, ct: int, payload: bytes) -> bytes:
    return struct.pack(">IHB", 3 + len(payload), op, ct) + payload


def jframe(op: int, body: Any) -> bytes:
    return frame(op, CT_JSON, json.dumps(body).encode())


class TcpConn:
    def __init__(self, addr: str, timeout: float = 5.0) -> None:
        self.sock = connect(addr, timeout)
        self.reader = _Reader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> Frame | None:
        head = self.reader.read_n(4)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        rest = self.reader.read_n(length)
        if rest is None or len(rest) < 3:
            return None
        op, ct = struct.unpack(">HB", rest[:3])
        return Frame(op, ct, rest[3:])

    def call(self, op: int, body: Any) -> Frame | None:
        self.send(jframe(op, body))
        return self.recv()

    def closed_by_peer(self, wait: float = 2.0) -> bool:
        self.sock.settimeout(wait)
        try:
            if self.reader.buf:
                return False
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.reader.buf += chunk
                return False
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "TcpConn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
