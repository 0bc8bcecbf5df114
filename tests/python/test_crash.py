"""Ack oracle under SIGKILL: an acknowledged push is never lost, and nothing is invented.

Hazard (durability.md §1.1, §5 "Ack oracle under SIGKILL"): the server answers 200 (HTTP) or
op 0x0010 (TCP) for a push and then loses it when the process dies — because it acked before
the WAL batch was written and fdatasync'ed, because recovery drops a record, or because a kill
in the middle of a segment rotation leaves a log that does not reopen. It also guards against
the opposite error: a restart that applies a push twice or one that was never sent.

Each cycle starts the real binary on a persistent data dir, lets several concurrent pushers run
(HTTP keep-alive through httpx, and one pipelined TCP pusher with MessagePack frames), records
per key every push *sent* and every push *acked*, SIGKILLs the server at a random moment and
restarts it on the same data dir. After every restart, per key:

    confirmed + acked_since  <=  recovered  <=  confirmed + sent_since

for both `count` and `sum`, where `confirmed` is what the previous restart recovered (recovery
fsyncs what it replays, so it is the new floor). Unacked pushes that reached the log may
legitimately survive; that is why the upper bound is "sent".

`WEIR_CRASH_CYCLES` sets the number of kill cycles (default 30; `scripts/soak.sh` raises it),
`WEIR_CRASH_SEED` replays the same random choices (keys, values, kill delays; not the thread
interleaving); the seed is printed in every failure message.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from conftest import BINARY
from wire import CT_MSGPACK, OP_PUSH, TcpConn, frame

pytestmark = pytest.mark.weir_only

CYCLES = int(os.environ.get("WEIR_CRASH_CYCLES", "30"))
SEED = int(os.environ.get("WEIR_CRASH_SEED", str(random.randrange(1 << 32))))
# Generous: a loaded 2-core box may be building Rust while this runs.
STARTUP_TIMEOUT = 60.0

EVENT = {"kind": "event", "name": "Pay", "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}
TABLE = {"kind": "derivation", "name": "PayStats", "output_kind": "table", "upstreams": ["Pay"],
         "ops": [{"op": "group_by", "keys": ["k"], "agg": {"n": {"op": "count", "params": {}},
                                                          "total": {"op": "sum", "params": {"field": "x"}}}}],
         "table_primary_key": ["k"]}
KEYS = [f"key{i}" for i in range(12)]


# ------------------------------------------------------------------------------------------------
# A server on a persistent data dir (conftest's Server owns and deletes its dir; this one does not)
# ------------------------------------------------------------------------------------------------
class DurableServer:
    """The real binary on `data_dir`, ephemeral ports read from its JSON log lines.

    `start()` returns once the HTTP and TCP listeners are bound (recovery is complete by then),
    or once the process exited (check `exit_code`)."""

    def __init__(self, data_dir: str | Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_addr: str | None = None
        self.tcp_addr: str | None = None
        self.lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_addr}"

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "DurableServer":
        args = [BINARY, "--config", "/dev/null", "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0",
                "--admin-addr", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BEAVA_", "WEIR_", "RUST_LOG"))}
        env.update(self.extra_env)
        self.lines, self.stderr_lines = [], []
        self.http_addr = self.tcp_addr = None
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     cwd=str(self.data_dir.parent))
        bound = threading.Event()

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                self.lines.append(line)
                rec = parse_json(line)
                if rec is None:
                    continue
                if rec.get("kind") == "server.http_bound":
                    self.http_addr = rec.get("addr")
                elif rec.get("kind") == "server.tcp_bound":
                    self.tcp_addr = rec.get("addr")
                if self.http_addr and self.tcp_addr:
                    bound.set()
            bound.set()

        def read_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for raw in self.proc.stderr:
                self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip())

        self._threads = [threading.Thread(target=read_stdout, daemon=True),
                         threading.Thread(target=read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        if not bound.wait(timeout):
            self.kill()
            pytest.fail(f"server neither bound nor exited within {timeout}s; output: {self.output()[-3000:]}")
        return self

    @property
    def ready(self) -> bool:
        return bool(self.http_addr and self.tcp_addr) and self.alive()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=10)
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs, exactly like a crash of the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
            for t in self._threads:
                t.join(timeout=10)

    def output(self) -> str:
        return "\n".join(self.lines + ["--- stderr ---"] + self.stderr_lines)

    def log_records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in map(parse_json, self.lines) if r is not None and r.get("kind") == kind]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.http_url, timeout=30.0)


def parse_json(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def post(c: httpx.Client, path: str, body: Any) -> httpx.Response:
    return c.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def register(server: DurableServer) -> None:
    with server.client() as c:
        r = post(c, "/register", {"nodes": [EVENT, TABLE]})
        assert r.status_code == 200, r.text


def read_rows(server: DurableServer) -> dict[str, tuple[int, int]]:
    """(count, sum) per key; fails if the table is gone (the registry did not survive)."""
    rows = {}
    with server.client() as c:
        for key in KEYS:
            r = post(c, "/get", {"table": "PayStats", "key": key})
            assert r.status_code == 200, f"registry lost? {r.status_code} {r.text}"
            body = r.json()
            rows[key] = (int(body.get("n", 0)), int(round(float(body.get("total", 0)))))
    return rows


# ------------------------------------------------------------------------------------------------
# Load generators: each records what it sent (before sending) and what was acked
# ------------------------------------------------------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent_n: Counter[str] = Counter()
        self.sent_sum: Counter[str] = Counter()
        self.acked_n: Counter[str] = Counter()
        self.acked_sum: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def sent(self, key: str, x: int) -> None:
        with self.lock:
            self.sent_n[key] += 1
            self.sent_sum[key] += x

    def acked(self, key: str, x: int) -> None:
        with self.lock:
            self.acked_n[key] += 1
            self.acked_sum[key] += x

    def refuse(self, code: str) -> None:
        with self.lock:
            self.refused[code] += 1


def http_pusher(url: str, tally: Tally, rng: random.Random, stop: threading.Event) -> None:
    try:
        with httpx.Client(base_url=url, timeout=30.0) as c:
            while not stop.is_set():
                key, x = rng.choice(KEYS), rng.randint(1, 9)
                tally.sent(key, x)
                r = post(c, "/push", {"event": "Pay", "data": {"k": key, "x": x}})
                if r.status_code == 200:
                    tally.acked(key, x)
                else:
                    tally.refuse(f"http {r.status_code}")
    except httpx.HTTPError:
        return  # the server died under us: whatever was in flight counts as sent, not acked


def tcp_pipelined_pusher(addr: str, tally: Tally, rng: random.Random, stop: threading.Event) -> None:
    try:
        conn = TcpConn(addr, timeout=30.0)
    except OSError:
        return
    try:
        while not stop.is_set():
            window = [(rng.choice(KEYS), rng.randint(1, 9)) for _ in range(rng.randint(1, 64))]
            for key, x in window:
                tally.sent(key, x)
            conn.send(b"".join(frame(OP_PUSH, CT_MSGPACK, msgpack.packb({"event": "Pay", "body": {"k": k, "x": x}}))
                               for k, x in window))
            for key, x in window:  # responses come in request order
                response = conn.recv()
                if response is None:
                    return
                if response.op == OP_PUSH:
                    tally.acked(key, x)
                else:
                    tally.refuse(f"tcp {response.body()}")
    except OSError:
        return
    finally:
        conn.close()


def run_load_then_kill(server: DurableServer, tally: Tally, rng: random.Random,
                       kill_when: Any = None) -> None:
    """Starts the pushers, SIGKILLs the server after 0.05–0.5 s (or when `kill_when()` is true),
    then joins the pushers."""
    stop = threading.Event()
    assert server.tcp_addr is not None
    threads = [threading.Thread(target=http_pusher, args=(server.http_url, tally, random.Random(rng.random()), stop)),
               threading.Thread(target=http_pusher, args=(server.http_url, tally, random.Random(rng.random()), stop)),
               threading.Thread(target=tcp_pipelined_pusher,
                                args=(server.tcp_addr, tally, random.Random(rng.random()), stop))]
    for t in threads:
        t.start()
    if kill_when is None:
        time.sleep(rng.uniform(0.05, 0.5))  # when to kill, not an assertion
    else:
        kill_when()
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a pusher hung after the kill"


class Oracle:
    """Per key: what the last restart recovered, plus what was sent/acked since."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.confirmed: dict[str, tuple[int, int]] = {k: (0, 0) for k in KEYS}
        self.total_acked = 0
        self.total_recovered_unacked = 0

    def check(self, rows: dict[str, tuple[int, int]], tally: Tally, cycle: int) -> None:
        for key in KEYS:
            base_n, base_sum = self.confirmed[key]
            got_n, got_sum = rows[key]
            where = f"seed={self.seed} cycle={cycle} key={key}"
            assert base_n + tally.acked_n[key] <= got_n <= base_n + tally.sent_n[key], (
                f"{where}: count {got_n} outside [confirmed {base_n} + acked {tally.acked_n[key]}, "
                f"confirmed + sent {tally.sent_n[key]}]")
            assert base_sum + tally.acked_sum[key] <= got_sum <= base_sum + tally.sent_sum[key], (
                f"{where}: sum {got_sum} outside [{base_sum} + {tally.acked_sum[key]}, "
                f"{base_sum} + {tally.sent_sum[key]}]")
            self.total_recovered_unacked += got_n - base_n - tally.acked_n[key]
        self.total_acked += sum(tally.acked_n.values())
        self.confirmed = dict(rows)


def kill_cycles(data_dir: Path, cycles: int, rng: random.Random, oracle: Oracle, *,
                extra_env: dict[str, str] | None = None, kill_when_for: Any = None) -> list[DurableServer]:
    servers = []
    server = DurableServer(data_dir, extra_env=extra_env).start()
    assert server.ready, server.output()[-3000:]
    register(server)
    for cycle in range(cycles):
        tally = Tally()
        kill_when = kill_when_for(server) if kill_when_for else None
        run_load_then_kill(server, tally, rng, kill_when)
        servers.append(server)
        server = DurableServer(data_dir, extra_env=extra_env).start()
        assert server.ready, f"seed={oracle.seed} cycle={cycle}: no restart after SIGKILL:\n{server.output()[-3000:]}"
        oracle.check(read_rows(server), tally, cycle)
    server.kill()
    servers.append(server)
    return servers


@pytest.fixture()
def data_dir():
    root = tempfile.mkdtemp(prefix="weir-crash-")
    try:
        yield Path(root) / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------
# A fresh data dir every this many kills keeps replay time (and the run time) bounded in a soak.
CYCLES_PER_DIR = 25


def test_sigkill_under_load_loses_no_acked_push(data_dir: Path) -> None:
    rng = random.Random(SEED)
    total_acked = total_unacked = total_torn = 0
    for first in range(0, CYCLES, CYCLES_PER_DIR):
        oracle = Oracle(SEED)
        servers = kill_cycles(data_dir / f"from-cycle-{first}", min(CYCLES_PER_DIR, CYCLES - first), rng, oracle)
        total_acked += oracle.total_acked
        total_unacked += oracle.total_recovered_unacked
        total_torn += sum(len(s.log_records("wal.torn_tail_repaired")) for s in servers)
        shutil.rmtree(data_dir / f"from-cycle-{first}", ignore_errors=True)
    print(f"seed={SEED}: {CYCLES} kills, {total_acked} acked pushes, "
          f"{total_unacked} unacked-but-logged pushes recovered, {total_torn} torn tails repaired")
    assert total_acked > 0, "the load never got a push acked: the test proved nothing"


def segments(wal_dir: Path) -> list[str]:
    return sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))


@pytest.mark.parametrize("preallocate", ["0", "1"])
def test_sigkill_during_segment_rotation(data_dir: Path, preallocate: str) -> None:
    """4 KiB segments rotate every few dozen records. Each cycle polls the WAL dir and kills the
    server the moment a rotation shows (a `.wal.tmp` being created, or a new segment file), so
    the kill lands inside or right after the rotation's create/fsync/rename/dir-fsync steps.
    A kill while the `.tmp` exists means the next start must finish from a log whose last
    segment is full, remove the leftover, and rotate again. With preallocation (decision 0007)
    a rotation seals (truncates) the full segment and renames the zero-filled spare into place;
    the spare itself (`spare.wal.tmp`, prepared in the background from startup on) is not a
    sign of rotation, and a fresh one exists after every start."""
    rng = random.Random(SEED ^ 0x5EED)
    oracle = Oracle(SEED)
    observed: Counter[str] = Counter()
    env = {"BEAVA_WAL_SEGMENT_BYTES": "4096", "WEIR_WAL_PREALLOCATE": preallocate}
    spare = "spare.wal.tmp"

    def kill_when_for(server: DurableServer):
        def kill_when() -> None:
            before = set(os.listdir(server.wal_dir))
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline:
                names = set(os.listdir(server.wal_dir))
                if any(n.endswith(".tmp") and n != spare for n in names):
                    observed["tmp file"] += 1
                    return
                if any(n.endswith(".wal") for n in names - before):
                    observed["new segment"] += 1
                    return
            observed["no rotation within 60 s"] += 1
        return kill_when

    servers = kill_cycles(data_dir, 6, rng, oracle, extra_env=env, kill_when_for=kill_when_for)
    assert observed["no rotation within 60 s"] == 0, f"ingest stalled: {dict(observed)}"
    assert oracle.total_acked > 0
    wal_dir = data_dir / "wal"
    # The log still rotates and reopens after all that.
    server = DurableServer(data_dir, extra_env=env).start()
    try:
        assert not [n for n in os.listdir(wal_dir) if n.endswith(".tmp") and n != spare], \
            "a leftover .tmp survived an open"
        n_segments = len(segments(wal_dir))
        before = read_rows(server)["key0"][0]
        with server.client() as c:
            for _ in range(200):
                r = post(c, "/push", {"event": "Pay", "data": {"k": "key0", "x": 1}})
                assert r.status_code == 200, r.text
        assert read_rows(server)["key0"][0] == before + 200
        assert len(segments(wal_dir)) >= n_segments + 2, "no rotation after the kills"
    finally:
        server.kill()
    print(f"seed={SEED}: kill trigger {dict(observed)}, {len(segments(wal_dir))} segments, "
          f"{sum(len(s.log_records('wal.torn_tail_repaired')) for s in servers)} torn tails repaired")
    verify = subprocess.run([BINARY, "--config", "/dev/null", "wal", "verify", "--data-dir", str(data_dir)],
                            capture_output=True, timeout=60)
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()
    server = DurableServer(data_dir, extra_env=env).start()
    try:
        assert read_rows(server)["key0"][0] == before + 200
    finally:
        server.kill()


def test_sigkill_while_snapshots_and_wal_reclamation_run(data_dir: Path) -> None:
    """The same oracle with a snapshot every 200 ms and 4 KiB segments, so that snapshots are
    written, renamed and retired, and covered segments deleted, all the time (durability.md §5:
    kills "at random points (ingest, rotation, snapshot, WAL deletion)"). Each cycle kills the
    server at one of: a snapshot temp file seen, a new snapshot file seen, a WAL segment seen
    deleted, or a random moment. Every restart must load a snapshot (or the WAL alone) plus the
    tail and still hold every acked push; the final state must equal the oracle's."""
    rng = random.Random(SEED ^ 0x5A95)
    oracle = Oracle(SEED)
    observed: Counter[str] = Counter()
    env = {"BEAVA_SNAPSHOT_INTERVAL_MS": "200", "BEAVA_WAL_SEGMENT_BYTES": "4096"}
    cycles = max(4, min(20, CYCLES))

    def kill_when_for(server: DurableServer):
        snap_dir = server.data_dir / "snapshots"

        def names(d: Path) -> set[str]:
            try:
                return set(os.listdir(d))
            except FileNotFoundError:
                return set()

        def kill_when() -> None:
            trigger = rng.choice(["snapshot tmp", "new snapshot", "segment deleted", "random"])
            if trigger == "random":
                time.sleep(rng.uniform(0.05, 0.6))  # when to kill, not an assertion
                observed["random"] += 1
                return
            snaps_before, wal_seen = names(snap_dir), names(server.wal_dir)
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                snaps, wal = names(snap_dir), names(server.wal_dir)
                if trigger == "snapshot tmp" and any(n.endswith(".snap.tmp") for n in snaps):
                    observed[trigger] += 1
                    return
                if trigger in ("snapshot tmp", "new snapshot") and any(
                        n.endswith(".snap") for n in snaps - snaps_before):
                    observed["new snapshot"] += 1
                    return
                if trigger == "segment deleted" and any(n.endswith(".wal") for n in wal_seen - wal):
                    observed[trigger] += 1
                    return
                wal_seen |= wal
            observed[f"no {trigger} within 20 s"] += 1
        return kill_when

    servers = kill_cycles(data_dir, cycles, rng, oracle, extra_env=env, kill_when_for=kill_when_for)
    assert oracle.total_acked > 0
    stalled = {k: v for k, v in observed.items() if k.startswith("no ")}
    assert not stalled, f"seed={SEED}: snapshots or reclamation stalled: {dict(observed)}"
    written = sum(len(s.log_records("snapshot.written")) for s in servers)
    loaded = sum(len(s.log_records("snapshot.loaded")) for s in servers)
    assert written > 0 and loaded > 0, f"snapshots written {written}, loaded at a start {loaded}"
    damaged = [r for s in servers for r in s.log_records("snapshot.damaged")]
    assert not damaged, f"a kill left a snapshot under its final name that does not verify: {damaged}"
    # A clean start (no load, no kill in between) reads exactly what the last restart recovered.
    server = DurableServer(data_dir, extra_env=env).start()
    try:
        assert read_rows(server) == oracle.confirmed
    finally:
        server.kill()
    print(f"seed={SEED}: {cycles} kills {dict(observed)}, {oracle.total_acked} acked pushes, "
          f"{written} snapshots written, {loaded} starts from a snapshot")
