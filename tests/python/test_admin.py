"""Admin sidecar. beava prints no `server.admin_bound` line, so these skip unless the binary does."""
from __future__ import annotations

import httpx
import pytest

from conftest import Server, post_json


@pytest.fixture()
def admin(server: Server) -> httpx.Client:
    if not server.admin_addr:
        pytest.skip("binary does not report server.admin_bound")
    with httpx.Client(base_url=f"http://{server.admin_addr}", timeout=10) as c:
        yield c


def test_admin_health_ready(admin: httpx.Client) -> None:
    assert admin.get("/health").json() == {"status": "ok"}
    assert admin.get("/ready").json() == {"status": "ready"}


def test_admin_registry_and_metrics(server: Server, admin: httpx.Client) -> None:
    with server.client() as c:
        assert post_json(c, "/reset", {}).status_code == 200
        nodes = [{"kind": "event", "name": "A", "schema": {"fields": {"k": "str"}, "optional_fields": []}},
                 {"kind": "derivation", "name": "AT", "output_kind": "table", "upstreams": ["A"],
                  "ops": [{"op": "group_by", "keys": ["k"], "agg": {"n": {"op": "count", "params": {}}}}],
                  "table_primary_key": ["k"]}]
        r = post_json(c, "/register", {"nodes": nodes})
        assert r.status_code == 200
        version = r.json()["registry_version"]
        post_json(c, "/push", {"event": "A", "data": {"k": "x"}})
    reg = admin.get("/registry").json()
    assert reg["version"] == version and reg["node_count"] == 2
    m = admin.get("/metrics")
    assert m.status_code == 200
    assert m.headers["content-type"].startswith("text/plain")
    text = m.text
    for name in ("beava_registry_version", "beava_node_count", "beava_cold_entity_evictions_total",
                 "beava_entity_count_resident", "beava_bucket_reclaim_total"):
        assert f"# TYPE {name}" in text, name
    assert f"beava_registry_version {version}" in text


def test_admin_unknown_path_404(admin: httpx.Client) -> None:
    assert admin.get("/nope").status_code == 404


@pytest.mark.weir_only
def test_metrics_wal_fsync_latency_histogram(server: Server, admin: httpx.Client) -> None:
    """Every acknowledged push waited for an fdatasync; their latencies are a Prometheus histogram."""
    with server.client() as c:
        assert post_json(c, "/reset", {}).status_code == 200
        nodes = [{"kind": "event", "name": "FsyncProbe", "schema": {"fields": {"k": "str"}, "optional_fields": []}}]
        assert post_json(c, "/register", {"nodes": nodes}).status_code == 200
        for i in range(5):
            assert post_json(c, "/push", {"event": "FsyncProbe", "data": {"k": str(i)}}).status_code == 200
    lines = [l for l in admin.get("/metrics").text.splitlines() if l.startswith("weir_wal_fsync_seconds")]
    buckets = [(l.split('le="')[1].split('"')[0], int(l.rsplit(" ", 1)[1])) for l in lines if "_bucket" in l]
    assert buckets[-1][0] == "+Inf"
    counts = [n for _, n in buckets]
    assert counts == sorted(counts), "cumulative buckets"
    count = int(next(l for l in lines if l.startswith("weir_wal_fsync_seconds_count")).split()[1])
    total = float(next(l for l in lines if l.startswith("weir_wal_fsync_seconds_sum")).split()[1])
    assert count == counts[-1] and count >= 5
    assert total > 0
