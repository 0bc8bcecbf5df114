"""Replay detection with `dedupe_key` (beava-compat §4.1), over HTTP and framed TCP, against the
real binary with its WAL on. Runs against beava 0.0.6 too (its observed behaviour is the
reference: the same body plus a header over HTTP, `idempotent_replay: true` over TCP)."""
from __future__ import annotations

from conftest import Server, post_json
from wire import OP_PUSH, TcpConn, jframe

PAY = {"kind": "event", "name": "Pay",
       "schema": {"fields": {"id": "str", "user": "str"}, "optional_fields": ["id"]},
       "dedupe_key": "id", "dedupe_window_ms": 600_000}
PAYERS = {"kind": "derivation", "name": "Payers", "output_kind": "table", "upstreams": ["Pay"],
          "ops": [{"op": "group_by", "keys": ["user"], "agg": {"n": {"op": "count", "params": {}}}}],
          "table_primary_key": ["user"]}
REPLAY = "x-beava-idempotent-replay"


def _count(http, user: str):
    r = post_json(http, "/get", {"table": "Payers", "key": user})
    assert r.status_code == 200, r.text
    return r.json().get("n")


def test_a_repeated_dedupe_key_replays_the_first_ack_and_changes_nothing(http, server: Server) -> None:
    r = post_json(http, "/register", {"nodes": [PAY, PAYERS]})
    assert r.status_code == 200, r.text
    first = post_json(http, "/push", {"event": "Pay", "data": {"id": "p1", "user": "u"}})
    assert first.status_code == 200 and REPLAY not in first.headers
    again = post_json(http, "/push", {"event": "Pay", "data": {"id": "p1", "user": "v"}})
    assert again.status_code == 200
    assert again.content == first.content, "the first push's body, byte for byte"
    assert again.headers.get(REPLAY) == "1"
    assert _count(http, "u") == 1 and _count(http, "v") is None
    # Without a value for the key there is nothing to detect.
    for _ in range(2):
        r = post_json(http, "/push", {"event": "Pay", "data": {"user": "w"}})
        assert r.status_code == 200 and REPLAY not in r.headers
    assert _count(http, "w") == 2

    # Framed TCP, pipelined in one write: a new key twice (the repeat waits for the first), then
    # the key pushed over HTTP.
    with TcpConn(server.tcp_addr) as c:
        c.send(jframe(OP_PUSH, {"event": "Pay", "body": {"id": "p2", "user": "x"}})
               + jframe(OP_PUSH, {"event": "Pay", "body": {"id": "p2", "user": "x"}})
               + jframe(OP_PUSH, {"event": "Pay", "body": {"id": "p1", "user": "x"}}))
        acks = [c.recv() for _ in range(3)]
    assert all(a is not None and a.op == OP_PUSH for a in acks), acks
    bodies = [a.json() for a in acks]
    assert bodies[0]["idempotent_replay"] is False
    assert bodies[1] == {**bodies[0], "idempotent_replay": True}
    assert bodies[2]["idempotent_replay"] is True
    assert bodies[2]["ack_lsn"] == first.json()["ack_lsn"]
    assert _count(http, "x") == 1
