"""Framed TCP protocol (beava-compat §2) on raw sockets."""
from __future__ import annotations

import json
import struct

import msgpack
import pytest

from conftest import IS_BEAVA, Server
from wire import (CT_JSON, CT_MSGPACK, OP_BATCH_GET, OP_ERROR, OP_GET, OP_GET_MULTI, OP_GET_RESPONSE, OP_MGET,
                  OP_PING, OP_PUSH, OP_PUSH_MANY, OP_PUSH_SYNC, OP_REGISTER, OP_RESET, TcpConn, frame, jframe)

E = {"kind": "event", "name": "E", "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}
T = {"kind": "derivation", "name": "T", "output_kind": "table", "upstreams": ["E"],
     "ops": [{"op": "group_by", "keys": ["k"], "agg": {"c": {"op": "count", "params": {}},
                                                      "s": {"op": "sum", "params": {"field": "x"}}}}],
     "schema": {"fields": {"k": "str"}, "optional_fields": []}, "table_primary_key": ["k"]}


@pytest.fixture()
def tcp(server: Server):
    with TcpConn(server.tcp_addr) as c:
        r = c.call(OP_RESET, {})
        assert r is not None and r.op == OP_GET_RESPONSE and r.json()["reset"] is True
        r = c.call(OP_REGISTER, {"nodes": [E, T]})
        assert r.op == OP_REGISTER and r.json()["status"] == "ok", r
        r = c.call(OP_PUSH, {"event": "E", "body": {"k": "a", "x": 2}})
        assert r.op == OP_PUSH, r
        yield c
    assert server.alive()


def _ping_ok(c: TcpConn) -> None:
    c.send(frame(OP_PING, CT_JSON, b""))
    r = c.recv()
    assert r is not None and r.op == OP_PING
    body = r.json()
    assert isinstance(body["registry_version"], int) and isinstance(body["server_version"], str)


def test_ping_empty_payload(tcp: TcpConn) -> None:
    _ping_ok(tcp)


def test_push_get_batch_get(tcp: TcpConn) -> None:
    r = tcp.call(OP_PUSH, {"event": "E", "body": {"k": "a", "x": 3}})
    assert r.op == OP_PUSH and r.ct == CT_JSON
    ack = r.json()
    assert set(ack) == {"ack_lsn", "idempotent_replay", "registry_version"} and ack["idempotent_replay"] is False
    r = tcp.call(OP_GET, {"table": "T", "key": "a"})
    assert r.op == OP_GET_RESPONSE and r.json() == {"c": 2, "s": 5.0}
    r = tcp.call(OP_GET, {"table": "T", "key": "a", "features": ["c"]})
    assert r.json() == {"c": 2}
    r = tcp.call(OP_GET, {"table": "T", "key": "nobody"})
    assert r.op == OP_GET_RESPONSE and r.json() == {}
    r = tcp.call(OP_BATCH_GET, {"requests": [{"table": "T", "key": "a"}, {"table": "Z", "key": "a"}]})
    assert r.op == OP_GET_RESPONSE
    assert r.json() == {"results": [{"c": 2, "s": 5.0},
                                    {"error": {"code": "unknown_table", "message": "table 'Z' is not a registered aggregation"}}]}


def test_msgpack_get_mirrors_content_type(tcp: TcpConn) -> None:
    tcp.send(frame(OP_GET, CT_MSGPACK, msgpack.packb({"table": "T", "key": "a"})))
    r = tcp.recv()
    assert r.op == OP_GET_RESPONSE and r.ct == CT_MSGPACK
    assert r.body() == {"c": 1, "s": 2.0}
    tcp.send(frame(OP_BATCH_GET, CT_MSGPACK, msgpack.packb({"requests": [{"table": "T", "key": "a"}]})))
    r = tcp.recv()
    assert r.op == OP_GET_RESPONSE and r.ct == CT_JSON  # batch_get always answers JSON
    assert r.json() == {"results": [{"c": 1, "s": 2.0}]}


def test_msgpack_push(tcp: TcpConn) -> None:
    tcp.send(frame(OP_PUSH, CT_MSGPACK, msgpack.packb({"event": "E", "body": {"k": "m", "x": 7}})))
    r = tcp.recv()
    assert r.op == OP_PUSH, r
    assert tcp.call(OP_GET, {"table": "T", "key": "m"}).json() == {"c": 1, "s": 7.0}


def test_push_errors_carry_registry_version(tcp: TcpConn) -> None:
    version = tcp.call(OP_PING, {}).json()["registry_version"]
    r = tcp.call(OP_PUSH, {"event": "Nope", "body": {}})
    assert r.op == OP_ERROR and r.ct == CT_JSON
    assert r.json() == {"error": {"code": "event_not_found"}, "registry_version": version}
    r = tcp.call(OP_PUSH, {"event": "E", "body": {"k": "a"}})
    assert r.json() == {"error": {"code": "invalid_event"}, "registry_version": version}


@pytest.mark.parametrize("payload", [b'{"event":"E"}', b'{"event":"E","data":{"k":"a","x":1}}', b'{"event'])
def test_push_envelope_decode_failure(tcp: TcpConn, payload: bytes) -> None:
    tcp.send(frame(OP_PUSH, CT_JSON, payload))
    r = tcp.recv()
    assert r.op == OP_ERROR
    assert r.json() == {"code": "unsupported"}
    _ping_ok(tcp)


def test_get_errors(tcp: TcpConn) -> None:
    r = tcp.call(OP_GET, {"table": "Z", "key": "a"})
    assert r.op == OP_ERROR and r.json() == {"error": {"code": "unknown_table"}}
    r = tcp.call(OP_GET, {"table": "T", "key": "a|b"})
    assert r.op == OP_ERROR and r.json() == {"error": {"code": "key_parse_failure"}}
    r = tcp.call(OP_GET, {"feature": "c", "key": "a"})
    assert r.op == OP_ERROR and r.json()["error"]["code"] == "unsupported_request_shape"


def test_register_error_and_msgpack_register(tcp: TcpConn) -> None:
    r = tcp.call(OP_REGISTER, {"nodes": [E, T, dict(E, name="1E")]})
    assert r.op == OP_ERROR
    body = r.json()
    assert body["error"]["code"] == "invalid_registration" and body["error"]["path"] == "nodes[2].name"
    assert isinstance(body["registry_version"], int)
    tcp.send(frame(OP_REGISTER, CT_MSGPACK, msgpack.packb({"nodes": []})))
    r = tcp.recv()
    assert r.op == OP_ERROR and r.json()["error"]["code"] == "unsupported_content_type"
    r = tcp.call(OP_REGISTER, {"nodes": [E, T], "dry_run": True})
    assert r.op == OP_REGISTER and r.json() == {"diff": {"additive": [], "destructive": [], "already_present": ["E", "T"]},
                                                 "would_apply": False}


@pytest.mark.parametrize("op", [0x00AA, OP_PUSH_MANY, 0x0030, 0x0031, 0x7777])
def test_unknown_opcode_keeps_connection(tcp: TcpConn, op: int) -> None:
    tcp.send(jframe(op, {}))
    r = tcp.recv()
    assert r.op == OP_ERROR
    body = r.json()
    assert body["error"]["code"] == "unknown_op" and body["error"]["op"] == op
    assert body["error"]["message"] == f"opcode 0x{op:04x} is not recognised by this server"
    _ping_ok(tcp)


def test_push_sync(tcp: TcpConn) -> None:
    """beava 0.0.6 answers op_not_implemented; weir implements PUSH_SYNC as its name says (acked
    with op 0x0011 only after fdatasync, even in relaxed ack mode)."""
    r = tcp.call(OP_PUSH_SYNC, {"event": "E", "body": {"k": "a", "x": 1}})
    if IS_BEAVA:
        assert r.op == OP_ERROR
        assert r.json()["error"]["code"] == "op_not_implemented" and r.json()["error"]["op"] == 0x11
    else:
        assert r.op == OP_PUSH_SYNC, r.json()
        assert r.json()["idempotent_replay"] is False and isinstance(r.json()["ack_lsn"], int)
    _ping_ok(tcp)


@pytest.mark.parametrize("ct", [0x00, 0x03, 0x09, 0xFF])
def test_unknown_content_type_keeps_connection(tcp: TcpConn, ct: int) -> None:
    tcp.send(frame(OP_GET, ct, b'{"table":"T","key":"a"}'))
    r = tcp.recv()
    assert r.op == OP_ERROR and r.json()["error"]["code"] == "unsupported_content_type"
    _ping_ok(tcp)


def test_legacy_mget_and_get_multi(tcp: TcpConn) -> None:
    r = tcp.call(OP_MGET, {"feature": "c", "keys": ["a", "nobody"]})
    assert r.op == OP_GET_RESPONSE and r.json() == {"a": {"c": 1}}
    r = tcp.call(OP_GET_MULTI, {"keys": ["a"], "features": ["c", "s"]})
    assert r.op == OP_GET_RESPONSE and r.json() == {"a": {"c": 1, "s": 2.0}}


def test_pipelined_frames_answered_in_order(tcp: TcpConn) -> None:
    tcp.send(jframe(OP_PUSH, {"event": "E", "body": {"k": "p", "x": 1}})
             + jframe(OP_GET, {"table": "T", "key": "p"})
             + jframe(0x00AA, {})
             + frame(OP_PING, CT_JSON, b""))
    ops = [tcp.recv() for _ in range(4)]
    assert [f.op for f in ops] == [OP_PUSH, OP_GET_RESPONSE, OP_ERROR, OP_PING]
    assert ops[1].json() == {"c": 1, "s": 1.0}


def test_length_below_3_closes(server: Server) -> None:
    with TcpConn(server.tcp_addr) as c:
        c.send(struct.pack(">I", 2) + b"\x00\x00")
        r = c.recv()
        if r is not None:
            assert r.op == OP_ERROR and r.json()["error"]["code"] == "frame_error"
        assert c.recv() is None or c.closed_by_peer(3.0)
    with TcpConn(server.tcp_addr) as c:
        _ping_ok(c)


def test_frame_too_large_errors_and_closes(server: Server) -> None:
    limit = 4 * 1024 * 1024
    with TcpConn(server.tcp_addr) as c:
        c.send(struct.pack(">IHB", limit + 4, OP_PUSH, CT_JSON))
        r = c.recv()
        assert r is not None and r.op == OP_ERROR
        body = r.json()["error"]
        assert body["code"] == "frame_too_large"
        assert body["limit"] == limit + 3 and body["declared"] == limit + 4
        assert c.recv() is None
    with TcpConn(server.tcp_addr) as c:
        _ping_ok(c)


def test_max_size_frame_is_accepted(server: Server) -> None:
    limit = 4 * 1024 * 1024
    with TcpConn(server.tcp_addr, timeout=20) as c:
        payload = json.dumps({"table": "T", "key": "a", "pad": "x" * (limit - 100)}).encode()
        payload = payload + b" " * (limit - len(payload))
        c.send(frame(OP_GET, CT_JSON, payload))
        r = c.recv()
        assert r is not None and r.op in (OP_GET_RESPONSE, OP_ERROR)
        _ping_ok(c)


def test_partial_frame_then_disconnect(server: Server) -> None:
    with TcpConn(server.tcp_addr) as c:
        c.send(struct.pack(">I", 100) + b"\x00\x20\x01{")
    with TcpConn(server.tcp_addr) as c:
        _ping_ok(c)


def test_reset_disabled_over_tcp() -> None:
    s = Server(test_mode=False)
    try:
        with TcpConn(s.tcp_addr) as c:
            r = c.call(OP_RESET, {})
            assert r.op == OP_ERROR and r.json()["error"]["code"] == "reset_disabled_in_production"
            _ping_ok(c)
    finally:
        s.stop()


def test_legacy_batch_too_large(tcp: TcpConn) -> None:
    keys = ["a"] + [str(i) for i in range(10000)]
    for op, body in ((OP_GET_MULTI, {"keys": keys, "features": ["c"]}), (OP_MGET, {"feature": "c", "keys": keys})):
        r = tcp.call(op, body)
        assert r.op == OP_ERROR
        assert r.json() == {"error": {"code": "internal_error", "reason": "batch_too_large: cells=10001 cap=10000"}}
    r = tcp.call(OP_GET_MULTI, {"keys": keys[:10000], "features": ["c"]})
    assert r.op == OP_GET_RESPONSE and r.json() == {"a": {"c": 1}}
