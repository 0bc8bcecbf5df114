"""Process lifecycle: version banner, bind lines, ping/health, reset, SIGTERM, restart recovery."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import httpx
import pytest

from conftest import BINARY, IS_BEAVA, VERSION_TEXT, Server, post_json

E = {"kind": "event", "name": "E", "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}
T = {"kind": "derivation", "name": "T", "output_kind": "table", "upstreams": ["E"],
     "ops": [{"op": "group_by", "keys": ["k"], "agg": {"c": {"op": "count", "params": {}},
                                                      "s": {"op": "sum", "params": {"field": "x"}}}}],
     "table_primary_key": ["k"]}


def test_version_flag() -> None:
    out = subprocess.run([BINARY, "--version"], capture_output=True, timeout=10)
    assert out.returncode == 0
    text = out.stdout.decode().strip()
    assert text == VERSION_TEXT and text
    if IS_BEAVA:
        assert text == "beava 0.0.6"


def test_help_flag() -> None:
    out = subprocess.run([BINARY, "--help"], capture_output=True, timeout=10)
    assert out.returncode == 0
    text = out.stdout.decode()
    for flag in ("--config", "--http-addr", "--tcp-addr", "--data-dir", "--memory-only", "--test-mode"):
        assert flag in text


def test_ping_health_ready(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/ready").json() == {"status": "ready"}
    pong = post_json(http, "/ping", {}).json()
    assert pong["pong"] is True and isinstance(pong["registry_version"], int)
    # /ping ignores its body entirely.
    assert http.post("/ping", content=b"not json").json()["pong"] is True


def test_reset_clears_registry_and_bumps_version(http: httpx.Client) -> None:
    assert post_json(http, "/register", {"nodes": [E, T]}).status_code == 200
    post_json(http, "/push", {"event": "E", "data": {"k": "a", "x": 1}})
    v = post_json(http, "/ping", {}).json()["registry_version"]
    r = http.post("/reset", content=b"ignored")
    assert r.status_code == 200 and r.json() == {"reset": True, "registry_version": v + 1}
    assert post_json(http, "/get", {"table": "T", "key": "a"}).json() == {"error": {"code": "unknown_table"}}
    assert post_json(http, "/push", {"event": "E", "data": {"k": "a", "x": 1}}).status_code == 404
    assert post_json(http, "/register", {"nodes": [E, T]}).json()["registry_version"] == v + 2
    assert post_json(http, "/get", {"table": "T", "key": "a"}).json() == {}


def test_sigterm_shuts_down_promptly() -> None:
    s = Server()
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    s.proc.wait(timeout=10)
    assert time.monotonic() - t0 < 6.0
    s.stop()


def test_memory_only_boots() -> None:
    s = Server(extra_args=["--memory-only"])
    try:
        with s.client() as c:
            assert post_json(c, "/register", {"nodes": [E, T]}).status_code == 200
            assert post_json(c, "/push", {"event": "E", "data": {"k": "a", "x": 2}}).status_code == 200
            assert post_json(c, "/get", {"table": "T", "key": "a"}).json() == {"c": 1, "s": 2.0}
    finally:
        s.stop()


def _boot(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "BEAVA_ADMIN_ADDR": "127.0.0.1:0"}
    p = subprocess.Popen([BINARY, "--config", "/dev/null", "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0",
                          "--data-dir", data_dir], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=data_dir)
    deadline = time.monotonic() + 15
    assert p.stdout is not None
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("kind") == "server.http_bound":
            return p, rec["addr"]
    p.kill()
    pytest.fail("server did not bind")


def test_restart_recovers_registry_and_state() -> None:
    """Without --memory-only, a SIGTERM'd server comes back with its registry and feature state."""
    data_dir = tempfile.mkdtemp(prefix="weir-restart-")
    try:
        p, addr = _boot(data_dir)
        try:
            with httpx.Client(base_url=f"http://{addr}") as c:
                assert post_json(c, "/register", {"nodes": [E, T]}).status_code == 200
                for i in range(5):
                    assert post_json(c, "/push", {"event": "E", "data": {"k": "a", "x": i}}).status_code == 200
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        p, addr = _boot(data_dir)
        try:
            with httpx.Client(base_url=f"http://{addr}") as c:
                assert post_json(c, "/ping", {}).json()["registry_version"] == 1
                assert post_json(c, "/get", {"table": "T", "key": "a"}).json() == {"c": 5, "s": 10.0}
                assert post_json(c, "/push", {"event": "E", "data": {"k": "a", "x": 5}}).status_code == 200
                assert post_json(c, "/get", {"table": "T", "key": "a"}).json() == {"c": 6, "s": 15.0}
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
