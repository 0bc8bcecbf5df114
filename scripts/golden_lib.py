"""Recording helpers for the golden fixtures in crates/engine/tests/golden/.

A `Recorder` drives one fresh server over HTTP and writes one fixture file. Fixture format (also
documented in crates/engine/tests/golden/README.md):

{
  "scenario": str, "description": str, "recorded_with": "beava 0.0.6",
  "register": {...raw /register body...},
  "register_response": {"status": int, "body": {...}},
  "steps": [
    {"push": {"event": str, "data": {...}}, "t_before_ms": int, "t_after_ms": int,
     "status": int, "expect"?: {...error body, only when status != 200},
     "weir_may_differ"?: str},   # on any step: documented deliberate weir deviation, not compared
    {"raw_push": {"body_text": str}, ... same as push ...,            # sent byte-for-byte
     "weir_may_differ"?: str}                                         # deliberate weir deviation
    {"get": {"table", "key", "features"?}, "t_before_ms", "t_after_ms", "t_ms",
     "status": int, "expect": {...row or error body...}},
    {"batch_get": {"requests": [...]}, "t_before_ms", "t_after_ms", "t_ms",
     "status": int, "expect": {...}},
    {"register": {...}, "t_before_ms", "t_after_ms", "status": int, "expect": {...}},
    {"sleep_ms": int}                                                 # informational
  ],
  "time_dependent": [feature, ...],      # value depends on push/read wall-clock times
  "approx": {feature: rel_tol, ...}       # beava answers from a sketch here
}
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProc  # noqa: E402

ORACLE = os.environ.get("BEAVA_ORACLE", "/work/.venv-oracle/bin/beava")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.path.join(REPO, "crates", "engine", "tests", "golden")


def now_ms() -> float:
    return time.time() * 1000.0


class Recorder:
    def __init__(self, scenario: str, description: str, *, binary: str = ORACLE) -> None:
        self.scenario = scenario
        self.description = description
        self.binary = binary
        self.server = ServerProc(binary)
        self.client: httpx.Client | None = None
        self.fixture: dict[str, Any] = {
            "scenario": scenario,
            "description": description,
            "recorded_with": "beava 0.0.6",
        }
        self.steps: list[dict[str, Any]] = []
        self.time_dependent: list[str] = []
        self.approx: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "Recorder":
        self.server.start()
        self.client = httpx.Client(base_url=f"http://{self.server.http}", timeout=30.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        self.server.stop()

    def _post(self, path: str, content: bytes, ctype: str = "application/json"):
        assert self.client is not None
        t0 = now_ms()
        r = self.client.post(path, content=content, headers={"Content-Type": ctype})
        t1 = now_ms()
        try:
            body = r.json()
        except ValueError:
            body = {"_raw": r.text}
        return r.status_code, body, math.floor(t0), math.ceil(t1)

    # -- actions ---------------------------------------------------------------------------
    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        status, resp, t0, t1 = self._post("/register", json.dumps(body).encode())
        if "register" not in self.fixture:
            self.fixture["register"] = body
            self.fixture["register_response"] = {"status": status, "body": resp}
            if status != 200:
                raise RuntimeError(f"{self.scenario}: initial register failed: {resp}")
        else:
            self.steps.append({"register": body, "t_before_ms": t0, "t_after_ms": t1,
                               "status": status, "expect": resp})
        return resp

    def push(self, event: str, data: dict[str, Any], may_differ: str = "") -> dict[str, Any]:
        body = {"event": event, "data": data}
        status, resp, t0, t1 = self._post("/push", json.dumps(body).encode())
        step: dict[str, Any] = {"push": body, "t_before_ms": t0, "t_after_ms": t1, "status": status}
        if status != 200:
            step["expect"] = resp
        if may_differ:
            step["weir_may_differ"] = may_differ
        self.steps.append(step)
        return resp

    def raw_push(self, body_text: str, note: str = "", may_differ: str = "") -> dict[str, Any]:
        """A /push sent byte-for-byte (HTTP-layer errors, odd JSON). `may_differ` documents a
        deliberate weir deviation: replays do not fail on that step."""
        status, resp, t0, t1 = self._post("/push", body_text.encode("utf-8"))
        step: dict[str, Any] = {"raw_push": {"body_text": body_text}, "t_before_ms": t0,
                                "t_after_ms": t1, "status": status, "expect": resp}
        if note:
            step["note"] = note
        if may_differ:
            step["weir_may_differ"] = may_differ
        self.steps.append(step)
        return resp

    def get(self, table: str, key: Any, features: list[str] | None = None, note: str = "",
            may_differ: str = "") -> Any:
        req: dict[str, Any] = {"table": table, "key": key}
        if features is not None:
            req["features"] = features
        status, resp, t0, t1 = self._post("/get", json.dumps(req).encode())
        step: dict[str, Any] = {"get": req, "t_before_ms": t0, "t_after_ms": t1,
                                "t_ms": (t0 + t1) // 2, "status": status, "expect": resp}
        if note:
            step["note"] = note
        if may_differ:
            step["weir_may_differ"] = may_differ
        self.steps.append(step)
        return resp

    def batch_get(self, requests: list[dict[str, Any]], note: str = "") -> Any:
        req = {"requests": requests}
        status, resp, t0, t1 = self._post("/batch_get", json.dumps(req).encode())
        step: dict[str, Any] = {"batch_get": req, "t_before_ms": t0, "t_after_ms": t1,
                                "t_ms": (t0 + t1) // 2, "status": status, "expect": resp}
        if note:
            step["note"] = note
        self.steps.append(step)
        return resp

    def sleep(self, ms: int) -> None:
        time.sleep(ms / 1000.0)
        self.steps.append({"sleep_ms": ms})

    # -- output ----------------------------------------------------------------------------
    def save(self) -> str:
        self.fixture["steps"] = self.steps
        self.fixture["time_dependent"] = sorted(set(self.time_dependent))
        self.fixture["approx"] = self.approx
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        path = os.path.join(GOLDEN_DIR, f"{self.scenario}.json")
        with open(path, "w") as f:
            json.dump(self.fixture, f, indent=1, sort_keys=False, ensure_ascii=False)
            f.write("\n")
        return path


def event_node(name: str, fields: dict[str, str], optional: list[str] | None = None,
               **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "event", "name": name,
                            "schema": {"fields": fields, "optional_fields": optional or []}}
    node.update(extra)
    return node


def table_node(name: str, upstream: str, keys: list[str], agg: dict[str, Any],
               prefix_ops: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A derivation node shaped like the SDK emits it (schema included)."""
    fields = {k: "str" for k in keys}
    for fname in agg:
        fields[fname] = "f64"
    return {
        "kind": "derivation",
        "name": name,
        "output_kind": "table",
        "upstreams": [upstream],
        "ops": (prefix_ops or []) + [{"op": "group_by", "keys": keys, "agg": agg}],
        "schema": {"fields": fields, "optional_fields": []},
        "table_primary_key": keys,
    }


def agg(op: str, **params: Any) -> dict[str, Any]:
    return {"op": op, "params": params}
