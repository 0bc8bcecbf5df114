"""Client-driven test suite: the real beava 0.0.6 SDK (and raw sockets) against a server binary.

The binary comes from $WEIR_TEST_BINARY (default: <repo>/target/debug/weir). The same suite must
pass against beava itself (`WEIR_TEST_BINARY=/path/to/beava`); tests of deliberate weir
improvements carry the `weir_only` marker and are skipped when the binary is beava.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
# Absolute: servers are spawned with cwd = their temp data dir.
BINARY = os.path.abspath(os.environ.get("WEIR_TEST_BINARY") or str(REPO / "target" / "debug" / "weir"))
GOLDEN_DIR = REPO / "crates" / "engine" / "tests" / "golden"


def _version_text() -> str:
    try:
        out = subprocess.run([BINARY, "--version"], capture_output=True, timeout=10, check=False)
        return (out.stdout + out.stderr).decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as e:  # pragma: no cover - reported by fixtures
        return f"<cannot run {BINARY}: {e}>"


VERSION_TEXT = _version_text()
_forced = os.environ.get("WEIR_TEST_IS_BEAVA")
IS_BEAVA = (_forced == "1") if _forced in ("0", "1") else VERSION_TEXT.startswith("beava ")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "weir_only: deliberate weir improvement; skipped against beava")
    config.addinivalue_line("markers", "beava_quirk: asserts a beava quirk weir may deliberately fix")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_BEAVA:
        skip = pytest.mark.skip(reason="weir-only behaviour (binary is beava)")
        for item in items:
            if "weir_only" in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"server binary: {BINARY} ({VERSION_TEXT}); is_beava={IS_BEAVA}"


class Server:
    """A server process on ephemeral ports, addresses parsed from its stdout JSON lines."""

    def __init__(self, *, test_mode: bool = True, extra_env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, startup_timeout: float = 15.0) -> None:
        if not (os.path.isfile(BINARY) and os.access(BINARY, os.X_OK)):
            pytest.fail(f"server binary not found or not executable: {BINARY} (set WEIR_TEST_BINARY)")
        self.data_dir = tempfile.mkdtemp(prefix="weir-pytest-")
        args = [BINARY, "--config", "/dev/null", "--http-addr", "127.0.0.1:0",
                "--tcp-addr", "127.0.0.1:0", "--data-dir", self.data_dir]
        if test_mode:
            args.append("--test-mode")
        args += extra_args or []
        env = {**os.environ, "BEAVA_ADMIN_ADDR": "127.0.0.1:0", **(extra_env or {})}
        if not test_mode:
            env.pop("BEAVA_TEST_MODE", None)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=self.data_dir)
        self.http_addr: str | None = None
        self.tcp_addr: str | None = None
        self.admin_addr: str | None = None
        self.lines: list[str] = []
        ready = threading.Event()
        admin_seen = threading.Event()

        def reader() -> None:
            try:
                read_lines()
            except (ValueError, OSError):
                pass  # stdout closed by the teardown while a line was being read
            ready.set()
            admin_seen.set()

        def read_lines() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if len(self.lines) < 2000:
                    self.lines.append(line)
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                kind = rec.get("kind")
                if kind == "server.http_bound":
                    self.http_addr = rec.get("addr")
                elif kind == "server.tcp_bound":
                    self.tcp_addr = rec.get("addr")
                elif kind == "server.admin_bound":
                    self.admin_addr = rec.get("addr")
                    admin_seen.set()
                if self.http_addr and self.tcp_addr:
                    ready.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        ready.wait(startup_timeout)
        if not (self.http_addr and self.tcp_addr):
            self.stop()
            pytest.fail(f"server did not report its bound addresses; stdout tail: {self.lines[-20:]}")
        # weir also reports the admin sidecar; beava does not (give it a moment, then move on).
        if not IS_BEAVA:
            admin_seen.wait(1.0)

    @property
    def http_url(self) -> str:
        return f"http://{self.http_addr}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.tcp_addr}"

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.http_url, timeout=kw.pop("timeout", 10.0), **kw)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One shared test-mode server; use `app`/`http` fixtures which reset it first."""
    s = Server()
    yield s
    s.stop()


@pytest.fixture()
def fresh_server() -> Iterator[Server]:
    """A brand-new server for tests that need a pristine registry_version etc."""
    s = Server()
    yield s
    s.stop()


@pytest.fixture()
def http(server: Server) -> Iterator[httpx.Client]:
    """Raw httpx client on a reset shared server."""
    with server.client() as c:
        r = c.post("/reset", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        yield c
    assert server.alive(), "server died during the test"


def post_json(c: httpx.Client, path: str, body: Any, **kw: Any) -> httpx.Response:
    return c.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, **kw)
