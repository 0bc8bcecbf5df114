"""64 concurrent connections (32 HTTP keep-alive + 32 framed TCP) pushing and reading."""
from __future__ import annotations

import json
import threading

from conftest import Server
from wire import OP_GET, OP_GET_RESPONSE, OP_PUSH, HttpConn, TcpConn

N_CONN = 64
PUSHES = 25

NODES = [
    {"kind": "event", "name": "Hit", "schema": {"fields": {"who": "str", "n": "i64"}, "optional_fields": []}},
    {"kind": "derivation", "name": "PerWho", "output_kind": "table", "upstreams": ["Hit"],
     "ops": [{"op": "group_by", "keys": ["who"], "agg": {"hits": {"op": "count", "params": {}},
                                                        "total": {"op": "sum", "params": {"field": "n"}},
                                                        "last_n": {"op": "last", "params": {"field": "n"}}}}],
     "table_primary_key": ["who"]},
    {"kind": "derivation", "name": "AllHits", "output_kind": "table", "upstreams": ["Hit"],
     "ops": [{"op": "group_by", "keys": [], "agg": {"all_hits": {"op": "count", "params": {}},
                                                   "whos": {"op": "n_unique", "params": {"field": "who"}}}}],
     "table_primary_key": []},
]


def test_64_concurrent_connections(server: Server) -> None:
    with HttpConn(server.http_addr) as c:
        assert c.request("POST", "/reset", b"{}").status == 200
        r = c.request("POST", "/register", json.dumps({"nodes": NODES}).encode(), {"Content-Type": "application/json"})
        assert r.status == 200, r.body
    barrier = threading.Barrier(N_CONN)
    errors: list[str] = []

    def http_worker(i: int) -> None:
        who = f"h{i}"
        try:
            with HttpConn(server.http_addr, timeout=30) as c:
                barrier.wait(10)
                for n in range(PUSHES):
                    r = c.request("POST", "/push", json.dumps({"event": "Hit", "data": {"who": who, "n": n}}).encode())
                    assert r is not None and r.status == 200, r and r.body
                    row = c.request("POST", "/get", json.dumps({"table": "PerWho", "key": who}).encode()).json()
                    assert row["hits"] == n + 1 and row["last_n"] == n, row
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(f"{who}: {e!r}")

    def tcp_worker(i: int) -> None:
        who = f"t{i}"
        try:
            with TcpConn(server.tcp_addr, timeout=30) as c:
                barrier.wait(10)
                for n in range(PUSHES):
                    f = c.call(OP_PUSH, {"event": "Hit", "body": {"who": who, "n": n}})
                    assert f is not None and f.op == OP_PUSH, f
                    f = c.call(OP_GET, {"table": "PerWho", "key": who})
                    assert f.op == OP_GET_RESPONSE
                    row = f.json()
                    assert row["hits"] == n + 1 and row["last_n"] == n, row
        except Exception as e:  # noqa: BLE001
            errors.append(f"{who}: {e!r}")

    threads = [threading.Thread(target=http_worker if i % 2 == 0 else tcp_worker, args=(i,)) for i in range(N_CONN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "workers hung"
    assert not errors, errors[:5]
    with HttpConn(server.http_addr) as c:
        row = c.request("POST", "/get", b'{"table":"AllHits","key":""}').json()
        assert row == {"all_hits": N_CONN * PUSHES, "whos": N_CONN}
        batch = c.request("POST", "/batch_get", json.dumps(
            {"requests": [{"table": "PerWho", "key": f"{'h' if i % 2 == 0 else 't'}{i}"} for i in range(N_CONN)]}).encode()).json()
        expected_total = float(sum(range(PUSHES)))
        assert batch["results"] == [{"hits": PUSHES, "total": expected_total, "last_n": PUSHES - 1}] * N_CONN
    assert server.alive()
