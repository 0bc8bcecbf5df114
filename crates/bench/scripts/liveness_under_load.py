"""Liveness while the data plane is flooded: admin GET /health and data-plane POST /ping latency.

Starts a server binary (weir or beava) with a fresh data dir, registers the README table, floods
it with pipelined TCP msgpack pushes from several processes, and probes `/health` (admin port,
weir only: beava prints no admin address) and `POST /ping` every 10 ms on fresh keep-alive
connections. Prints p50/p99/max per probe.

    .venv/bin/python crates/bench/scripts/liveness_under_load.py target/release/weir [seconds]
"""

import json
import multiprocessing as mp
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import httpx
import msgpack

README = {"nodes": [
    {"kind": "event", "name": "AgentStep", "schema": {"fields": {
        "session_id": "str", "tool": "str", "ok": "bool", "tokens": "i64",
        "latency_ms": "f64", "risky": "bool", "action": "str"}, "optional_fields": []}},
    {"kind": "derivation", "name": "SessionReflexes", "output_kind": "table",
     "upstreams": ["AgentStep"], "table_primary_key": ["session_id"], "ops": [
        {"op": "group_by", "keys": ["session_id"], "agg": {
            "failure_rate_5m": {"op": "ratio", "params": {"window": "5m", "where": "(not ok)"}},
            "top_tool_10m": {"op": "top_k", "params": {"field": "tool", "k": 1, "window": "10m"}},
            "unique_tools_10m": {"op": "n_unique", "params": {"field": "tool", "window": "10m"}},
            "token_burn_1m": {"op": "sum", "params": {"field": "tokens", "window": "1m"}},
            "p95_latency_5m": {"op": "quantile", "params": {"field": "latency_ms", "q": 0.95, "window": "5m"}},
            "risky_streak": {"op": "streak", "params": {"where": "risky"}},
            "last_action": {"op": "last", "params": {"field": "action"}}}}]}]}


def start(binary, data_dir):
    env = dict(os.environ, BEAVA_ADMIN_ADDR="127.0.0.1:0")
    proc = subprocess.Popen(
        [binary, "--config", "/dev/null", "--http-addr", "127.0.0.1:0", "--tcp-addr",
         "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    addrs = {}
    wanted = {"server.http_bound", "server.tcp_bound"}
    if "weir" in os.path.basename(binary):
        wanted.add("server.admin_bound")  # beava prints no admin address
    deadline = time.time() + 15
    while time.time() < deadline and not wanted <= addrs.keys():
        line = proc.stdout.readline()
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("kind", "").endswith("_bound"):
                addrs[rec["kind"]] = rec["addr"]
    return proc, addrs


def flood(tcp_addr, seconds, seed):
    host, port = tcp_addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    end = time.time() + seconds
    i = seed * 1_000_000
    in_flight = 0
    buf = b""
    while time.time() < end:
        frames = []
        for _ in range(64):
            body = msgpack.packb({"event": "AgentStep", "body": {
                "session_id": f"s{i % 100000}", "tool": "search", "ok": i % 5 != 0,
                "tokens": 100 + i % 900, "latency_ms": 50.0 + i % 1000, "risky": i % 7 == 0,
                "action": "lookup"}})
            frames.append(struct.pack(">IHB", len(body) + 3, 0x0010, 2) + body)
            i += 1
        sock.sendall(b"".join(frames))
        in_flight += 64
        while in_flight > 256:
            buf += sock.recv(65536)
            while len(buf) >= 4:
                n = struct.unpack(">I", buf[:4])[0]
                if len(buf) < 4 + n:
                    break
                buf = buf[4 + n:]
                in_flight -= 1


def probe(url, method, seconds):
    samples = []
    end = time.time() + seconds
    with httpx.Client(timeout=8.0) as c:
        while time.time() < end:
            t0 = time.perf_counter()
            try:
                r = c.request(method, url, json={} if method == "POST" else None)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            samples.append((time.perf_counter() - t0) * 1000 if ok else float("inf"))
            time.sleep(0.01)
    return samples


def summary(name, samples):
    finite = sorted(s for s in samples if s != float("inf"))
    failures = len(samples) - len(finite)
    q = lambda p: finite[min(len(finite) - 1, int(p * len(finite)))]
    print(f"{name:28s} n={len(samples):5d} p50={q(0.5):7.2f} ms p99={q(0.99):7.2f} ms "
          f"max={finite[-1]:7.2f} ms failures={failures}")


def main():
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15
    with tempfile.TemporaryDirectory() as data_dir:
        proc, addrs = start(binary, data_dir)
        try:
            http = f"http://{addrs['server.http_bound']}"
            httpx.post(f"{http}/register", json=README).raise_for_status()
            floods = [mp.Process(target=flood, args=(addrs["server.tcp_bound"], seconds + 1, k))
                      for k in range(4)]
            for f in floods:
                f.start()
            time.sleep(1)
            with mp.Pool(2) as pool:
                jobs = [pool.apply_async(probe, (f"{http}/ping", "POST", seconds - 1))]
                if "server.admin_bound" in addrs:
                    jobs.append(pool.apply_async(
                        probe, (f"http://{addrs['server.admin_bound']}/health", "GET", seconds - 1)))
                results = [j.get() for j in jobs]
            for f in floods:
                f.join()
            summary(f"{os.path.basename(binary)} POST /ping", results[0])
            if len(results) > 1:
                summary(f"{os.path.basename(binary)} admin /health", results[1])
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
