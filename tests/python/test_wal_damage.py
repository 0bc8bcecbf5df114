"""WAL damage through the real binary: a torn tail is cut, corruption is refused, and bad input
never reaches the log.

Hazard (durability.md §2.3, §2.4, §2.6; the incident of a torn WAL tail that crash-looped a node
for 5 hours): on restart after a crash the server either (1) refuses to start, or cuts more than
the incomplete last record, because the end of the last segment holds a partly written record;
or (2) "repairs" real corruption in an acknowledged record by silently dropping it and
everything after it; or (3) logs a push it would reject at replay (a control character), so
the log cannot be replayed later. Each test damages the files of a stopped server byte by byte
the way a crash or the disk would, starts the real binary on them and checks what it does,
what it says (exit code 3, `WAL unrepairable`, file/offset/LSN) and that refusal modifies
nothing. persist's own tests sweep every offset and every bit on the library; these check the
same rules end to end through the binary, its logs and `weir wal verify|dump|salvage`.

Sections (a) and (b) sweep the byte layout of plain segments (format version 3), so their servers
run with preallocation off (WEIR_WAL_PREALLOCATE=0); section (d) covers preallocated segments
(format version 4, the default; decision 0007): a SIGKILLed server's zero-filled tail is unused
space, not damage, and a record torn over the zeros is still cut exactly. Each push here is sent
alone and waited for, so each is a record of its own (a run of one push, decision 0024).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import msgpack
import pytest

from conftest import BINARY
from test_crash import DurableServer, post
from wire import CT_JSON, CT_MSGPACK, OP_ERROR, OP_PUSH, OP_REGISTER, TcpConn, frame, jframe

pytestmark = pytest.mark.weir_only

SEGMENT_HEADER = 32
RECORD_HEADER = 32
EXIT_UNREPAIRABLE = 3
N_PUSHES = 20  # LSN 1 is the register, LSNs 2..21 the pushes with x = 1..20
PLAIN = {"WEIR_WAL_PREALLOCATE": "0"}  # format version 3: segments grow, no zero tail

EVENT = {"kind": "event", "name": "Tx", "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}
TABLE = {"kind": "derivation", "name": "TxStats", "output_kind": "table", "upstreams": ["Tx"],
         "ops": [{"op": "group_by", "keys": ["k"], "agg": {"n": {"op": "count", "params": {}},
                                                          "total": {"op": "sum", "params": {"field": "x"}}}}],
         "table_primary_key": ["k"]}


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
def record_spans(segment: bytes) -> list[tuple[int, int, int]]:
    """(start, end, lsn) of every complete record, read with the documented layout
    (docs/design/wal-format.md): 32-byte segment header; record header with the LSN at +4 and
    the payload length at +20."""
    spans = []
    offset = SEGMENT_HEADER
    while offset + RECORD_HEADER <= len(segment):
        (lsn,) = struct.unpack_from("<Q", segment, offset + 4)
        (payload_len,) = struct.unpack_from("<I", segment, offset + 20)
        if lsn == 0:
            break  # zeros: the unused tail of a preallocated segment (LSN 0 is never a record)
        end = offset + RECORD_HEADER + payload_len
        if end > len(segment):
            break
        spans.append((offset, end, lsn))
        offset = end
    return spans


def only_segment(wal_dir: Path) -> Path:
    names = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    assert len(names) == 1, names
    return wal_dir / names[0]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` -> sha256: 'byte-identical' means equal digests."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def tool(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BINARY, "--config", "/dev/null", "wal", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60)


def rows(server: DurableServer, key: str = "a") -> tuple[int, int]:
    with server.client() as c:
        r = post(c, "/get", {"table": "TxStats", "key": key})
        assert r.status_code == 200, r.text
        body = r.json()
        return int(body.get("n", 0)), int(round(float(body.get("total", 0))))


def expected_rows(n_pushes: int) -> tuple[int, int]:
    """Pushes carry x = 1, 2, 3, ...: the first m give (m, m(m+1)/2), so the sum pins down
    exactly *which* pushes were recovered, not just how many."""
    return n_pushes, n_pushes * (n_pushes + 1) // 2


@pytest.fixture(scope="module")
def pristine() -> Iterator[Path]:
    """A data dir holding a register and N_PUSHES acked pushes, left by a SIGKILLed server."""
    root = Path(tempfile.mkdtemp(prefix="weir-wal-damage-"))
    data = root / "pristine"
    server = DurableServer(data, extra_env=PLAIN).start()
    try:
        with server.client() as c:
            assert post(c, "/register", {"nodes": [EVENT, TABLE]}).status_code == 200
            for x in range(1, N_PUSHES + 1):
                r = post(c, "/push", {"event": "Tx", "data": {"k": "a", "x": x}})
                assert r.status_code == 200, r.text
        assert rows(server) == expected_rows(N_PUSHES)
    finally:
        server.kill()
    spans = record_spans(only_segment(data / "wal").read_bytes())
    assert [lsn for _, _, lsn in spans] == list(range(1, N_PUSHES + 2)), spans
    yield data
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def copy_of(pristine: Path, tmp_path: Path):
    def make(name: str = "data") -> Path:
        target = tmp_path / name
        shutil.copytree(pristine, target)
        return target
    return make


# ------------------------------------------------------------------------------------------------
# (a) truncation inside the last two records: a torn tail, cut exactly
# ------------------------------------------------------------------------------------------------
def _cut_points(spans: list[tuple[int, int, int]]) -> list[tuple[str, int, int, bool]]:
    """(label, cut offset, complete pushes expected, zero-extend to the old length)."""
    (s1, e1, _), (s2, e2, _) = spans[-2], spans[-1]
    assert e1 == s2
    n_before_last_two = N_PUSHES - 2
    return [
        ("prev: 1 header byte", s1 + 1, n_before_last_two, False),
        ("prev: mid header", s1 + 16, n_before_last_two, False),
        ("prev: header - 1", s1 + RECORD_HEADER - 1, n_before_last_two, False),
        ("prev: header, no payload", s1 + RECORD_HEADER, n_before_last_two, False),
        ("prev: 1 payload byte", s1 + RECORD_HEADER + 1, n_before_last_two, False),
        ("prev: payload - 1", e1 - 1, n_before_last_two, False),
        ("last: 1 header byte", s2 + 1, N_PUSHES - 1, False),
        ("last: header - 1", s2 + RECORD_HEADER - 1, N_PUSHES - 1, False),
        ("last: header, no payload", s2 + RECORD_HEADER, N_PUSHES - 1, False),
        ("last: payload - 1", e2 - 1, N_PUSHES - 1, False),
        ("prev: mid payload, zeros to old EOF", s1 + RECORD_HEADER + 3, n_before_last_two, True),
        ("last: mid header, zeros to old EOF", s2 + 10, N_PUSHES - 1, True),
    ]


def test_truncated_tail_is_cut_to_exactly_the_complete_records(pristine: Path, copy_of) -> None:
    segment_name = only_segment(pristine / "wal").name
    original = (pristine / "wal" / segment_name).read_bytes()
    spans = record_spans(original)
    record_start = {s: lsn for s, _, lsn in spans}
    for label, cut, want_pushes, zero_extend in _cut_points(spans):
        data = copy_of(f"cut-{cut}-{int(zero_extend)}")
        segment = data / "wal" / segment_name
        damaged = original[:cut] + (b"\0" * (len(original) - cut) if zero_extend else b"")
        segment.write_bytes(damaged)
        torn_at = max(s for s in record_start if s <= cut)
        where = f"{label} (cut at {cut}, torn record at {torn_at})"

        server = DurableServer(data, extra_env=PLAIN).start()
        try:
            assert server.ready, f"{where}: refused to start:\n{server.output()[-3000:]}"
            repaired = server.log_records("wal.torn_tail_repaired")
            assert len(repaired) == 1, f"{where}: {repaired}\n{server.output()[-3000:]}"
            line = repaired[0]
            assert line["offset"] == torn_at and line["lsn"] == record_start[torn_at], f"{where}: {line}"
            assert line["bytes"] == len(damaged) - torn_at, f"{where}: {line}"
            assert segment_name in line["segment"], line
            assert rows(server) == expected_rows(want_pushes), where
        finally:
            server.kill()
        assert segment.read_bytes() == original[:torn_at], f"{where}: not cut exactly at the torn record"
        quarantine = data / "wal" / f"{segment_name}.torn-{torn_at:020}"
        assert quarantine.read_bytes() == damaged[torn_at:], f"{where}: quarantine does not hold the cut bytes"
        assert line["quarantine"] == str(quarantine), line

        # Idempotent: a second start finds a clean log and changes nothing.
        before = tree_digest(data)
        server = DurableServer(data, extra_env=PLAIN).start()
        try:
            assert server.ready, server.output()[-3000:]
            assert server.log_records("wal.torn_tail_repaired") == [], where
            assert rows(server) == expected_rows(want_pushes), where
        finally:
            server.kill()
        assert tree_digest(data) == before, f"{where}: the second start modified files"


def test_cut_exactly_at_a_record_boundary_is_not_damage(pristine: Path, copy_of) -> None:
    segment_name = only_segment(pristine / "wal").name
    original = (pristine / "wal" / segment_name).read_bytes()
    last_start = record_spans(original)[-1][0]
    data = copy_of()
    (data / "wal" / segment_name).write_bytes(original[:last_start])
    before = tree_digest(data)
    server = DurableServer(data, extra_env=PLAIN).start()
    try:
        assert server.ready, server.output()[-3000:]
        assert server.log_records("wal.torn_tail_repaired") == []
        assert rows(server) == expected_rows(N_PUSHES - 1)
    finally:
        server.kill()
    assert tree_digest(data) == before


# ------------------------------------------------------------------------------------------------
# (b) a bit flip in a complete middle record: refuse, name the place, modify nothing
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["payload", "header_lsn", "header_length"])
def test_bit_flip_in_a_middle_record_is_refused_until_salvaged(pristine: Path, copy_of, where: str) -> None:
    data = copy_of()
    segment = only_segment(data / "wal")
    original = segment.read_bytes()
    spans = record_spans(original)
    start, end, lsn = spans[len(spans) // 2]  # a push well inside the acked region
    byte = {"payload": start + RECORD_HEADER + 2, "header_lsn": start + 4, "header_length": start + 23}[where]
    damaged = bytearray(original)
    damaged[byte] ^= 0x10
    segment.write_bytes(bytes(damaged))
    before = tree_digest(data)

    server = DurableServer(data, extra_env=PLAIN).start()
    code = server.wait_exit()
    output = server.output()
    assert not server.ready
    assert code == EXIT_UNREPAIRABLE, f"exit code {code}:\n{output[-3000:]}"
    assert "WAL unrepairable" in output, output[-3000:]
    assert segment.name in output, f"the file is not named:\n{output[-3000:]}"
    assert f"offset {start}" in output, f"the offset {start} is not named:\n{output[-3000:]}"
    assert f"LSN {lsn}" in output, f"the LSN {lsn} is not named:\n{output[-3000:]}"
    assert tree_digest(data) == before, "a refused start modified files"

    # Starting again does not "get used to" it.
    server = DurableServer(data, extra_env=PLAIN).start()
    assert server.wait_exit() == EXIT_UNREPAIRABLE
    verify = tool(data, "verify")
    assert verify.returncode == EXIT_UNREPAIRABLE, verify.stdout + verify.stderr
    dump = tool(data, "dump")
    assert dump.returncode == EXIT_UNREPAIRABLE, dump.stdout + dump.stderr
    dumped = [line for line in dump.stdout.splitlines() if " lsn=" in line and "crc=ok" in line]
    assert len(dumped) >= lsn - 1, dump.stdout  # every record before the damage is listed intact
    assert tree_digest(data) == before, "verify/dump modified files"

    # Salvage is the operator's explicit cut: the server then starts with the valid prefix.
    salvage = tool(data, "salvage")
    assert salvage.returncode == 0, salvage.stdout + salvage.stderr
    salvaged = data / "wal" / "salvaged" / f"{segment.name}.from-{start:020}"
    assert salvaged.read_bytes() == bytes(damaged[start:]), "salvage did not keep the cut bytes"
    assert segment.read_bytes() == original[:start]
    pushes_before = lsn - 2  # LSN 1 is the register
    server = DurableServer(data, extra_env=PLAIN).start()
    try:
        assert server.ready, server.output()[-3000:]
        assert rows(server) == expected_rows(pushes_before)
        with server.client() as c:
            assert post(c, "/push", {"event": "Tx", "data": {"k": "a", "x": 1000}}).status_code == 200
    finally:
        server.kill()
    server = DurableServer(data, extra_env=PLAIN).start()
    try:
        n, total = expected_rows(pushes_before)
        assert rows(server) == (n + 1, total + 1000), "new records after a salvage survive a restart"
    finally:
        server.kill()
    assert tool(data, "verify").returncode == 0


# ------------------------------------------------------------------------------------------------
# (c) control characters are refused at the boundary and never logged
# ------------------------------------------------------------------------------------------------
def test_control_character_never_reaches_the_wal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = "ctl-MARKER-"
    server = DurableServer(data).start()
    try:
        with server.client() as c:
            assert post(c, "/register", {"nodes": [EVENT, TABLE]}).status_code == 200
            assert post(c, "/push", {"event": "Tx", "data": {"k": "ok", "x": 1}}).status_code == 200
            r = post(c, "/push", {"event": "Tx", "data": {"k": marker + "http\x01", "x": 2}})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "control_character_in_string", r.text
        with TcpConn(server.tcp_addr) as t:
            r = t.call(OP_REGISTER, {"nodes": [EVENT, TABLE]})
            assert r is not None and r.op == OP_REGISTER, r
            t.send(jframe(OP_PUSH, {"event": "Tx", "body": {"k": marker + "tcp-json\x01", "x": 3}}))
            r = t.recv()
            assert r is not None and r.op == OP_ERROR, r
            assert r.json()["error"]["code"] == "control_character_in_string", r.json()
            t.send(frame(OP_PUSH, CT_MSGPACK, msgpack.packb({"event": "Tx", "body": {"k": marker + "tcp-mp\x01", "x": 4}})))
            r = t.recv()
            assert r is not None and r.op == OP_ERROR, r
            assert r.json()["error"]["code"] == "control_character_in_string", r.json()
            t.send(frame(OP_PUSH, CT_JSON, b'{"event":"Tx","body":{"k":"ok","x":5}}'))
            r = t.recv()
            assert r is not None and r.op == OP_PUSH, r.json()
        assert rows(server, "ok") == (2, 6)
    finally:
        server.kill()

    dump = tool(data, "dump")
    assert dump.returncode == 0, dump.stdout + dump.stderr
    records = [line for line in dump.stdout.splitlines() if " lsn=" in line]
    # register (HTTP), register again (TCP, idempotent), and the two valid pushes.
    assert len(records) == 4 and all("crc=ok" in line for line in records), dump.stdout
    for path in (data / "wal").rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), f"a refused push reached {path}"
    server = DurableServer(data).start()
    try:
        assert rows(server, "ok") == (2, 6)
    finally:
        server.kill()


# ------------------------------------------------------------------------------------------------
# (d) preallocated segments (format version 4, the default)
# ------------------------------------------------------------------------------------------------
SMALL_SEGMENTS = {"WEIR_WAL_SEGMENT_BYTES": str(1024 * 1024)}


def segments(wal_dir: Path) -> list[Path]:
    return sorted(wal_dir / n for n in os.listdir(wal_dir) if n.endswith(".wal"))


def preallocated_log(data: Path) -> int:
    """Registers and pushes x = 1, 2, ... until the active segment is a preallocated one (the
    spare is prepared in the background; a push that would grow a plain segment adopts it once
    it is ready), at least N_PUSHES pushes; SIGKILLs the server. Returns the number of pushes."""
    server = DurableServer(data, extra_env=SMALL_SEGMENTS).start()
    n = 0
    try:
        with server.client() as c:
            assert post(c, "/register", {"nodes": [EVENT, TABLE]}).status_code == 200
            while n < N_PUSHES or segments(data / "wal")[-1].stat().st_size != 1024 * 1024:
                assert n < 100_000, "the spare was never adopted"
                n += 1
                r = post(c, "/push", {"event": "Tx", "data": {"k": "a", "x": n}})
                assert r.status_code == 200, r.text
    finally:
        server.kill()
    return n


def test_sigkilled_preallocated_server_restarts_without_repair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    n = preallocated_log(data)
    active = segments(data / "wal")[-1]
    content = active.read_bytes()
    (version,) = struct.unpack_from("<I", content, 8)
    assert version == 4, version
    spans = record_spans(content)
    assert spans and spans[-1][1] < len(content) and not any(content[spans[-1][1]:]), \
        "the active segment ends in unused zeros"
    for sealed in segments(data / "wal")[:-1]:
        sealed_bytes = sealed.read_bytes()
        assert record_spans(sealed_bytes)[-1][1] == len(sealed_bytes), f"{sealed} is not sealed at its records"
    verify = tool(data, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    dump = tool(data, "dump")
    assert dump.returncode == 0 and "preallocated_free=" in dump.stdout, dump.stdout[-2000:]
    segment_digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in segments(data / "wal")}

    server = DurableServer(data, extra_env=SMALL_SEGMENTS).start()
    try:
        assert server.ready, server.output()[-3000:]
        assert server.log_records("wal.torn_tail_repaired") == [], server.output()[-3000:]
        assert rows(server) == expected_rows(n)
    finally:
        server.kill()
    assert not list((data / "wal").glob("*.torn-*")), "nothing is quarantined"
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in segments(data / "wal")} == segment_digests


def test_record_torn_inside_preallocated_space_is_cut_exactly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    n = preallocated_log(data)
    active = segments(data / "wal")[-1]
    original = active.read_bytes()
    spans = record_spans(original)
    assert len(spans) >= 2, "the last record is not the first of its segment"
    start, end, lsn = spans[-1]
    # The write of the last record stopped in its payload: the rest still reads as zeros.
    cut = start + RECORD_HEADER + 3
    damaged = original[:cut] + b"\0" * (len(original) - cut)
    active.write_bytes(damaged)

    server = DurableServer(data, extra_env=SMALL_SEGMENTS).start()
    try:
        assert server.ready, server.output()[-3000:]
        repaired = server.log_records("wal.torn_tail_repaired")
        assert len(repaired) == 1, server.output()[-3000:]
        line = repaired[0]
        assert line["offset"] == start and line["lsn"] == lsn, line
        assert line["bytes"] == len(damaged) - start, line
        assert rows(server) == expected_rows(n - 1)
    finally:
        server.kill()
    # The quarantine holds the torn bytes without the unused zeros (the record's own bytes up to
    # the cut end in a non-zero byte here: payloads are JSON/msgpack text).
    quarantine = data / "wal" / f"{active.name}.torn-{start:020}"
    assert quarantine.read_bytes() == damaged[start:cut].rstrip(b"\0")
    assert active.read_bytes() == original[:start]

    # The next start is clean; new pushes survive a restart.
    server = DurableServer(data, extra_env=SMALL_SEGMENTS).start()
    try:
        assert server.ready, server.output()[-3000:]
        assert server.log_records("wal.torn_tail_repaired") == []
        with server.client() as c:
            assert post(c, "/push", {"event": "Tx", "data": {"k": "a", "x": 1000}}).status_code == 200
    finally:
        server.kill()
    server = DurableServer(data, extra_env=SMALL_SEGMENTS).start()
    try:
        count, total = expected_rows(n - 1)
        assert rows(server) == (count + 1, total + 1000)
        assert server.log_records("wal.torn_tail_repaired") == []
    finally:
        server.kill()
