"""Malformed / hostile HTTP on raw sockets: clear 4xx or a clean close, never a hang or a crash."""
from __future__ import annotations

import json
import socket
import time

import pytest

from conftest import Server
from wire import HttpConn, build_request, send_raw_http

MAX_BODY = 4 * 1024 * 1024
REJECT_STATUSES = {400, 408, 413, 414, 431}

MALFORMED = [
    ("bad_request_line", b"GARBAGE\r\n\r\n"),
    ("bad_http_version", b"GET /health HTTP/9.9\r\n\r\n"),
    ("nul_in_request_line", b"GET /hea\x00lth HTTP/1.1\r\n\r\n"),
    ("header_without_colon", b"GET /health HTTP/1.1\r\nNoColonHere\r\n\r\n"),
    ("too_many_headers", b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(80)) + b"\r\n"),
    ("bad_content_length", b"POST /push HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
    ("negative_content_length", b"POST /push HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
    ("declared_body_too_large", b"POST /push HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1) + b"x" * 1024),
    ("bad_chunk_size", b"POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
]


def _check_rejected(server: Server, data: bytes, *, strict: bool) -> None:
    resp, elapsed = send_raw_http(server.http_addr, data, timeout=10.0)
    assert elapsed < 8.0, "server hung on a malformed request"
    if resp is not None:
        assert resp.status in REJECT_STATUSES, (resp.status, resp.body)
        body = resp.json()
        assert isinstance(body["error"]["code"], str)
    elif strict:
        pytest.fail("connection closed without an HTTP error response")
    _assert_healthy(server)


def _assert_healthy(server: Server) -> None:
    assert server.alive(), "server process died"
    with HttpConn(server.http_addr) as c:
        r = c.request("GET", "/health")
        assert r is not None and r.status == 200 and r.json() == {"status": "ok"}


@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_request_is_rejected_without_hang(server: Server, data: bytes) -> None:
    _check_rejected(server, data, strict=False)


@pytest.mark.weir_only
@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_request_gets_http_protocol_error(server: Server, data: bytes) -> None:
    """weir answers malformed HTTP with a JSON 4xx before closing (beava just drops the socket)."""
    resp, _ = send_raw_http(server.http_addr, data, timeout=10.0)
    assert resp is not None, "no HTTP response before close"
    assert resp.status in REJECT_STATUSES
    assert resp.json()["error"]["code"] in ("http_protocol_error", "payload_too_large")


def test_oversized_body_is_rejected(server: Server) -> None:
    body = b"{" + b" " * (MAX_BODY + 10) + b"}"
    data = build_request("POST", "/push", body)
    t0 = time.monotonic()
    with HttpConn(server.http_addr, timeout=10.0) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once the limit is exceeded
        try:
            resp = c.recv()
        except (ConnectionResetError, BrokenPipeError):
            resp = None
    assert time.monotonic() - t0 < 8.0
    if resp is not None:
        assert resp.status in REJECT_STATUSES
    _assert_healthy(server)


def test_body_of_exactly_4mib_is_read(server: Server) -> None:
    """The 4 MiB limit is inclusive: such a body reaches the JSON parser."""
    body = b"x" * MAX_BODY
    with HttpConn(server.http_addr, timeout=20.0) as c:
        c.send(build_request("POST", "/push", body))
        resp = c.recv()
    assert resp is not None and resp.status == 400
    assert resp.json() == {"error": {"code": "invalid_json_body"}}


def test_oversized_header_section_split_across_reads(server: Server) -> None:
    """More than 8 KiB of headers with no end in sight must not be buffered forever."""
    with HttpConn(server.http_addr, timeout=10.0) as c:
        c.send(b"GET /health HTTP/1.1\r\nX-Big: ")
        closed = False
        try:
            for _ in range(40):  # up to 40 KiB, 1 KiB at a time
                c.send(b"a" * 1024)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            c.sock.settimeout(5.0)
            try:
                resp = c.recv()
            except (ConnectionResetError, socket.timeout, TimeoutError):
                resp = None
            if resp is not None:
                assert resp.status in REJECT_STATUSES
            else:
                assert c.reader.eof, "server neither answered nor closed"
    _assert_healthy(server)


def test_client_disconnect_mid_request(server: Server) -> None:
    for data in (b"POST /push HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"ev", b"GET /hea"):
        host, port = server.http_addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
        s.sendall(data)
        s.close()
    _assert_healthy(server)


def test_pipelined_requests_answered_in_order(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        c.send(build_request("GET", "/health") + build_request("POST", "/ping", b"{}")
               + build_request("GET", "/ready") + build_request("GET", "/nope"))
        rs = [c.recv() for _ in range(4)]
    assert [r.status for r in rs] == [200, 200, 200, 404]
    assert rs[0].json() == {"status": "ok"}
    assert rs[1].json()["pong"] is True
    assert rs[2].json() == {"status": "ready"}
    assert rs[3].json() == {"error": {"code": "not_found", "path": "/nope"}}


def test_keep_alive_many_requests_one_connection(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        for _ in range(100):
            r = c.request("POST", "/ping", b"{}")
            assert r is not None and r.status == 200
            assert r.headers.get("connection", "keep-alive").lower() == "keep-alive"


def test_chunked_request_body(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        r = c.request("POST", "/reset", b"{}")
        assert r.status == 200
        reg = json.dumps({"nodes": [{"kind": "event", "name": "C", "schema": {"fields": {"k": "str"}, "optional_fields": []}},
                                    {"kind": "derivation", "name": "CT", "output_kind": "table", "upstreams": ["C"],
                                     "ops": [{"op": "group_by", "keys": ["k"], "agg": {"n": {"op": "count", "params": {}}}}],
                                     "table_primary_key": ["k"]}]}).encode()
        assert c.request("POST", "/register", reg, {"Content-Type": "application/json"}).status == 200
        payload = b'{"event":"C","data":{"k":"chunky"}}'
        c.send(b"POST /push HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % 10 + payload[:10] + b"\r\n" + b"%x\r\n" % (len(payload) - 10) + payload[10:] + b"\r\n0\r\n\r\n")
        r = c.recv()
        assert r is not None and r.status == 200, r and r.body
        r = c.request("POST", "/get", b'{"table":"CT","key":"chunky"}')
        assert r.json() == {"n": 1}


def test_query_string_and_trailing_slash(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        assert c.request("GET", "/health?verbose=1").json() == {"status": "ok"}
        assert c.request("GET", "/health/").json() == {"status": "ok"}
        assert c.request("POST", "/ping?x=1", b"{}").json()["pong"] is True


def test_http_1_0_request_is_answered(server: Server) -> None:
    resp, _ = send_raw_http(server.http_addr, b"GET /health HTTP/1.0\r\n\r\n")
    assert resp is not None and resp.status == 200 and resp.json() == {"status": "ok"}


def test_no_body_framing_means_empty_body(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        c.send(b"POST /push HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.recv()
        assert r is not None and r.status == 400
        assert r.json() == {"error": {"code": "invalid_json_body"}}
