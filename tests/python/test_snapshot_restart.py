"""Snapshots + WAL reclamation + restart from snapshot and WAL tail, on the real binary.

Hazard (durability.md §2.2, §3; seed incident 000): snapshots never happen or never let the WAL
shrink (the incident's 2.4 GB single segment and its honest `removed: 0`), or a restart from a
snapshot plus the WAL tail loses or duplicates acknowledged pushes.

The server runs with a 200 ms snapshot interval and 4 KiB WAL segments. The test pushes (so
several segments are sealed), waits until `/metrics` shows snapshots taken and WAL segments
removed, checks the files on disk (at most two snapshots, old segments gone, the log line that
says what was removed and what remains), pushes some more (the tail the next start must
replay), SIGKILLs the server, restarts it on the same data dir and checks every feature.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BINARY

pytestmark = pytest.mark.weir_only

STARTUP_TIMEOUT = 60.0
EVENT = {"kind": "event", "name": "Pay", "schema": {"fields": {"k": "str", "x": "i64", "note": "str"},
                                                      "optional_fields": []}}
TABLE = {"kind": "derivation", "name": "PayStats", "output_kind": "table", "upstreams": ["Pay"],
         "ops": [{"op": "group_by", "keys": ["k"], "agg": {
             "n": {"op": "count", "params": {}},
             "total": {"op": "sum", "params": {"field": "x"}},
             "last_note": {"op": "last", "params": {"field": "note"}},
             "n_5m": {"op": "count", "params": {"window": "5m"}}}}],
         "table_primary_key": ["k"]}
KEYS = [f"key{i}" for i in range(7)]


class Node:
    """The binary on a persistent data dir; addresses parsed from its JSON log lines."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.addrs: dict[str, str] = {}

    def start(self) -> "Node":
        args = [BINARY, "--config", "/dev/null", "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0",
                "--admin-addr", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BEAVA_", "WEIR_", "RUST_LOG"))}
        env.update(self.env)
        self.lines, self.addrs = [], {}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.data_dir.parent))
        bound = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            try:
                for raw in self.proc.stdout:
                    line = raw.decode("utf-8", "replace").rstrip()
                    self.lines.append(line)
                    rec = parse(line)
                    kind = rec.get("kind", "") if rec else ""
                    if kind in ("server.http_bound", "server.admin_bound"):
                        self.addrs[kind] = rec["addr"]
                    if len(self.addrs) == 2:
                        bound.set()
            except (ValueError, OSError):
                pass  # stdout closed by the teardown while a line was being read
            bound.set()

        threading.Thread(target=reader, daemon=True).start()
        if not bound.wait(STARTUP_TIMEOUT) or len(self.addrs) != 2:
            self.kill()
            pytest.fail("server did not start:\n" + "\n".join(self.lines[-40:]))
        return self

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://{self.addrs['server.http_bound']}", timeout=30.0)

    def metrics(self) -> dict[str, float]:
        r = httpx.get(f"http://{self.addrs['server.admin_bound']}/metrics", timeout=10.0)
        assert r.status_code == 200
        out = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in map(parse, self.lines) if r and r.get("kind") == kind]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()


def parse(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def post(c: httpx.Client, path: str, body: Any) -> httpx.Response:
    return c.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def push_range(node: Node, start: int, end: int, model: dict[str, list]) -> None:
    with node.http() as c:
        for i in range(start, end):
            key = KEYS[i % len(KEYS)]
            note = f"note-{i}-" + "x" * 40
            r = post(c, "/push", {"event": "Pay", "data": {"k": key, "x": i, "note": note}})
            assert r.status_code == 200, r.text
            m = model.setdefault(key, [0, 0, None])
            m[0] += 1
            m[1] += i
            m[2] = note


def check_rows(node: Node, model: dict[str, list]) -> None:
    with node.http() as c:
        for key in KEYS + ["never-pushed"]:
            r = post(c, "/get", {"table": "PayStats", "key": key})
            assert r.status_code == 200, r.text
            row = r.json()
            if key not in model:
                assert row == {}
                continue
            n, total, note = model[key]
            assert row["n"] == n, (key, row)
            assert round(float(row["total"])) == total, (key, row)
            assert row["last_note"] == note, (key, row)
            assert row["n_5m"] == n, (key, row)


def wait_for(what: str, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture()
def data_dir():
    root = Path(tempfile.mkdtemp(prefix="weir-snap-"))
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


def test_snapshot_reclaims_wal_and_restart_after_sigkill_restores_features(data_dir: Path) -> None:
    env = {"BEAVA_SNAPSHOT_INTERVAL_MS": "200", "BEAVA_WAL_SEGMENT_BYTES": "4096"}
    node = Node(data_dir, env).start()
    model: dict[str, list] = {}
    try:
        with node.http() as c:
            assert post(c, "/register", {"nodes": [EVENT, TABLE]}).status_code == 200
        push_range(node, 0, 600, model)  # ~100 KB of WAL: ~25 sealed segments

        # Snapshots ran every 200 ms while pushing; one more covers the last push (LSN 601:
        # the register + 600 pushes). Segments covered by the older retained one are gone.
        wait_for("a snapshot of everything", lambda: node.metrics()["weir_snapshot_last_lsn"] >= 601)
        wait_for("WAL reclamation", lambda: node.metrics()["weir_wal_segments_removed_total"] > 0)
        m = node.metrics()
        assert m["beava_snapshot_last_bytes"] > 0
        assert m["beava_snapshot_last_duration_seconds"] > 0
        assert m["weir_snapshots_total"] >= 2

        snaps = sorted((data_dir / "snapshots").glob("snapshot-*.snap"))
        assert 1 <= len(snaps) <= 2, snaps
        segments = sorted(p.name for p in (data_dir / "wal").glob("*.wal"))
        written = m["weir_wal_bytes_written_total"]
        assert len(segments) < written / 4096 / 2, f"old segments were not reclaimed: {segments}"
        reclaimed = node.records("wal.reclaimed")
        assert reclaimed, "no reclamation log line"
        line = reclaimed[-1]
        for field in ("segments_removed", "bytes_removed", "segments_remaining", "bytes_remaining",
                      "active_segment_bytes", "covered_lsn"):
            assert field in line, line
        assert any(r["segments_removed"] > 0 for r in reclaimed)

        # The tail the next start must replay on top of the snapshot.
        push_range(node, 600, 650, model)
        check_rows(node, model)
    finally:
        node.kill()

    node = Node(data_dir, env).start()
    try:
        recovered = node.records("wal.recovered")
        assert recovered and recovered[-1]["snapshot_lsn"] > 0, recovered
        check_rows(node, model)
        # And it keeps going from there.
        push_range(node, 650, 700, model)
        check_rows(node, model)
    finally:
        node.kill()


def test_graceful_shutdown_writes_a_final_snapshot(data_dir: Path) -> None:
    env = {"BEAVA_SNAPSHOT_INTERVAL_MS": "3600000", "BEAVA_WAL_SEGMENT_BYTES": "4096"}
    node = Node(data_dir, env).start()
    model: dict[str, list] = {}
    with node.http() as c:
        assert post(c, "/register", {"nodes": [EVENT, TABLE]}).status_code == 200
    push_range(node, 0, 40, model)
    assert node.proc is not None
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(timeout=30) == 0
    assert list((data_dir / "snapshots").glob("snapshot-*.snap")), "no final snapshot"

    node = Node(data_dir, env).start()
    try:
        recovered = node.records("wal.recovered")[-1]
        assert recovered["snapshot_lsn"] == 41, recovered  # register + 40 pushes
        assert recovered["records_replayed"] == 0, recovered
        check_rows(node, model)
    finally:
        node.kill()
