"""Start/stop a beava-compatible server binary on ephemeral ports (used by the golden recorder).

Usage:
    with ServerProc("/path/to/beava", memory_only=True) as s:
        s.http  # "127.0.0.1:PORT"
        s.tcp   # "127.0.0.1:PORT"
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time


class ServerProc:
    def __init__(self, binary: str, *, memory_only: bool = True, test_mode: bool = True,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 startup_timeout: float = 15.0) -> None:
        self.binary = binary
        self.memory_only = memory_only
        self.test_mode = test_mode
        self.extra_args = extra_args or []
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: str | None = None
        self.tcp: str | None = None
        self.admin: str | None = None
        self.lines: list[str] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> "ServerProc":
        self._tmp = tempfile.TemporaryDirectory(prefix="weir-golden-")
        args = [self.binary, "--config", "/dev/null", "--http-addr", "127.0.0.1:0",
                "--tcp-addr", "127.0.0.1:0", "--data-dir", self._tmp.name]
        if self.memory_only:
            args.append("--memory-only")
        if self.test_mode:
            args.append("--test-mode")
        args += self.extra_args
        env = {**os.environ, "BEAVA_ADMIN_ADDR": "127.0.0.1:0", **self.extra_env}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=self._tmp.name)
        ready = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                self.lines.append(line)
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                kind = rec.get("kind")
                if kind == "server.http_bound":
                    self.http = rec.get("addr")
                elif kind == "server.tcp_bound":
                    self.tcp = rec.get("addr")
                elif kind == "server.admin_bound":
                    self.admin = rec.get("addr")
                if self.http and self.tcp:
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        ready.wait(self.startup_timeout)
        if not (self.http and self.tcp):
            self.stop()
            raise RuntimeError(f"server did not bind: {self.lines[-20:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "ServerProc":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
