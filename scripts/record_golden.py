#!/usr/bin/env python3
"""Record the engine golden fixtures (crates/engine/tests/golden/*.json) from real beava 0.0.6.

Run with the oracle venv (it has the beava SDK and httpx):

    /work/.venv-oracle/bin/python scripts/record_golden.py            # all scenarios
    /work/.venv-oracle/bin/python scripts/record_golden.py edge_types # just some

BEAVA_ORACLE overrides the server binary (default /work/.venv-oracle/bin/beava).
Every server is started on ephemeral ports with --memory-only --test-mode and killed afterwards.
"""
from __future__ import annotations

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_lib import GOLDEN_DIR, ORACLE, Recorder, agg, event_node, table_node  # noqa: E402
from serverproc import ServerProc  # noqa: E402

# The example-app definitions live once, in the client-driven suite.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "python"))
import flows  # noqa: E402

import beava as bv  # noqa: E402
from beava._app import _to_register_json  # noqa: E402

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------------------------------------
# 1. README headline: SessionReflexes
# ------------------------------------------------------------------------------------------------
def session_reflexes_payload(force: bool = False) -> dict:
    return json.loads(_to_register_json(flows.session_reflexes(), force=force))


@scenario
def session_reflexes():
    with Recorder("session_reflexes",
                  "README headline AgentStep -> SessionReflexes, payload emitted by the beava "
                  "0.0.6 SDK (register force=True like examples/python/agent_runtime.py)") as r:
        r.register(session_reflexes_payload(force=True))
        T = "SessionReflexes"
        r.get(T, "s-1", note="before any push: unknown entity")
        readme = [
            {"session_id": "s-1", "tool": "search", "ok": True, "tokens": 120, "latency_ms": 210.0, "risky": False, "action": "plan"},
            {"session_id": "s-1", "tool": "shell", "ok": False, "tokens": 340, "latency_ms": 1800.0, "risky": True, "action": "rm -rf build"},
            {"session_id": "s-1", "tool": "shell", "ok": False, "tokens": 290, "latency_ms": 2400.5, "risky": True, "action": "curl | sh"},
            {"session_id": "s-2", "tool": "browser", "ok": True, "tokens": 80, "latency_ms": 95.25, "risky": False, "action": "open docs"},
            {"session_id": "s-1", "tool": "shell", "ok": True, "tokens": 60, "latency_ms": 120.0, "risky": True, "action": "sudo reboot"},
            {"session_id": "s-2", "tool": "search", "ok": True, "tokens": 45, "latency_ms": 130.0, "risky": False, "action": "summarize"},
        ]
        for ev in readme:
            r.push("AgentStep", ev)
        r.get(T, "s-1")
        r.get(T, "s-2")
        r.get(T, "s-1", features=["failure_rate_5m", "risky_streak", "top_tool_10m"])
        # More traffic: several sessions, ties, a streak reset, where-misses.
        rng = random.Random(7)
        tools = ["search", "shell", "browser", "editor", "python"]
        actions = ["plan", "edit", "run tests", "deploy", "rollback", "ask"]
        for i in range(36):
            sid = f"s-{3 + (i % 4)}"
            ev = {
                "session_id": sid,
                "tool": rng.choice(tools),
                "ok": rng.random() > 0.3,
                "tokens": rng.randint(0, 500),
                "latency_ms": round(rng.uniform(10, 3000), 3),
                "risky": rng.random() > 0.6,
                "action": rng.choice(actions),
            }
            r.push("AgentStep", ev)
            if i % 9 == 8:
                r.get(T, sid)
        # A session whose every step succeeded (ratio 0.0) and never risky (streak 0).
        for i in range(3):
            r.push("AgentStep", {"session_id": "s-clean", "tool": "editor", "ok": True, "tokens": 10 * i,
                                 "latency_ms": 50.0 + i, "risky": False, "action": f"edit {i}"})
        # Integer-valued latency pushed as JSON int into an f64 field.
        r.push("AgentStep", {"session_id": "s-int", "tool": "shell", "ok": False, "tokens": 7,
                             "latency_ms": 100, "risky": True, "action": "x"})
        for sid in ["s-1", "s-2", "s-3", "s-4", "s-5", "s-6", "s-clean", "s-int", "s-none"]:
            r.get(T, sid)
        r.batch_get([{"table": T, "key": "s-1"}, {"table": T, "key": "s-clean"},
                     {"table": T, "key": "s-none"}, {"table": T, "key": "s-2", "features": ["steps"]}])
        r.get(T, "s-1", features=[])
        r.save()


# ------------------------------------------------------------------------------------------------
# 2. marketplace_rerank
# ------------------------------------------------------------------------------------------------
def marketplace_payload() -> dict:
    return json.loads(_to_register_json(flows.marketplace()))


@scenario
def marketplace_rerank():
    with Recorder("marketplace_rerank",
                  "examples/python/marketplace_rerank.py reconstruction: ShopEvent -> SkuMomentum "
                  "(count+where, n_unique+where, last_seen) and UserIntent (mean+where, top_k, "
                  "n_unique, count); SDK-emitted payload") as r:
        r.register(marketplace_payload())
        r.time_dependent += ["sku_last_seen"]
        rng = random.Random(11)
        users = ["u1", "u2", "u3", "u4", "u5"]
        skus = ["sku-a", "sku-b", "sku-c", "sku-d"]
        cats = ["shoes", "bags", "hats", "socks"]
        prices = {"sku-a": 59.99, "sku-b": 120.0, "sku-c": 15, "sku-d": 7.5}
        for i in range(40):
            sku = rng.choice(skus)
            act = rng.choices(["view", "add_to_cart", "purchase"], [6, 3, 1])[0]
            r.push("ShopEvent", {"user_id": rng.choice(users), "sku": sku, "action": act,
                                 "price": prices[sku], "category": cats[skus.index(sku)]})
            if i == 19:
                r.get("SkuMomentum", "sku-a")
                r.get("UserIntent", "u1")
        # A purchase repeated by the same user: n_unique must not double count.
        for _ in range(2):
            r.push("ShopEvent", {"user_id": "u9", "sku": "sku-z", "action": "purchase",
                                 "price": 1.0, "category": "misc"})
        # A user who only viewed: avg_cart_price_1h has no matching event.
        r.push("ShopEvent", {"user_id": "u-viewer", "sku": "sku-a", "action": "view",
                             "price": 59.99, "category": "shoes"})
        for sku in skus + ["sku-z", "sku-unknown"]:
            r.get("SkuMomentum", sku)
        for u in users + ["u9", "u-viewer"]:
            r.get("UserIntent", u)
        r.batch_get([{"table": "SkuMomentum", "key": "sku-a"}, {"table": "UserIntent", "key": "u1"},
                     {"table": "UserIntent", "key": "u-viewer", "features": ["avg_cart_price_1h", "events_total"]}])
        r.save()


# ------------------------------------------------------------------------------------------------
# 3. growth_rescue
# ------------------------------------------------------------------------------------------------
def growth_payload() -> dict:
    return json.loads(_to_register_json(flows.growth()))


@scenario
def growth_rescue():
    with Recorder("growth_rescue",
                  "examples/python/growth_rescue.py reconstruction: UsageEvent -> UserFriction "
                  "(count+where, top_k+where, decayed_sum, time_since, last) and OrgExpansion "
                  "(count+where, n_unique); SDK-emitted payload") as r:
        r.register(growth_payload())
        r.time_dependent += ["ms_since_last_event", "engagement_decay"]
        rng = random.Random(5)
        feats = ["export", "import", "billing", "sso", "search"]
        for i in range(36):
            u = f"user-{i % 5}"
            st = "error" if rng.random() < 0.35 else "ok"
            r.push("UsageEvent", {"user_id": u, "org_id": f"org-{i % 2}", "feature": rng.choice(feats),
                                  "action": rng.choice(["use", "use", "invite"]), "status": st,
                                  "duration_ms": round(rng.uniform(100, 5000), 2)})
            if i == 17:
                r.get("UserFriction", "user-2")
        r.sleep(250)
        for u in [f"user-{i}" for i in range(5)] + ["user-x"]:
            r.get("UserFriction", u)
        for o in ["org-0", "org-1", "org-2"]:
            r.get("OrgExpansion", o)
        r.batch_get([{"table": "UserFriction", "key": "user-0"}, {"table": "OrgExpansion", "key": "org-1"}],
                    note="batch_get reads at the last-push watermark: time_since is measured from it")
        r.save()


# ------------------------------------------------------------------------------------------------
# 4. Edge cases
# ------------------------------------------------------------------------------------------------
UNREADABLE = ("beava stores entities of non-string group keys under a typed key that no string key "
              "reads (spec 12.10); weir may make them readable")

FIRST_SET = ["count", "sum", "mean", "min", "max", "var", "std", "ratio", "n_unique", "first", "last",
             "top_k", "quantile", "streak", "last_seen", "time_since", "decayed_sum"]
NEEDS_FIELD = {"sum", "mean", "min", "max", "var", "std", "n_unique", "first", "last", "top_k",
               "quantile", "decayed_sum"}
WINDOWABLE = {"count", "sum", "mean", "min", "max", "var", "std", "ratio", "n_unique", "top_k", "quantile"}


def op_params(op: str, field: str) -> dict:
    p: dict = {}
    if op in NEEDS_FIELD:
        p["field"] = field
    if op == "top_k":
        p["k"] = 3
    if op == "quantile":
        p["q"] = 0.5
    if op == "decayed_sum":
        p["half_life"] = "1h"
    return p


@scenario
def edge_where():
    """Every first-set op with a never-matching / sometimes-matching where, lifetime & windowed."""
    E = event_node("Ev", {"k": "str", "x": "i64", "f": "f64", "s": "str", "flag": "bool"})
    never = "(x > 1000000)"
    some = "(x > 10)"
    miss_agg, some_agg, win_miss_agg, plain_agg = {}, {}, {}, {}
    for op in FIRST_SET:
        fld = "x" if op not in ("first", "last") else "s"
        miss_agg[f"{op}_never"] = agg(op, **op_params(op, fld), where=never)
        some_agg[f"{op}_some"] = agg(op, **op_params(op, fld), where=some)
        plain_agg[f"{op}_all"] = agg(op, **op_params(op, fld))
        if op in WINDOWABLE:
            win_miss_agg[f"{op}_never_5m"] = agg(op, **op_params(op, fld), window="5m", where=never)
    body = {"nodes": [
        E,
        table_node("Never", "Ev", ["k"], miss_agg),
        table_node("NeverWin", "Ev", ["k"], win_miss_agg),
        table_node("Some", "Ev", ["k"], some_agg),
        table_node("Plain", "Ev", ["k"], plain_agg),
    ]}
    with Recorder("edge_where",
                  "first-set ops with a never-matching where (lifetime and 5m window), a "
                  "sometimes-matching where and no where: entity presence and empty values") as r:
        r.register(body)
        r.time_dependent += ["last_seen_never", "last_seen_some", "last_seen_all",
                             "time_since_never", "time_since_some", "time_since_all",
                             "decayed_sum_some", "decayed_sum_all", "decayed_sum_never"]
        for t in ["Never", "NeverWin", "Some", "Plain"]:
            r.get(t, "a", note="unknown entity")
        r.push("Ev", {"k": "a", "x": 1, "f": 1.0, "s": "one", "flag": True})
        for t in ["Never", "NeverWin", "Some", "Plain"]:
            r.get(t, "a", note="after one non-matching (for where) event")
        r.push("Ev", {"k": "a", "x": 20, "f": 2.5, "s": "twenty", "flag": False})
        r.push("Ev", {"k": "a", "x": 30, "f": 3.5, "s": "thirty", "flag": True})
        r.push("Ev", {"k": "a", "x": 5, "f": 0.5, "s": "five", "flag": True})
        for t in ["Never", "NeverWin", "Some", "Plain"]:
            r.get(t, "a")
        r.batch_get([{"table": t, "key": "a"} for t in ["Never", "NeverWin", "Some", "Plain"]])
        r.save()


@scenario
def edge_types():
    """Output typing and ordering: ints vs floats, strings in min/max, var/std n=1, top_k ties."""
    E = event_node("Ev", {"k": "str", "i": "i64", "f": "f64", "s": "str", "b": "bool", "j": "json"})
    aggs = {}
    for fld in ["i", "f", "s", "b", "j"]:
        for op in ["sum", "mean", "min", "max", "var", "std", "first", "last", "n_unique", "quantile", "top_k"]:
            aggs[f"{op}_{fld}"] = agg(op, **op_params(op, fld))
    aggs["cnt"] = agg("count")
    aggs["top1_s"] = agg("top_k", field="s", k=1)
    aggs["top10_i"] = agg("top_k", field="i", k=10)
    aggs["q_lo_f"] = agg("quantile", field="f", q=0.01)
    aggs["q_hi_f"] = agg("quantile", field="f", q=0.99)
    body = {"nodes": [E, table_node("T", "Ev", ["k"], aggs)]}
    with Recorder("edge_types",
                  "output types per field type (i64/f64/str/bool/json) for value ops; "
                  "var/std with n=1 and n=2; top_k tie ordering; n_unique of 1 vs 1.0 vs '1'; "
                  "f64 fields fed JSON ints; i64 fields fed JSON floats") as r:
        r.register(body)
        # k=one: a single event
        r.push("Ev", {"k": "one", "i": 7, "f": 2.0, "s": "m", "b": True, "j": 1})
        r.get("T", "one")
        # k=two: two events, f64 given as JSON ints, i64 given a float
        r.push("Ev", {"k": "two", "i": 3, "f": 4, "s": "b", "b": False, "j": 1.0})
        r.push("Ev", {"k": "two", "i": 2.5, "f": 5, "s": "a", "b": True, "j": "1"})
        r.get("T", "two")
        # k=ties: top_k ties (count desc, then value order), mixed json types in n_unique
        for s, i, j in [("pear", 3, 1), ("apple", 1, 1.0), ("fig", 2, "1"), ("pear", 3, True),
                        ("apple", 1, [1]), ("fig", 2, {"a": 1}), ("kiwi", 10, 1), ("banana", -4, "x")]:
            r.push("Ev", {"k": "ties", "i": i, "f": i / 4, "s": s, "b": i > 2, "j": j})
        r.get("T", "ties")
        # Big/negative/edge numbers
        r.push("Ev", {"k": "nums", "i": 9007199254740993, "f": 1e300, "s": "", "b": False, "j": 0})
        r.push("Ev", {"k": "nums", "i": -9007199254740993, "f": -1e300, "s": "Z", "b": False, "j": 2})
        r.get("T", "nums")
        r.save()


@scenario
def edge_sketch():
    """quantile with 1 and >256 values; n_unique past 16 / 1024 distinct; top_k past 1024 distinct."""
    E = event_node("Ev", {"k": "str", "x": "i64", "f": "f64", "s": "str"})
    aggs = {
        "q50": agg("quantile", field="f", q=0.5),
        "q95": agg("quantile", field="f", q=0.95),
        "q01": agg("quantile", field="f", q=0.01),
        "q50_w": agg("quantile", field="f", q=0.5, window="10m"),
        "nu": agg("n_unique", field="x"),
        "nu_w": agg("n_unique", field="x", window="10m"),
        "nu_s": agg("n_unique", field="s"),
        "top3": agg("top_k", field="s", k=3),
        "cnt": agg("count"),
    }
    body = {"nodes": [E, table_node("T", "Ev", ["k"], aggs)]}
    with Recorder("edge_sketch",
                  "sketch thresholds: quantile exact for <=256 values then UDDSketch; n_unique "
                  "exact <=16, hash set <=1024, then HLL; top_k exact <=1024 distinct") as r:
        r.register(body)
        r.push("Ev", {"k": "single", "x": 1, "f": 42.5, "s": "only"})
        r.get("T", "single")
        # exactly 256 values -> still exact
        for v in range(256):
            r.push("Ev", {"k": "n256", "x": v, "f": float(v) * 1.5, "s": f"s{v % 20}"})
        r.get("T", "n256")
        r.push("Ev", {"k": "n256", "x": 999, "f": 1000.0, "s": "s-extra"})
        r.get("T", "n256", note="257th value: quantile switches to a sketch")
        # 17 distinct values (just past the small exact set)
        for v in range(17):
            r.push("Ev", {"k": "d17", "x": v, "f": v, "s": "a" if v % 2 else "b"})
        r.get("T", "d17")
        # 1100 distinct ints, 1100 distinct strings
        rng = random.Random(3)
        for v in range(1100):
            r.push("Ev", {"k": "big", "x": v * 7919, "f": rng.uniform(0, 1000), "s": f"v{v}"})
        for extra in range(10):  # make v1 a clear heavy hitter for the sketch-backed top_k
            r.push("Ev", {"k": "big", "x": 1 + extra % 2, "f": 1.0, "s": "v1"})
        r.get("T", "big")
        r.approx.update({"q50": 0.03, "q95": 0.03, "q01": 0.05, "q50_w": 0.03, "nu": 0.05,
                         "nu_w": 0.05, "nu_s": 0.05, "top3": 0.5})
        r.save()


@scenario
def edge_keys():
    """Global tables, composite keys, numeric group keys, key arity errors, unknown tables,
    features projection and optional fields."""
    E = event_node("Ev", {"a": "str", "b": "str", "n": "i64", "flag": "bool", "v": "f64", "opt": "str",
                          "optn": "f64"}, optional=["opt", "optn"])
    nodes = [
        E,
        table_node("Global", "Ev", [], {"g_count": agg("count"), "g_sum": agg("sum", field="v"),
                                         "g_top": agg("top_k", field="a", k=2)}),
        table_node("ByAB", "Ev", ["a", "b"], {"ab_count": agg("count"), "ab_last": agg("last", field="opt")}),
        table_node("ByN", "Ev", ["n"], {"n_count": agg("count")}),
        table_node("ByFlag", "Ev", ["flag"], {"flag_count": agg("count")}),
        table_node("ByA", "Ev", ["a"], {
            "a_count": agg("count"),
            "opt_last": agg("last", field="opt"),
            "opt_first": agg("first", field="opt"),
            "opt_nu": agg("n_unique", field="opt"),
            "optn_sum": agg("sum", field="optn"),
            "optn_mean": agg("mean", field="optn"),
            "optn_max": agg("max", field="optn"),
            "opt_null_count": agg("count", where="(opt == null)"),
            "opt_set_count": agg("count", where="(opt != null)"),
            "opt_eq_count": agg("count", where="(opt == 'x')"),
        }),
    ]
    body = {"nodes": nodes}
    with Recorder("edge_keys",
                  "global table (keys [] / key ''), composite keys 'a|b', i64/bool group keys, "
                  "key arity mismatch, unknown table, features projection, optional fields") as r:
        r.register(body)
        r.get("Global", "", note="global table before any push")
        r.push("Ev", {"a": "x", "b": "y", "n": 1, "flag": True, "v": 1.5})
        r.push("Ev", {"a": "x", "b": "z", "n": 2, "flag": False, "v": 2.5, "opt": "hello"})
        r.push("Ev", {"a": "x", "b": "y", "n": 1, "flag": True, "v": 3, "opt": None, "optn": None})
        r.push("Ev", {"a": "w|q", "b": "y", "n": -3, "flag": True, "v": 0.25, "opt": "x", "optn": 4})
        r.push("Ev", {"a": "x", "b": "y", "n": 1, "flag": True, "v": 1, "opt": "x", "optn": 2})
        r.get("Global", "")
        r.get("Global", "anything", note="non-empty key on a global table")
        r.get("Global", "|")
        r.get("ByAB", "x|y")
        r.get("ByAB", "x|z")
        r.get("ByAB", "x", note="arity 1 for a 2-key table")
        r.get("ByAB", "x|y|z", note="arity 3 for a 2-key table")
        r.get("ByAB", "", note="empty key for a 2-key table")
        r.get("ByAB", "x|", note="empty second segment")
        r.get("ByAB", "x%7Cy", note="percent-encoded pipe is not decoded")
        r.get("ByA", "x")
        r.get("ByA", "w|q", note="pipe inside a single-key value")
        r.get("ByA", "w")
        r.get("ByA", "x", features=["opt_last", "a_count"])
        r.get("ByA", "x", features=["a_count", "a_count"])
        r.get("ByA", "x", features=[])
        r.get("ByA", "x", features=["nope"])
        r.get("ByA", "x", features=["a_count", "nope"])
        r.get("ByA", "unknown-entity", features=["a_count"])
        r.get("ByA", "unknown-entity", features=["nope"])
        r.get("ByN", "1", note="i64 group key read with string key", may_differ=UNREADABLE)
        r.get("ByN", "-3", may_differ=UNREADABLE)
        r.get("ByFlag", "true", note="bool group key read with string key", may_differ=UNREADABLE)
        r.get("Nope", "x", note="unknown table")
        r.get("Ev", "x", note="event name is not a table")
        r.batch_get([
            {"table": "ByAB", "key": "x|y"},
            {"table": "ByAB", "key": "x"},
            {"table": "Nope", "key": "x"},
            {"table": "Global", "key": ""},
            {"table": "ByA", "key": "x", "features": ["a_count"]},
            {"table": "ByA", "key": "zzz"},
            {"table": "ByA", "key": "x", "features": []},
        ])
        r.batch_get([{"table": "ByA", "key": "x", "features": ["nope"]}, {"table": "ByA", "key": "x"}],
                    note="a bad feature name fails the whole batch")
        r.batch_get([], note="empty batch")
        r.batch_get([{"table": "ByA", "entity_id": "x"}], note="deprecated entity_id alias")
        r.save()


@scenario
def edge_time():
    """get vs batch_get query time; time_since/last_seen; short windows expiring."""
    E = event_node("Ev", {"k": "str", "x": "i64"})
    nodes = [E, table_node("T", "Ev", ["k"], {
        "cnt": agg("count"),
        "cnt_2s": agg("count", window="2s"),
        "sum_2s": agg("sum", field="x", window="2s"),
        "mean_2s": agg("mean", field="x", window="2s"),
        "min_2s": agg("min", field="x", window="2s"),
        "top_2s": agg("top_k", field="x", k=2, window="2s"),
        "nu_2s": agg("n_unique", field="x", window="2s"),
        "q_2s": agg("quantile", field="x", q=0.5, window="2s"),
        "ratio_2s": agg("ratio", window="2s", where="(x > 1)"),
        "var_2s": agg("var", field="x", window="2s"),
        "ts": agg("time_since"),
        "ts_big": agg("time_since", where="(x > 1)"),
        "ls": agg("last_seen"),
        "ls_big": agg("last_seen", where="(x > 1)"),
        "ds": agg("decayed_sum", field="x", half_life="1s"),
        "streak_big": agg("streak", where="(x > 1)"),
    })]
    with Recorder("edge_time",
                  "time semantics: /get reads at max(watermark, now), /batch_get at the last-push "
                  "watermark; 2s windows (bucket 32 ms) expire; decayed_sum with 1s half-life "
                  "is not decayed to read time") as r:
        r.register(nodes and {"nodes": nodes})
        r.time_dependent += ["ts", "ts_big", "ls", "ls_big", "ds"]
        r.batch_get([{"table": "T", "key": "a"}], note="before any push: watermark 0")
        r.push("Ev", {"k": "a", "x": 5})
        r.sleep(1200)
        r.push("Ev", {"k": "a", "x": 1})
        r.sleep(400)
        r.get("T", "a", note="~1.6s after first push, ~0.4s after second: both inside the 2s windows")
        r.batch_get([{"table": "T", "key": "a"}], note="reads at the watermark (= second push)")
        r.sleep(600)
        r.get("T", "a", note="~2.2s after first push, ~1.0s after second: first expired from 2s windows")
        r.batch_get([{"table": "T", "key": "a"}], note="watermark = second push: both still in window")
        r.sleep(1200)
        r.get("T", "a", note="~2.2s after the second push: both out of the 2s windows")
        r.batch_get([{"table": "T", "key": "a"}])
        r.push("Ev", {"k": "b", "x": 3}, )
        r.get("T", "a", note="after a push to another entity, watermark moved")
        r.batch_get([{"table": "T", "key": "a"}, {"table": "T", "key": "b"}])
        r.save()


@scenario
def chain_ops():
    """Prefix ops (filter, with_columns, cast, fillna, rename, select, drop) before group_by."""
    E = event_node("Ev", {"k": "str", "x": "i64", "f": "f64", "s": "str"}, optional=["s"])
    nodes = [
        E,
        table_node("Filtered", "Ev", ["k"], {"fc": agg("count"), "fsum": agg("sum", field="x")},
                   prefix_ops=[{"op": "filter", "expr": "(x > 2)"}]),
        table_node("Derived", "Ev", ["k"], {"dsum": agg("sum", field="y"), "dlast": agg("last", field="z"),
                                            "dmax": agg("max", field="xs"), "dcnt": agg("count", where="(y > 10)")},
                   prefix_ops=[{"op": "with_columns", "exprs": {"z": "(y + 1)", "y": "(x * 10)"}},
                               {"op": "cast", "type_map": {"x": "str"}},
                               {"op": "rename", "mapping": {"x": "xs"}}]),
        table_node("Filled", "Ev", ["k"], {"slast": agg("last", field="s"), "snu": agg("n_unique", field="s")},
                   prefix_ops=[{"op": "fillna", "defaults": {"s": "none"}}]),
        table_node("ByCast", "Ev", ["kk"], {"kc": agg("count")},
                   prefix_ops=[{"op": "with_columns", "exprs": {"kk": "cast(x, str)"}}]),
        table_node("Selected", "Ev", ["k"], {"sel_f": agg("sum", field="f")},
                   prefix_ops=[{"op": "select", "fields": ["k", "f"]}]),
        table_node("Dropped", "Ev", ["k"], {"drop_f": agg("sum", field="f")},
                   prefix_ops=[{"op": "drop", "fields": ["s"]}]),
        table_node("Div", "Ev", ["k"], {"div_last": agg("last", field="q"), "div_sum": agg("sum", field="q")},
                   prefix_ops=[{"op": "with_columns", "exprs": {"q": "(x / 2)"}}]),
        # with_columns overwriting schema fields: `where` sees the chain output, `field` reads the
        # raw pushed value for fields of the event schema (even when absent/null in the push).
        table_node("Override", "Ev", ["k"], {"ov_sum_x": agg("sum", field="x"), "ov_cnt_x": agg("count", where="(x > 25)"),
                                             "ov_last_s": agg("last", field="s"), "ov_cnt_s": agg("count", where="(s == 'zz')")},
                   prefix_ops=[{"op": "with_columns", "exprs": {"x": "(x * 10)", "s": "'zz'"}}]),
    ]
    with Recorder("chain_ops",
                  "prefix chain ops before group_by: filter, with_columns (alphabetical order), cast, "
                  "rename, fillna, select, drop; group key produced by with_columns") as r:
        r.register({"nodes": nodes})
        for x, f, s in [(1, 0.5, "a"), (3, 1.5, None), (5, 2.5, "b"), (0, 0.0, None)]:
            data = {"k": "a", "x": x, "f": f}
            if s is not None:
                data["s"] = s
            r.push("Ev", data)
        r.push("Ev", {"k": "a", "x": 7, "f": 1.0, "s": None})
        r.push("Ev", {"k": "b", "x": 1, "f": 1.0})
        for t in ["Filtered", "Derived", "Filled", "Selected", "Dropped", "Div", "Override"]:
            r.get(t, "a")
        r.get("Filtered", "b", note="every event of b was filtered out: no entity")
        r.get("Filled", "b")
        r.get("Override", "b")
        r.get("ByCast", "3", note="group key computed by with_columns",
              may_differ="beava computes the entity key from the raw row, so a with_columns key is unreadable; weir may use the chain output")
        r.get("ByCast", "a")
        r.get("ByCast", "", note="raw row has no kk: what key is the entity stored under?")
        r.get("ByCast", "null")
        r.save()


# ------------------------------------------------------------------------------------------------
# 5. Registration semantics
# ------------------------------------------------------------------------------------------------
@scenario
def register_semantics():
    ev = event_node("Click", {"user_id": "str", "page": "str", "ms": "i64"})
    t1 = table_node("UserClicks", "Click", ["user_id"], {"clicks": agg("count"),
                                                          "clicks_1h": agg("count", window="1h")})
    t2 = table_node("PageClicks", "Click", ["page"], {"page_clicks": agg("count")})
    with Recorder("register_semantics",
                  "registry diffing: already_present, added, omitted descriptor -> 409 "
                  "force_required with diff, force, dry_run, registry_version progression, "
                  "state kept/dropped across re-registers") as r:
        r.register({"nodes": [ev, t1]})
        r.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        r.register({"nodes": [ev, t1]})  # identical -> already_present
        r.register({"nodes": [ev, t1, t2]})  # add a table
        r.push("Click", {"user_id": "u", "page": "/", "ms": 2})
        r.get("UserClicks", "u", note="state kept across additive register")
        r.get("PageClicks", "/", note="new table only sees pushes after it was added")
        r.register({"nodes": [ev, t1]})  # omit t2 -> 409
        r.register({"nodes": [ev, t1], "dry_run": True})
        r.register({"nodes": [ev, t1, t2], "dry_run": True})
        r.register({"nodes": [ev, t1, table_node("Other", "Click", ["page"], {"o": agg("count")})],
                    "dry_run": True, "force": True})
        r.register({"nodes": [ev, t1], "force": True})  # drop t2
        r.get("PageClicks", "/", note="table removed by force")
        r.get("UserClicks", "u", note="kept or dropped by force?")
        # window change -> destructive
        t1w = table_node("UserClicks", "Click", ["user_id"], {"clicks": agg("count"),
                                                               "clicks_1h": agg("count", window="2h")})
        r.register({"nodes": [ev, t1w]})
        # new agg on existing table without force: silent no-op
        t1n = table_node("UserClicks", "Click", ["user_id"], {"clicks": agg("count"),
                                                               "clicks_1h": agg("count", window="1h"),
                                                               "pages": agg("n_unique", field="page")})
        r.register({"nodes": [ev, t1n]})
        r.get("UserClicks", "u", note="new agg added without force is a no-op")
        r.register({"nodes": [ev, t1n], "dry_run": True})
        r.register({"nodes": [ev, t1n], "force": True})
        r.get("UserClicks", "u", note="after force re-register with new agg")
        r.push("Click", {"user_id": "u", "page": "/x", "ms": 3})
        r.get("UserClicks", "u")
        # new field on the event without force
        ev2 = event_node("Click", {"user_id": "str", "page": "str", "ms": "i64", "ref": "str"})
        r.register({"nodes": [ev2, t1n], "dry_run": True})
        r.register({"nodes": [ev2, t1n]})
        r.push("Click", {"user_id": "u", "page": "/x", "ms": 3, "ref": "r"})
        # type change
        ev3 = event_node("Click", {"user_id": "str", "page": "str", "ms": "f64"})
        r.register({"nodes": [ev3, t1n], "dry_run": True})
        r.register({"nodes": [ev3, t1n]})
        # key change
        t1k = table_node("UserClicks", "Click", ["page"], t1n["ops"][0]["agg"])
        r.register({"nodes": [ev, t1k], "dry_run": True})
        # rename (same kind missing + new)
        t1r = dict(t1n, name="UserClicks2")
        r.register({"nodes": [ev, t1r], "dry_run": True})
        # op changed
        t1o = table_node("UserClicks", "Click", ["user_id"], {"clicks": agg("sum", field="ms"),
                                                               "clicks_1h": agg("count", window="1h"),
                                                               "pages": agg("n_unique", field="page")})
        r.register({"nodes": [ev, t1o], "dry_run": True})
        # feature removed
        t1m = table_node("UserClicks", "Click", ["user_id"], {"clicks": agg("count"),
                                                               "clicks_1h": agg("count", window="1h")})
        r.register({"nodes": [ev, t1m], "dry_run": True})
        # prefix op removed
        t1f = table_node("UserClicks", "Click", ["user_id"], t1n["ops"][0]["agg"],
                         prefix_ops=[{"op": "filter", "expr": "(ms > 0)"}])
        r.register({"nodes": [ev, t1f], "dry_run": True})
        r.register({"nodes": [ev, t1f], "force": True})
        r.register({"nodes": [ev, t1n], "dry_run": True})
        r.register({"nodes": []})
        r.register({"nodes": [], "force": True})
        r.register({"nodes": [ev, t1n, t2]})
        r.register({"nodes": [t2, ev, t1n], "dry_run": False, "force": False})
        r.save()


def reg_case(name: str, body, *, setup: list | None = None, raw: str | None = None,
             content_type: str = "application/json", note: str = "") -> dict:
    return {"name": name, "setup": setup or [], "request": body, "raw": raw,
            "content_type": content_type, "note": note}


def register_error_cases() -> list[dict]:
    E = event_node("Ev", {"k": "str", "x": "i64", "f": "f64", "s": "str", "flag": "bool"})

    def T(aggs, name="T", keys=("k",), upstream="Ev", prefix=None):
        return table_node(name, upstream, list(keys), aggs, prefix_ops=prefix)

    good = T({"c": agg("count")})
    cases = [
        reg_case("missing_nodes", {}),
        reg_case("nodes_not_array", {"nodes": {}}),
        reg_case("descriptors_key", {"descriptors": [E]}),
        reg_case("empty_nodes", {"nodes": []}),
        reg_case("bad_json", None, raw='{"nodes": ['),
        reg_case("not_object", [E]),
        reg_case("wrong_content_type", {"nodes": [E]}, content_type="text/plain"),
        reg_case("missing_content_type", {"nodes": [E]}, content_type=""),
        reg_case("content_type_with_charset", {"nodes": [E]}, content_type="Application/JSON; charset=utf-8"),
        reg_case("event_bad_name_digit", {"nodes": [event_node("1Ev", {"k": "str"})]}),
        reg_case("event_bad_name_dash", {"nodes": [event_node("Ev-1", {"k": "str"})]}),
        reg_case("event_name_reserved_prefix", {"nodes": [event_node("_beava_x", {"k": "str"})]}),
        reg_case("event_name_too_long", {"nodes": [event_node("E" * 129, {"k": "str"})]}),
        reg_case("event_name_128", {"nodes": [event_node("E" * 128, {"k": "str"})]}),
        reg_case("event_empty_name", {"nodes": [event_node("", {"k": "str"})]}),
        reg_case("event_empty_fields", {"nodes": [event_node("Ev", {})]}),
        reg_case("event_bad_field_type", {"nodes": [event_node("Ev", {"k": "string"})]}),
        reg_case("event_bad_field_name", {"nodes": [event_node("Ev", {"k-1": "str"})]}),
        reg_case("event_optional_not_in_fields", {"nodes": [event_node("Ev", {"k": "str"}, optional=["zz"])]}),
        reg_case("event_time_field_key", {"nodes": [event_node("Ev", {"k": "str"}, event_time_field="ts")]}),
        reg_case("tolerate_delay_key", {"nodes": [event_node("Ev", {"k": "str"}, tolerate_delay_ms=5)]}),
        reg_case("event_time_schema_field", {"nodes": [event_node("Ev", {"k": "str", "event_time": "i64"})]}),
        reg_case("event_unknown_key_ignored", {"nodes": [event_node("Ev", {"k": "str"}, keep_events_for="30d")]}),
        reg_case("dedupe_key_not_field", {"nodes": [event_node("Ev", {"k": "str"}, dedupe_key="zz")]}),
        reg_case("duplicate_event_name", {"nodes": [E, E]}),
        reg_case("duplicate_table_name", {"nodes": [E, good, good]}),
        reg_case("table_named_like_event", {"nodes": [E, T({"c": agg("count")}, name="Ev")]}),
        reg_case("unsupported_node_kind_table", {"nodes": [E, dict(good, kind="table")]}),
        reg_case("unsupported_node_kind_other", {"nodes": [{"kind": "source", "name": "X"}]}),
        reg_case("node_missing_kind", {"nodes": [{"name": "X"}]}),
        reg_case("unknown_upstream", {"nodes": [E, T({"c": agg("count")}, upstream="Nope")]}),
        reg_case("upstream_after_use", {"nodes": [good, E]}),
        reg_case("cycle", {"nodes": [
            E,
            {"kind": "derivation", "name": "A", "output_kind": "event", "upstreams": ["B"], "ops": [],
             "schema": {"fields": {"k": "str"}, "optional_fields": []}},
            {"kind": "derivation", "name": "B", "output_kind": "event", "upstreams": ["A"], "ops": [],
             "schema": {"fields": {"k": "str"}, "optional_fields": []}},
        ]}),
        reg_case("self_cycle", {"nodes": [
            E, {"kind": "derivation", "name": "A", "output_kind": "event", "upstreams": ["A"], "ops": [],
                "schema": {"fields": {"k": "str"}, "optional_fields": []}}]}),
        reg_case("no_upstreams", {"nodes": [E, dict(good, upstreams=[])]}),
        reg_case("missing_table_primary_key", {"nodes": [E, {k: v for k, v in good.items() if k != "table_primary_key"}]}),
        reg_case("missing_output_kind", {"nodes": [E, {k: v for k, v in good.items() if k != "output_kind"}]}),
        reg_case("bad_output_kind", {"nodes": [E, dict(good, output_kind="view")]}),
        reg_case("derivation_no_schema", {"nodes": [E, {k: v for k, v in good.items() if k != "schema"}]}),
        reg_case("group_key_unknown", {"nodes": [E, T({"c": agg("count")}, keys=("nope",))]}),
        reg_case("group_key_f64", {"nodes": [E, T({"c": agg("count")}, keys=("f",))]}),
        reg_case("group_key_collides_feature", {"nodes": [E, T({"k": agg("count")})]}),
        reg_case("feature_collision_across_tables", {"nodes": [E, T({"c": agg("count")}),
                                                               T({"c": agg("count")}, name="T2")]}),
        reg_case("feature_bad_name", {"nodes": [E, T({"c-1": agg("count")})]}),
        reg_case("agg_unknown_field", {"nodes": [E, T({"c": agg("sum", field="nope")})]}),
        reg_case("agg_unknown_field_windowed", {"nodes": [E, T({"c": agg("sum", field="nope", window="1h")})]}),
        reg_case("agg_sum_no_field", {"nodes": [E, T({"c": agg("sum")})]}),
        reg_case("agg_last_no_field", {"nodes": [E, T({"c": agg("last")})]}),
        reg_case("agg_first_no_field", {"nodes": [E, T({"c": agg("first")})]}),
        reg_case("agg_sum_on_str", {"nodes": [E, T({"c": agg("sum", field="s")})]}),
        reg_case("bad_window_unit", {"nodes": [E, T({"c": agg("count", window="5x")})]}),
        reg_case("bad_window_zero", {"nodes": [E, T({"c": agg("count", window="0m")})]}),
        reg_case("bad_window_empty", {"nodes": [E, T({"c": agg("count", window="")})]}),
        reg_case("bad_window_number", {"nodes": [E, T({"c": agg("count", window=60)})]}),
        reg_case("window_forever", {"nodes": [E, T({"c": agg("count", window="forever")})]}),
        reg_case("window_on_last", {"nodes": [E, T({"c": agg("last", field="s", window="5m")})]}),
        reg_case("window_on_first", {"nodes": [E, T({"c": agg("first", field="s", window="5m")})]}),
        reg_case("window_on_streak", {"nodes": [E, T({"c": agg("streak", window="5m")})]}),
        reg_case("window_on_time_since", {"nodes": [E, T({"c": agg("time_since", window="5m")})]}),
        reg_case("window_on_last_seen", {"nodes": [E, T({"c": agg("last_seen", window="5m")})]}),
        reg_case("window_on_decayed_sum", {"nodes": [E, T({"c": agg("decayed_sum", field="x", half_life="1h", window="5m")})]}),
        reg_case("decayed_sum_no_half_life", {"nodes": [E, T({"c": agg("decayed_sum", field="x")})]}),
        reg_case("decayed_sum_bad_half_life", {"nodes": [E, T({"c": agg("decayed_sum", field="x", half_life="soon")})]}),
        reg_case("quantile_q_zero", {"nodes": [E, T({"c": agg("quantile", field="x", q=0)})]}),
        reg_case("quantile_q_one", {"nodes": [E, T({"c": agg("quantile", field="x", q=1)})]}),
        reg_case("quantile_q_negative", {"nodes": [E, T({"c": agg("quantile", field="x", q=-0.5)})]}),
        reg_case("quantile_q_string", {"nodes": [E, T({"c": agg("quantile", field="x", q="0.5")})]}),
        reg_case("quantile_default_q", {"nodes": [E, T({"c": agg("quantile", field="x")})]}),
        reg_case("top_k_k_zero", {"nodes": [E, T({"c": agg("top_k", field="s", k=0)})]}),
        reg_case("top_k_k_1025", {"nodes": [E, T({"c": agg("top_k", field="s", k=1025)})]}),
        reg_case("top_k_k_1024", {"nodes": [E, T({"c": agg("top_k", field="s", k=1024)})]}),
        reg_case("top_k_k_negative", {"nodes": [E, T({"c": agg("top_k", field="s", k=-1)})]}),
        reg_case("top_k_default_k", {"nodes": [E, T({"c": agg("top_k", field="s")})]}),
        reg_case("unknown_op", {"nodes": [E, T({"c": agg("frobnicate")})]}),
        reg_case("unknown_op_windowed", {"nodes": [E, T({"c": agg("frobnicate", window="1h")})]}),
        reg_case("alias_op_avg", {"nodes": [E, T({"c": agg("avg", field="x")})]}),
        reg_case("agg_missing_op", {"nodes": [E, T({"c": {"params": {}}})]}),
        reg_case("agg_missing_params", {"nodes": [E, T({"c": {"op": "count"}})]}),
        reg_case("where_parse_error", {"nodes": [E, T({"c": agg("count", where="x > 1")})]}),
        reg_case("where_parse_error_garbage", {"nodes": [E, T({"c": agg("count", where="((x >")})]}),
        reg_case("where_unknown_field", {"nodes": [E, T({"c": agg("count", where="(nope > 1)")})]}),
        reg_case("where_not_bool_ok", {"nodes": [E, T({"c": agg("count", where="x")})]}),
        reg_case("where_double_quotes", {"nodes": [E, T({"c": agg("count", where='(s == "a")')})]}),
        reg_case("where_empty", {"nodes": [E, T({"c": agg("count", where="")})]}),
        reg_case("where_deep", {"nodes": [E, T({"c": agg("count", where="(" * 600 + "flag" + ")" * 600)})]}),
        reg_case("filter_parse_error", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "filter", "expr": "x >"}])]}),
        reg_case("filter_unknown_field", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "filter", "expr": "(nope > 1)"}])]}),
        reg_case("with_columns_parse_error", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "with_columns", "exprs": {"y": "(x +"}}])]}),
        reg_case("with_columns_ok", {"nodes": [E, T({"c": agg("sum", field="y")}, prefix=[{"op": "with_columns", "exprs": {"y": "(x * 2)"}}])]}),
        reg_case("cast_bad_target", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "cast", "type_map": {"x": "decimal"}}])]}),
        reg_case("join_op", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "join", "with": "Ev", "on": ["k"]}])]}),
        reg_case("union_op", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "union", "with": ["Ev"]}])]}),
        reg_case("unknown_chain_op", {"nodes": [E, T({"c": agg("count")}, prefix=[{"op": "explode", "field": "s"}])]}),
        reg_case("table_without_group_by", {"nodes": [E, dict(good, ops=[])]}),
        reg_case("two_group_bys", {"nodes": [E, dict(good, ops=good["ops"] + good["ops"])]}),
        reg_case("table_on_table", {"nodes": [E, good, T({"c2": agg("count")}, name="T2", upstream="T", keys=("k",))]}),
        reg_case("last_n_missing_n", {"nodes": [E, T({"c": agg("last_n", field="s")})]}),
        reg_case("last_n_zero", {"nodes": [E, T({"c": agg("last_n", field="s", n=0)})]}),
        reg_case("force_and_dry_run_on_empty", {"nodes": [E, good], "force": True, "dry_run": True}),
        reg_case("force_required_diff", {"nodes": [E]}, setup=[{"nodes": [E, good]}]),
        reg_case("unknown_top_level_key", {"nodes": [E, good], "extra": 1}),
        reg_case("force_not_bool", {"nodes": [E, good], "force": "yes"}),
        reg_case("dry_run_invalid_payload", {"nodes": [E, T({"c": agg("count", window="5x")})], "dry_run": True}),
        reg_case("event_missing_schema", {"nodes": [{"kind": "event", "name": "Ev"}]}),
        reg_case("event_all_field_types", {"nodes": [event_node("Ev", {"a": "str", "b": "i64", "c": "f64", "d": "bool", "e": "bytes", "f": "datetime", "g": "json"})]}),
        reg_case("event_derivation_filter", {"nodes": [E, {"kind": "derivation", "name": "Big", "output_kind": "event", "upstreams": ["Ev"], "ops": [{"op": "filter", "expr": "(x > 1)"}]}]}),
        reg_case("global_table", {"nodes": [E, T({"c": agg("count")}, keys=())]}),
        reg_case("group_key_from_with_columns", {"nodes": [E, T({"c": agg("count")}, keys=("kk",), prefix=[{"op": "with_columns", "exprs": {"kk": "cast(x, str)"}}])]}),
        reg_case("where_on_with_columns_field", {"nodes": [E, T({"c": agg("count", where="(y > 1)")}, prefix=[{"op": "with_columns", "exprs": {"y": "(x * 2)"}}])]}),
        reg_case("first_error_wins", {"nodes": [E, T({"a": agg("count", window="5x"), "b": agg("sum", field="nope")})]}),
    ]
    return cases


@scenario
def register_errors():
    """Catalogue of register-time validation errors; each case on a fresh server."""
    import httpx
    out = []
    for case in register_error_cases():
        with ServerProc(ORACLE) as s:
            c = httpx.Client(base_url=f"http://{s.http}")
            for sb in case["setup"]:
                rr = c.post("/register", json=sb)
                assert rr.status_code == 200, rr.text
            content = case["raw"].encode() if case["raw"] is not None else json.dumps(case["request"]).encode()
            headers = {"Content-Type": case["content_type"]} if case["content_type"] else {}
            if not case["content_type"]:
                rr = c.build_request("POST", "/register", content=content)
                if "Content-Type" in rr.headers:
                    del rr.headers["Content-Type"]
                resp = c.send(rr)
            else:
                resp = c.post("/register", content=content, headers=headers)
            try:
                body = resp.json()
            except ValueError:
                body = {"_raw": resp.text}
            entry = {"name": case["name"], "setup": case["setup"]}
            if case["raw"] is not None:
                entry["raw_body"] = case["raw"]
            else:
                entry["request"] = case["request"]
            if case["content_type"] != "application/json":
                entry["content_type"] = case["content_type"]
            entry["status"] = resp.status_code
            entry["body"] = body
            out.append(entry)
            c.close()
    path = os.path.join(GOLDEN_DIR, "register_errors.json")
    with open(path, "w") as f:
        json.dump({"scenario": "register_errors", "recorded_with": "beava 0.0.6",
                   "description": "each case runs on a fresh server: optional setup registers (all 200), "
                                  "then request -> status + body. raw_body / content_type cases are "
                                  "HTTP-layer only.",
                   "cases": out}, f, indent=1, ensure_ascii=False)
        f.write("\n")


# ------------------------------------------------------------------------------------------------
# 6. Push validation errors
# ------------------------------------------------------------------------------------------------
@scenario
def push_errors():
    E = event_node("Ev", {"k": "str", "x": "i64", "f": "f64", "flag": "bool", "j": "json"}, optional=["f"])
    Derived = {"kind": "derivation", "name": "EvBig", "output_kind": "event", "upstreams": ["Ev"],
               "ops": [{"op": "filter", "expr": "(x > 1)"}],
               "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}
    body = {"nodes": [E, Derived, table_node("T", "Ev", ["k"], {"c": agg("count"), "sx": agg("sum", field="x"),
                                                                 "sf": agg("sum", field="f")})]}
    with Recorder("push_errors",
                  "push validation: exact status + body for every push error; a successful push "
                  "between them shows nothing was applied") as r:
        r.register(body)
        ok = {"k": "a", "x": 1, "f": 1.0, "flag": True, "j": {"any": [1, 2]}}
        r.push("Ev", ok)
        r.push("Nope", ok)
        r.push("EvBig", {"k": "a", "x": 5})
        r.push("T", ok)
        r.push("Ev", {"x": 1, "flag": True, "j": 1})                      # missing k
        r.push("Ev", {"k": None, "x": 1, "flag": True, "j": 1})           # null required
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": None})         # null json
        r.push("Ev", {"k": 5, "x": 1, "flag": True, "j": 1})              # wrong type str
        r.push("Ev", {"k": "a", "x": "1", "flag": True, "j": 1})          # str for i64
        r.push("Ev", {"k": "a", "x": True, "flag": True, "j": 1})         # bool for i64
        r.push("Ev", {"k": "a", "x": 1, "flag": 1, "j": 1})               # int for bool
        r.push("Ev", {"k": "a", "x": 1, "flag": "true", "j": 1})
        r.push("Ev", {"k": "a", "x": 1.5, "flag": True, "j": 1})          # float for i64: accepted?
        r.push("Ev", {"k": "a", "x": 1e20, "flag": True, "j": 1})         # huge float for i64
        r.push("Ev", {"k": "opt", "x": 1, "f": "x", "flag": True, "j": 1},  # optional wrong type
               may_differ="beava does not type-check optional fields; weir may reject with invalid_event")
        r.push("Ev", {"k": "a", "x": 1, "f": None, "flag": True, "j": 1}) # optional null
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": 1, "zz": 1})   # unknown field
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": 1, "zz": None})
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": 1, "event_time": 5})
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": 1, "event_time_ms": 5})
        r.push("Ev", {"k": "a\tb", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a\nb", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a\u0000b", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a\u007fb", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a\u0085b", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": {"n": ["x\ty"]}})
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": {"x\ty": 1}})
        r.push("Ev", {"k\t": "a", "x": 1, "flag": True, "j": 1})
        r.push("Ev\t", {"k": "a", "x": 1, "flag": True, "j": 1})
        r.push("Ev", {"k": "a", "x": 1, "flag": True, "j": 1, "zz\t": 1})
        r.push("Ev", {"k": 5, "zz": 1, "x": 1, "flag": True, "j": 1})     # precedence: wrong type vs unknown
        r.push("Ev", {"zz": 1, "x": 1, "flag": True, "j": 1})              # missing vs unknown
        r.push("Ev", {"k": "a\tb", "zz": 1, "x": 1, "flag": True, "j": 1})  # control vs unknown
        r.push("Ev", {"k": "😀 ünï", "x": 2, "flag": True, "j": 1})
        r.raw_push('{"event":"Ev","data":', "bad JSON")
        r.raw_push('', "empty body")
        r.raw_push('{"data":{"k":"a","x":1,"flag":true,"j":1}}', "missing event name")
        r.raw_push('{"event":5,"data":{"k":"a","x":1,"flag":true,"j":1}}', "event not a string")
        r.raw_push('[1,2]', "array body")
        r.raw_push('{"event":"Ev"}', "missing data (defaults to {})")
        r.raw_push('{"event":"Ev","data":[1]}', "data is an array")
        r.raw_push('{"event":"Ev","data":null}', "data is null")
        r.raw_push('{"event":"Ev","data":"x"}', "data is a string")
        r.raw_push('{"event":"Nope","data":[1]}', "unknown event and bad data")
        r.raw_push('{"event":"Ev","data":{"k":"a","x":1,"flag":true,"j":1},"extra":1}', "extra top-level key")
        r.raw_push('{"event":"Ev","data":{"k":"a","x":1,"k":"b","flag":true,"j":1}}', "duplicate key in data")
        r.raw_push('{"event":"Ev","data":{"k":"ovf","x":9223372036854775808,"flag":true,"j":1}}', "integer > i64::MAX: beava accepts it as a float",
                   may_differ="weir rejects integers outside i64 at decode time (integer_out_of_range)")
        r.raw_push('{"event":"Ev","data":{"k":"a","x":-9223372036854775808,"flag":true,"j":1}}', "i64 min")
        r.get("T", "a")
        r.save()


def main(argv: list[str]) -> None:
    names = argv or list(SCENARIOS)
    for n in names:
        print(f"recording {n} ...", flush=True)
        SCENARIOS[n]()
    print("done")


if __name__ == "__main__":
    main(sys.argv[1:])
