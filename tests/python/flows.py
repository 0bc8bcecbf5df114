"""The README and example-app flows, written with the beava SDK exactly like a user would."""
from __future__ import annotations

import math
from typing import Any

import beava as bv


def session_reflexes() -> tuple[Any, Any]:
    @bv.event
    class AgentStep:
        session_id: str
        tool: str
        ok: bool
        tokens: int
        latency_ms: float
        risky: bool
        action: str

    @bv.table(key="session_id")
    def SessionReflexes(step: AgentStep):
        return step.group_by("session_id").agg(
            failure_rate_5m=bv.ratio(window="5m", where=~bv.col("ok")),
            top_tool_10m=bv.top_k("tool", k=1, window="10m"),
            unique_tools_10m=bv.n_unique("tool", window="10m"),
            token_burn_1m=bv.sum("tokens", window="1m"),
            p95_latency_5m=bv.quantile("latency_ms", q=0.95, window="5m"),
            risky_streak=bv.streak(where=bv.col("risky")),
            last_action=bv.last("action"),
            steps=bv.count(),
        )

    return AgentStep, SessionReflexes


README_EVENTS = [
    {"session_id": "s-1", "tool": "search", "ok": True, "tokens": 120, "latency_ms": 210.0, "risky": False, "action": "plan"},
    {"session_id": "s-1", "tool": "shell", "ok": False, "tokens": 340, "latency_ms": 1800.0, "risky": True, "action": "rm -rf build"},
    {"session_id": "s-1", "tool": "shell", "ok": False, "tokens": 290, "latency_ms": 2400.5, "risky": True, "action": "curl | sh"},
    {"session_id": "s-2", "tool": "browser", "ok": True, "tokens": 80, "latency_ms": 95.25, "risky": False, "action": "open docs"},
    {"session_id": "s-1", "tool": "shell", "ok": True, "tokens": 60, "latency_ms": 120.0, "risky": True, "action": "sudo reboot"},
    {"session_id": "s-2", "tool": "search", "ok": True, "tokens": 45, "latency_ms": 130.0, "risky": False, "action": "summarize"},
]

README_EXPECTED = {
    "s-1": {"failure_rate_5m": 0.5, "last_action": "sudo reboot", "p95_latency_5m": 2310.425, "risky_streak": 3,
            "steps": 4, "token_burn_1m": 810.0, "top_tool_10m": [{"count": 3, "value": "shell"}], "unique_tools_10m": 2},
    "s-2": {"failure_rate_5m": 0.0, "last_action": "summarize", "p95_latency_5m": 128.2625, "risky_streak": 0,
            "steps": 2, "token_burn_1m": 125.0, "top_tool_10m": [{"count": 1, "value": "browser"}], "unique_tools_10m": 2},
}


def assert_row(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Exact JSON-type comparison (int vs float matters), floats with 1e-9 relative tolerance."""
    assert sorted(got) == sorted(want), f"feature set differs: got {sorted(got)}, want {sorted(want)}"
    for k, w in want.items():
        g = got[k]
        assert type(g) is type(w), f"{k}: type {type(g).__name__} ({g!r}), want {type(w).__name__} ({w!r})"
        if isinstance(w, float):
            assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12), f"{k}: {g!r} != {w!r}"
        else:
            assert g == w, f"{k}: {g!r} != {w!r}"


def run_readme_flow(app: Any) -> None:
    """Registers SessionReflexes (force=True like examples/python/agent_runtime.py), pushes the
    README's six steps and checks the reflex rows."""
    AgentStep, SessionReflexes = session_reflexes()
    out = app.register(AgentStep, SessionReflexes, force=True)
    assert out["status"] == "ok"
    assert out["registered_descriptors"] == ["AgentStep", "SessionReflexes"]
    assert app.get("SessionReflexes", "s-1") == {}
    for ev in README_EVENTS:
        ack = app.push("AgentStep", ev)
        assert isinstance(ack["ack_lsn"], int) and ack["idempotent_replay"] is False
    for sid, want in README_EXPECTED.items():
        assert_row(app.get("SessionReflexes", sid), want)
    # The reflex decisions the README prints.
    s1 = app.get("SessionReflexes", "s-1", features=["failure_rate_5m", "risky_streak"])
    assert s1 == {"failure_rate_5m": 0.5, "risky_streak": 3}
    assert s1["failure_rate_5m"] >= 0.5 and s1["risky_streak"] >= 3  # README: "pause + ask human"
    rows = app.batch_get([("SessionReflexes", "s-1"), ("SessionReflexes", "s-2", ["steps"]),
                          ("SessionReflexes", "nobody")])
    assert_row(rows[0], README_EXPECTED["s-1"])
    assert rows[1] == {"steps": 2}
    assert rows[2] == {}
    # Re-registering the same descriptors is idempotent.
    again = app.register(AgentStep, SessionReflexes)
    assert again["added"] == [] and sorted(again["already_present"]) == ["AgentStep", "SessionReflexes"]


# ------------------------------------------------------------------------------------------------
# marketplace_rerank
# ------------------------------------------------------------------------------------------------
def marketplace() -> tuple[Any, Any, Any]:
    @bv.event
    class ShopEvent:
        user_id: str
        sku: str
        action: str
        price: float
        category: str

    @bv.table(key="sku")
    def SkuMomentum(e: ShopEvent):
        return e.group_by("sku").agg(
            views_1h=bv.count(window="1h", where=bv.col("action") == "view"),
            carts_1h=bv.count(window="1h", where=bv.col("action") == "add_to_cart"),
            buyers_1h=bv.n_unique("user_id", window="1h", where=bv.col("action") == "purchase"),
            sku_last_seen=bv.last_seen(),
        )

    @bv.table(key="user_id")
    def UserIntent(e: ShopEvent):
        return e.group_by("user_id").agg(
            avg_cart_price_1h=bv.mean("price", window="1h", where=bv.col("action") == "add_to_cart"),
            top_categories_1h=bv.top_k("category", k=3, window="1h"),
            categories_seen_1h=bv.n_unique("category", window="1h"),
            events_total=bv.count(),
        )

    return ShopEvent, SkuMomentum, UserIntent


def growth() -> tuple[Any, Any, Any]:
    @bv.event
    class UsageEvent:
        user_id: str
        org_id: str
        feature: str
        action: str
        status: str
        duration_ms: float

    @bv.table(key="user_id")
    def UserFriction(e: UsageEvent):
        return e.group_by("user_id").agg(
            errors_1h=bv.count(window="1h", where=bv.col("status") == "error"),
            top_error_features_1h=bv.top_k("feature", k=2, window="1h", where=bv.col("status") == "error"),
            engagement_decay=bv.decayed_sum("duration_ms", half_life="1h"),
            ms_since_last_event=bv.time_since(),
            last_feature=bv.last("feature"),
        )

    @bv.table(key="org_id")
    def OrgExpansion(e: UsageEvent):
        return e.group_by("org_id").agg(
            invites_7d=bv.count(window="7d", where=bv.col("action") == "invite"),
            active_users_7d=bv.n_unique("user_id", window="7d"),
        )

    return UsageEvent, UserFriction, OrgExpansion
