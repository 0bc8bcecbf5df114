"""Every operator helper the beava SDK exports, registered through the SDK and read back, over HTTP and TCP.

One case = one `@bv.table` with a single feature `f = bv.<op>(...)` over the event `E`; the same five
events are pushed and the row of entity "a" is checked. Expected values were produced by running
this file against beava 0.0.6's own binary (WEIR_TEST_BINARY=.../beava). Ops whose value depends on
processing-time gaps between pushes (recency, decay, velocity, geo_velocity) are checked for type
and range only; hour/day-of-week histograms are exact unless the pushes straddle a UTC hour.
"""
from __future__ import annotations

import math
import time
import warnings
from datetime import datetime, timezone
from typing import Any, Callable

import beava as bv
import pytest
from beava._agg import AggDescriptor

from conftest import Server

c = bv.col


@bv.event
class E:
    k: str
    x: float
    s: str
    b: bool
    lat: float
    lon: float


EVENTS = [
    {"k": "a", "x": 3.0, "s": "p", "b": True, "lat": 48.8566, "lon": 2.3522},
    {"k": "a", "x": 1.0, "s": "q", "b": True, "lat": 51.5074, "lon": -0.1278},
    {"k": "a", "x": 4.0, "s": "p", "b": False, "lat": 52.5200, "lon": 13.4050},
    {"k": "a", "x": 1.0, "s": "r", "b": True, "lat": 48.8566, "lon": 2.3522},
    {"k": "a", "x": 5.0, "s": "p", "b": True, "lat": 41.9028, "lon": 12.4964},
]

Ctx = dict[str, Any]  # t0: ms before the first push, t1: ms after the read
Check = Any  # an expected JSON value (type-strict, floats rel 1e-9) or a predicate (value, ctx) -> bool


def same(got: Any, want: Any) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return sorted(got) == sorted(want) and all(same(got[k], w) for k, w in want.items())
    return bool(got == want)


def is_float_in(lo: float, hi: float) -> Callable[[Any, Ctx], bool]:
    return lambda v, ctx: type(v) is float and lo <= v <= hi


def is_float_or_null(v: Any, ctx: Ctx) -> bool:
    return v is None or type(v) is float


def is_time_in_run(v: Any, ctx: Ctx) -> bool:
    return type(v) is int and ctx["t0"] <= v <= ctx["t1"]


def is_elapsed(v: Any, ctx: Ctx) -> bool:
    return type(v) is int and 0 <= v <= ctx["t1"] - ctx["t0"]


def _one_hour(ctx: Ctx) -> datetime | None:
    h0, h1 = (datetime.fromtimestamp(ctx[t] / 1000, tz=timezone.utc) for t in ("t0", "t1"))
    return h0 if (h0.date(), h0.hour) == (h1.date(), h1.hour) else None


def hour_hist_ok(v: Any, ctx: Ctx) -> bool:
    if not (type(v) is list and len(v) == 24 and all(type(n) is int for n in v) and sum(v) == 5):
        return False
    h = _one_hour(ctx)
    return h is None or v[h.hour] == 5


def dow_hour_hist_ok(v: Any, ctx: Ctx) -> bool:
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    keys = {f"{d}-{h:02d}" for d in days for h in range(24)}
    if not (type(v) is dict and set(v) == keys and all(type(n) is int for n in v.values()) and sum(v.values()) == 5):
        return False
    h = _one_hour(ctx)
    return h is None or v[f"{days[h.weekday()]}-{h.hour:02d}"] == 5


def burst_ok(v: Any, ctx: Ctx) -> bool:
    # max events in one 1h sub-window bucket: all five unless the pushes straddle an hour boundary
    return type(v) is int and (v == 5 if _one_hour(ctx) else 3 <= v <= 5)


def seasonal_ok(v: Any, ctx: Ctx) -> bool:
    # z of the last value against its UTC-hour bucket = lifetime z while all pushes share an hour
    return same(v, 1.2298373876248845) if _one_hour(ctx) else is_float_or_null(v, ctx)


def _deprecated(fn: Callable[..., AggDescriptor], *a: Any, **kw: Any) -> AggDescriptor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn(*a, **kw)


STD = 1.7888543819998317  # sample std of 3,1,4,1,5
TOP2 = [{"count": 3, "value": "p"}, {"count": 1, "value": "q"}]

# (case id, agg descriptor, expected value or predicate)
CASES: list[tuple[str, AggDescriptor, Check]] = [
    # counting / moments (lifetime and 64-bucket windowed)
    ("count", bv.count(), 5),
    ("count_window", bv.count(window="1h"), 5),
    ("count_where", bv.count(where=c("b")), 4),
    ("count_forever", bv.count(window="forever"), 5),
    ("sum", bv.sum("x"), 14.0),
    ("sum_window", bv.sum("x", window="1h"), 14.0),
    ("sum_where", bv.sum("x", where=c("s") == "p"), 12.0),
    ("mean", bv.mean("x"), 2.8),
    ("mean_window", bv.mean("x", window="1h"), 2.8),
    ("min", bv.min("x"), 1.0),
    ("min_str", bv.min("s"), "p"),
    ("min_window", bv.min("x", window="1h"), 1.0),
    ("max", bv.max("x"), 5.0),
    ("max_window", bv.max("x", window="1h"), 5.0),
    ("var", bv.var("x"), 3.2),
    ("var_window", bv.var("x", window="1h"), 3.2),
    ("std", bv.std("x"), STD),
    ("std_window", bv.std("x", window="1h"), STD),
    ("ratio", bv.ratio(where=c("b")), 0.8),
    ("ratio_window", bv.ratio(window="1h", where=c("x") > 2), 0.6),
    # sketches
    ("n_unique", bv.n_unique("s"), 3),
    ("n_unique_window", bv.n_unique("s", window="1h"), 3),
    ("quantile", bv.quantile("x", q=0.5), 3.0),
    ("quantile_window", bv.quantile("x", q=0.9, window="1h"), 4.6),
    ("top_k", bv.top_k("s", k=2), TOP2),
    ("top_k_window", bv.top_k("s", k=1, window="1h"), [{"count": 3, "value": "p"}]),
    ("bloom_member", bv.bloom_member("s"), True),
    ("entropy", bv.entropy("s"), 1.3709505944546687),
    ("entropy_window", bv.entropy("s", window="1h"), 1.3709505944546687),
    ("histogram", bv.histogram("x", buckets=[2.0, 4.0]), {"2-4": 1, "<2": 2, ">=4": 2}),
    ("hour_of_day_histogram", bv.hour_of_day_histogram(), hour_hist_ok),
    ("dow_hour_histogram", bv.dow_hour_histogram(), dow_hour_hist_ok),
    ("seasonal_deviation", bv.seasonal_deviation("x"), seasonal_ok),
    ("event_type_mix", bv.event_type_mix("s"), {"p": 0.6, "q": 0.2, "r": 0.2}),
    ("event_type_mix_categories", bv.event_type_mix("s", categories=["p", "q"]), {"p": 0.6, "q": 0.2}),
    ("most_recent_n", bv.most_recent_n("s", n=2), ["r", "p"]),
    ("reservoir_sample", bv.reservoir_sample("x", samples=10), [3.0, 1.0, 4.0, 1.0, 5.0]),
    # buffers
    ("first", bv.first("s"), "p"),
    ("last", bv.last("x"), 5.0),
    ("first_n", bv.first_n("x", n=2), [3.0, 1.0]),
    ("first_n_where", bv.first_n("x", n=2, where=c("x") > 2), [3.0, 4.0]),
    ("last_n", bv.last_n("s", n=3), ["p", "r", "p"]),
    ("lag", bv.lag("x"), 1.0),
    ("lag_n2", bv.lag("s", n=2), "p"),
    ("delta_from_prev", bv.delta_from_prev("x"), 4.0),
    # recency / streaks
    ("first_seen", bv.first_seen(), is_time_in_run),
    ("last_seen", bv.last_seen(), is_time_in_run),
    ("age", bv.age(), is_elapsed),
    ("has_seen", bv.has_seen(where=c("x") > 4), True),
    ("has_seen_never", bv.has_seen(where=c("x") > 10), False),
    ("time_since", bv.time_since(), is_elapsed),
    ("time_since_where", bv.time_since(where=~c("b")), is_elapsed),
    ("time_since_last_n", bv.time_since_last_n(n=2), is_elapsed),
    ("streak", bv.streak(where=c("b")), 2),
    ("max_streak", bv.max_streak(where=c("x") < 4), 2),
    ("negative_streak", bv.negative_streak(where=c("s") == "q"), 3),
    ("first_seen_in_window", bv.first_seen_in_window(window="1h"), True),
    # decay (gaps between pushes are a few ms against a 1h half-life)
    ("ewma", bv.ewma("x", half_life="1h"), is_float_in(1.0, 5.0)),
    ("ema", bv.ema("x", half_life="1h"), is_float_in(1.0, 5.0)),
    ("ema_wire_alias", AggDescriptor(op="ema", field="x", half_life="1h"), is_float_in(1.0, 5.0)),
    ("ewvar", bv.ewvar("x", half_life="1h"), is_float_in(0.0, 16.0)),
    ("ew_zscore", bv.ew_zscore("x", half_life="1h"), is_float_or_null),
    ("decayed_sum", bv.decayed_sum("x", half_life="1h"), is_float_in(13.99, 14.0)),
    ("decayed_count", bv.decayed_count(half_life="1h"), is_float_in(4.99, 5.0)),
    ("twa", bv.twa("x", window="1h"), is_float_in(1.0, 5.0)),
    # velocity
    ("rate_of_change", bv.rate_of_change("x", window="1h"), is_float_or_null),
    ("inter_arrival_stats", bv.inter_arrival_stats(window="1h"), lambda v, ctx: type(v) is float and 0.0 <= v <= ctx["t1"] - ctx["t0"]),
    ("burst_count", bv.burst_count(window="1h", sub_window="1h"), burst_ok),
    ("trend", bv.trend("x", window="1h"), is_float_or_null),
    ("trend_residual", bv.trend_residual("x", window="1h"), is_float_or_null),
    ("outlier_count", bv.outlier_count("x", window="1h", sigma=1.0), 0),
    ("value_change_count", bv.value_change_count("s", window="1h"), 4),
    ("z_score", bv.z_score("x", baseline_window="1h"), 1.2298373876248845),
    # geo
    ("geo_velocity", bv.geo_velocity(lat="lat", lon="lon"), lambda v, ctx: type(v) is float and v >= 0.0),
    ("geo_distance", bv.geo_distance(lat="lat", lon="lon"), 3257.868955441552),
    ("geo_spread", bv.geo_spread(lat="lat", lon="lon"), 586.6045657352736),
    ("distance_from_home", bv.distance_from_home(lat="lat", lon="lon", samples=3), 694.89266549093),
    # deprecated SDK aliases (serialised as the new op names)
    ("avg", _deprecated(bv.avg, "x"), 2.8),
    ("variance", _deprecated(bv.variance, "x"), 3.2),
    ("stddev", _deprecated(bv.stddev, "x"), STD),
    ("count_distinct", _deprecated(bv.count_distinct, "s"), 3),
    ("percentile", _deprecated(bv.percentile, "x", p=0.5), 3.0),
]

_HELPERS = {name for name in bv.__all__ if name not in {
    "App", "RegistrationError", "BinaryNotFoundError", "ValidationError", "col", "lit", "event", "table", "demo"}}


def test_every_exported_op_helper_and_wire_op_has_a_case() -> None:
    covered_helpers = {cid for cid, _, _ in CASES}
    assert _HELPERS <= covered_helpers, sorted(_HELPERS - covered_helpers)
    wire_ops = {agg.op for _, agg, _ in CASES}
    # all 55 op strings the server accepts: the 54 catalogue kinds + the `ema` alias (the SDK's own
    # `ema` helper emits "ewma", so the alias is sent as a raw AggDescriptor)
    assert len(wire_ops) == 55 and "ema" in wire_ops, sorted(wire_ops)


@pytest.fixture(params=["http", "tcp"])
def app(request: pytest.FixtureRequest, server: Server) -> Any:
    url = server.http_url if request.param == "http" else server.tcp_url
    with bv.App(url) as a:
        yield a
    assert server.alive(), "server died during the test"


@pytest.mark.parametrize(("agg", "check"), [pytest.param(a, ch, id=cid) for cid, a, ch in CASES])
def test_op_helper(app: Any, agg: AggDescriptor, check: Check) -> None:
    @bv.table(key="k")
    def T(e: E):
        return e.group_by("k").agg(f=agg)

    app.reset()
    out = app.register(E, T)
    assert out["status"] == "ok"
    assert app.get("T", "a") == {}
    t0 = int(time.time() * 1000)
    for ev in EVENTS:
        app.push("E", ev)
    row = app.get("T", "a")
    t1 = int(time.time() * 1000)
    assert list(row) == ["f"], row
    got = row["f"]
    if callable(check):
        assert check(got, {"t0": t0, "t1": t1}), f"unexpected value {got!r} (t0={t0}, t1={t1})"
    else:
        assert same(got, check), f"got {got!r}, want {check!r}"
