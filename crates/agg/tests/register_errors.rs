//! Register-time validation: every error code `compile` and `governance_check` emit, with the
//! paths and reasons beava 0.0.6 returned for the same params (oracle), and the check order
//! when several params are wrong.
#![allow(clippy::result_large_err)]

mod common;

use agg::governance_check;
use common::{params, try_compile, PATH};
use serde_json::json;

fn err(op: &str, p: serde_json::Value) -> (String, String, String) {
    let e = try_compile(op, p.clone()).expect_err(&format!("{op} {p} should be rejected"));
    (e.code.to_string(), e.path, e.reason)
}

fn code(op: &str, p: serde_json::Value) -> String {
    err(op, p).0
}

fn ok(op: &str, p: serde_json::Value) {
    if let Err(e) = try_compile(op, p.clone()) {
        panic!("{op} {p} should compile: {e}");
    }
}

#[test]
fn unknown_field() {
    assert_eq!(
        err("sum", json!({"field": "nope"})),
        (
            "aggregation_unknown_field".into(),
            format!("{PATH}.params.field"),
            "field 'nope' does not exist in upstream schema".into()
        )
    );
    assert_eq!(
        err("first", json!({})),
        (
            "aggregation_unknown_field".into(),
            format!("{PATH}.params.field"),
            "op 'first' requires a field= parameter".into()
        )
    );
    // A non-string field reads as absent.
    assert_eq!(
        code("last", json!({"field": 3})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("first", json!({"field": null})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("first", json!({"field": ""})),
        "aggregation_unknown_field"
    );
    for op in [
        "sum", "mean", "min", "max", "var", "std", "n_unique", "quantile", "top_k", "entropy",
        "first", "last",
    ] {
        assert_eq!(
            code(op, json!({"field": "nope"})),
            "aggregation_unknown_field",
            "{op}"
        );
    }
    for (op, p) in [
        ("first_n", json!({"field": "nope", "n": 2})),
        ("decayed_sum", json!({"field": "nope", "half_life": "1h"})),
        ("ewma", json!({"field": "nope", "half_life": "1h"})),
    ] {
        assert_eq!(code(op, p), "aggregation_unknown_field", "{op}");
    }
    // Ops that never validate `field` (beava): an unknown name registers fine.
    for (op, p) in [
        ("count", json!({"field": "nope"})),
        ("ratio", json!({"field": "nope"})),
        ("streak", json!({"field": "nope"})),
        ("last_seen", json!({"field": "nope"})),
        ("time_since", json!({"field": "nope"})),
        ("first_seen", json!({"field": "nope"})),
        ("decayed_count", json!({"field": "nope", "half_life": "1m"})),
    ] {
        ok(op, p);
    }
    // Numeric ops on non-numeric fields register (they read null forever).
    for f in ["s", "b", "j", "k"] {
        ok("sum", json!({"field": f}));
    }
    ok("sum", json!({}));
    ok("sum", json!({"field": "x", "foo": 1}));
}

#[test]
fn n_param() {
    assert_eq!(
        err("first_n", json!({"field": "x", "n": 1025})),
        (
            "aggregation_unknown_field".into(),
            format!("{PATH}.params.n"),
            "op 'first_n' parameter 'n' must be in [1, 1024]; got 1025".into()
        )
    );
    assert_eq!(
        err("lag", json!({"field": "x", "window": "1h"})),
        (
            "aggregation_unknown_field".into(),
            format!("{PATH}.params.n"),
            "op 'lag' requires a positive integer 'n' parameter".into()
        )
    );
    for n in [json!(1.5), json!("2"), json!(true), json!(-1)] {
        assert_eq!(
            err("lag", json!({"field": "x", "n": n, "window": "1h"})).2,
            "op 'lag' requires a positive integer 'n' parameter"
        );
    }
    assert_eq!(
        err("time_since_last_n", json!({"n": 0, "window": "forever"})).2,
        "op 'time_since_last_n' parameter 'n' must be in [1, 1024]; got 0"
    );
    ok("lag", json!({"field": "x", "n": 1024}));
    ok("time_since_last_n", json!({"n": 2}));
}

#[test]
fn invalid_window() {
    let bad_duration = |w: &str| {
        (
            "aggregation_invalid_window".to_string(),
            format!("{PATH}.params.window"),
            format!(
                "invalid window duration '{w}'; expected format: \\d+(ms|s|m|h|d) or 'forever'"
            ),
        )
    };
    for w in ["0s", "1w", "1.5h", " 1m", "1M", "99999999999999999999d", ""] {
        assert_eq!(
            err("sum", json!({"field": "x", "window": w})),
            bad_duration(w)
        );
    }
    assert_eq!(
        err("first", json!({"field": "x", "window": "1h"})),
        (
            "aggregation_invalid_window".into(),
            format!("{PATH}.params.window"),
            "op 'first' is a lifetime operator and does not accept window=".into()
        )
    );
    // ✘ ops reject any string window, even "forever" or garbage.
    for w in ["forever", "abc"] {
        assert_eq!(
            code("streak", json!({ "window": w })),
            "aggregation_invalid_window"
        );
        assert_eq!(
            code("last", json!({"field": "x", "window": w})),
            "aggregation_invalid_window"
        );
    }
    for op in ["time_since", "last_seen", "time_since_last_n"] {
        assert_eq!(
            code(op, json!({"window": "1h", "n": 2})),
            "aggregation_invalid_window"
        );
    }
    // ○ ops parse the window, then ignore it.
    assert_eq!(
        err(
            "decayed_sum",
            json!({"field": "x", "half_life": "1h", "window": "abc"})
        ),
        bad_duration("abc")
    );
    ok(
        "decayed_sum",
        json!({"field": "x", "half_life": "1h", "window": "1h"}),
    );
    ok(
        "decayed_sum",
        json!({"field": "x", "half_life": "1h", "window": "forever"}),
    );
    // Non-string windows read as absent.
    ok("sum", json!({"field": "x", "window": 5}));
    ok("sum", json!({"field": "x", "window": null}));
    ok("first", json!({"field": "x", "window": 5}));
    ok("sum", json!({"field": "x", "window": "01m"}));
    ok("n_unique", json!({"field": "x", "window": "forever"}));
    // first_seen_in_window requires one.
    assert_eq!(
        err("first_seen_in_window", json!({})),
        (
            "aggregation_invalid_window".into(),
            format!("{PATH}.params.window"),
            "op 'first_seen_in_window' requires a window= duration parameter".into()
        )
    );
    assert_eq!(
        code("first_seen_in_window", json!({"window": 5})),
        "aggregation_invalid_window"
    );
    assert_eq!(
        err("first_seen_in_window", json!({"window": "abc"})),
        bad_duration("abc")
    );
    ok("first_seen_in_window", json!({"window": "forever"}));
}

#[test]
fn percentile_q() {
    for (q, shown) in [
        (json!(0), "0"),
        (json!(1), "1"),
        (json!(-0.1), "-0.1"),
        (json!(5), "5"),
    ] {
        assert_eq!(
            err("quantile", json!({"field": "x", "q": q})),
            (
                "invalid_percentile_q".into(),
                format!("{PATH}.params.q"),
                format!("percentile q must be in (0.0, 1.0); got {shown}")
            )
        );
    }
    ok("quantile", json!({"field": "x", "q": "0.5"}));
    ok("quantile", json!({"field": "x", "q": null}));
}

#[test]
fn top_k_k() {
    for k in [0, 1025] {
        assert_eq!(
            err("top_k", json!({"field": "x", "k": k})),
            (
                "invalid_top_k_k".into(),
                format!("{PATH}.params.k"),
                format!("top_k k must be in (0, 1024]; got {k}")
            )
        );
    }
    for k in [json!(1024), json!(2.5), json!("3"), json!(-1), json!(null)] {
        ok("top_k", json!({"field": "x", "k": k}));
    }
}

#[test]
fn half_life_and_sub_window() {
    for (op, owner) in [
        ("decayed_sum", "DecayedSum"),
        ("decayed_count", "DecayedCount"),
        ("ewma", "Ewma"),
        ("ema", "Ewma"),
        ("ewvar", "EwVar"),
        ("ew_zscore", "EwZScore"),
    ] {
        for hl in [
            json!(null),
            json!(3_600_000),
            json!("0s"),
            json!("abc"),
            json!(1.5),
            json!("forever"),
        ] {
            let mut p = json!({"field": "x"});
            if !hl.is_null() {
                p["half_life"] = hl;
            }
            assert_eq!(
                err(op, p),
                (
                    "invalid_registration".into(),
                    format!("{PATH}.params.half_life"),
                    format!(
                        "{owner} requires positive finite half_life duration string \
                         (e.g., \"5m\"); got None"
                    )
                )
            );
        }
    }
}

#[test]
fn check_order() {
    // Field before window; field before k/q; k/q/n before window.
    assert_eq!(
        code("sum", json!({"field": "nope", "window": "abc"})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("first", json!({"field": "nope", "window": "1h"})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("first", json!({"window": "1h"})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("quantile", json!({"field": "nope", "q": 5})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("quantile", json!({"field": "x", "q": 5, "window": "abc"})),
        "invalid_percentile_q"
    );
    assert_eq!(
        code("top_k", json!({"field": "nope", "k": 0})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("top_k", json!({"field": "x", "k": 0, "window": "abc"})),
        "invalid_top_k_k"
    );
    assert_eq!(
        code("first_n", json!({"field": "nope", "n": 3000})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code("first_n", json!({"n": 3000})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        err("first_n", json!({"n": 3000})).1,
        format!("{PATH}.params.field")
    );
    assert_eq!(
        code("time_since_last_n", json!({"n": 3000, "window": "abc"})),
        "aggregation_unknown_field"
    );
    // Decay ops check half_life before field.
    assert_eq!(
        code("decayed_sum", json!({"field": "nope"})),
        "invalid_registration"
    );
    assert_eq!(
        code("ewma", json!({"field": "nope", "half_life": "x"})),
        "invalid_registration"
    );
    assert_eq!(
        code("decayed_sum", json!({"field": "x", "window": "abc"})),
        "invalid_registration"
    );
}

#[test]
fn unknown_op() {
    let (code, path, reason) = err("nope", json!({"window": "1h"}));
    assert_eq!(code, "aggregation_unknown_op");
    assert_eq!(path, format!("{PATH}.op"));
    assert!(reason.starts_with("unknown aggregation op 'nope'; valid ops are: count, sum, mean"));
    // The SDK's deprecated aliases are not server op strings.
    for alias in ["avg", "variance", "stddev", "count_distinct", "percentile"] {
        assert_eq!(
            err(alias, json!({"field": "x", "window": "1h"})).0,
            "aggregation_unknown_op"
        );
    }
}

#[test]
fn governance() {
    let path = "nodes[1].T.ops[0].agg.f";
    let check = |op: &str, p: serde_json::Value| governance_check(op, &params(p), path);
    let e = check("nope", json!({})).unwrap_err();
    assert_eq!(e.code, "unbounded_op_in_lifetime_mode");
    assert_eq!(e.path, path);
    assert!(e
        .reason
        .starts_with("Aggregation op `nope` requires explicit memory bound in v0."));
    // Any string window bypasses it, even "forever" or garbage; a non-string does not.
    check("nope", json!({"window": "forever"})).unwrap();
    check("nope", json!({"window": "abc"})).unwrap();
    assert!(check("nope", json!({"window": 5})).is_err());
    for op in [
        "first_n",
        "last_n",
        "lag",
        "time_since_last_n",
        "most_recent_n",
    ] {
        for n in [
            json!(null),
            json!(0),
            json!(-1),
            json!(2.5),
            json!(2.0),
            json!("3"),
            json!(true),
        ] {
            let mut p = json!({"field": "x"});
            if !n.is_null() {
                p["n"] = n;
            }
            let e = check(op, p).unwrap_err();
            assert!(
                e.reason.contains("the `n` kwarg is missing or invalid"),
                "{op}: {}",
                e.reason
            );
        }
        check(op, json!({"field": "x", "n": 3})).unwrap();
        // Out-of-range n passes governance; compile reports it.
        check(op, json!({"field": "x", "n": 3000})).unwrap();
    }
    assert!(check("reservoir_sample", json!({"field": "x", "k": 3})).is_err());
    check("reservoir_sample", json!({"field": "x", "samples": 3000})).unwrap();
    for b in [
        json!(null),
        json!([]),
        json!({}),
        json!("a"),
        json!(0),
        json!(-1),
        json!(2.5),
        json!(true),
    ] {
        let mut p = json!({"field": "x"});
        if !b.is_null() {
            p["buckets"] = b.clone();
        }
        assert!(check("histogram", p).is_err(), "buckets {b}");
    }
    for b in [json!(5), json!([null]), json!(["a"]), json!([3, 1])] {
        check("histogram", json!({"field": "x", "buckets": b})).unwrap();
    }
    for op in [
        "count",
        "sum",
        "n_unique",
        "quantile",
        "top_k",
        "bloom_member",
        "entropy",
        "ewma",
        "event_type_mix",
        "distance_from_home",
        "geo_spread",
        "z_score",
    ] {
        check(op, json!({"field": "x"})).unwrap();
    }
}

#[test]
fn bloom_member_params() {
    for w in ["1h", "forever", "abc"] {
        assert_eq!(
            err("bloom_member", json!({"field": "x", "window": w})),
            (
                "window_not_supported".into(),
                format!("{PATH}.params.window"),
                "bloom_member is windowless-only — `window` kwarg not supported".into()
            )
        );
    }
    // Field before window, window before fpr.
    assert_eq!(
        code("bloom_member", json!({"field": "nope", "window": "1h"})),
        "aggregation_unknown_field"
    );
    assert_eq!(
        code(
            "bloom_member",
            json!({"field": "x", "fpr": 2, "window": "1h"})
        ),
        "window_not_supported"
    );
    for (p, shown) in [
        (json!({"target_fpr": 1.5}), "1.5"),
        (json!({"fpr": 0}), "0"),
        (json!({"fpr": 0.5, "target_fpr": 5}), "5"),
    ] {
        let mut p = p;
        p["field"] = json!("x");
        assert_eq!(
            err("bloom_member", p),
            (
                "invalid_bloom_fpr".into(),
                format!("{PATH}.params.target_fpr"),
                format!("bloom_member fpr must be in (0.0, 1.0); got {shown}")
            )
        );
    }
    ok(
        "bloom_member",
        json!({"field": "x", "target_fpr": 0.5, "fpr": 5}),
    );
    ok("bloom_member", json!({"field": "x", "target_fpr": "0.5"}));
    ok(
        "bloom_member",
        json!({"field": "x", "expected_n": -1, "window": 5}),
    );
}

#[test]
fn sub_window_and_buffer_capacities() {
    for sw in [json!(null), json!(60_000), json!("0m"), json!("forever")] {
        let mut p = json!({"window": "abc"});
        if !sw.is_null() {
            p["sub_window"] = sw;
        }
        assert_eq!(
            err("burst_count", p),
            (
                "invalid_registration".into(),
                format!("{PATH}.params.sub_window"),
                "burst_count requires positive finite sub_window duration string".into()
            )
        );
    }
    assert_eq!(
        code("burst_count", json!({"sub_window": "1m", "window": "abc"})),
        "aggregation_invalid_window"
    );
    ok("burst_count", json!({"sub_window": "1m", "window": "1h"}));
    // most_recent_n / reservoir_sample: window is checked first (they are ✘ ops), then the size
    // (beava leaves the size to governance; weir reports it when governance is off).
    assert_eq!(
        code(
            "most_recent_n",
            json!({"field": "x", "n": 0, "window": "forever"})
        ),
        "aggregation_invalid_window"
    );
    assert_eq!(
        err("reservoir_sample", json!({"field": "x", "k": 5})),
        (
            "aggregation_unknown_field".into(),
            format!("{PATH}.params.samples"),
            "op 'reservoir_sample' requires a positive integer 'samples' parameter".into()
        )
    );
    ok("most_recent_n", json!({"field": "x", "n": 5000}));
    ok("reservoir_sample", json!({"field": "x", "samples": 5000}));
    // Unvalidated params beava accepts.
    ok("histogram", json!({"field": "x", "buckets": [3, 1]}));
    ok("histogram", json!({"field": "x", "buckets": 5}));
    ok("outlier_count", json!({"field": "x", "sigma": -1}));
    ok("entropy", json!({"field": "s", "max_categories": 0}));
    ok("distance_from_home", json!({"samples": 5000}));
    ok("geo_velocity", json!({"lat": "x", "lon": "nope"}));
    for (op, p) in [
        ("hour_of_day_histogram", json!({"window": "1h"})),
        ("seasonal_deviation", json!({"field": "x", "window": "1h"})),
        ("event_type_mix", json!({"field": "s", "window": "1h"})),
        (
            "histogram",
            json!({"field": "x", "buckets": [1], "window": "forever"}),
        ),
    ] {
        assert_eq!(code(op, p), "aggregation_invalid_window", "{op}");
    }
    for (op, p) in [
        ("z_score", json!({"field": "x", "window": "1h"})),
        ("twa", json!({"field": "x", "window": "1h"})),
        ("entropy", json!({"field": "s", "window": "1h"})),
    ] {
        ok(op, p);
    }
}

#[test]
fn every_catalogue_op_compiles() {
    let ops = [
        ("count", json!({})),
        ("sum", json!({"field": "x"})),
        ("mean", json!({"field": "x"})),
        ("min", json!({"field": "x"})),
        ("max", json!({"field": "x"})),
        ("var", json!({"field": "x"})),
        ("std", json!({"field": "x"})),
        ("ratio", json!({})),
        ("n_unique", json!({"field": "x"})),
        ("quantile", json!({"field": "x"})),
        ("top_k", json!({"field": "x"})),
        ("bloom_member", json!({"field": "x"})),
        ("entropy", json!({"field": "x"})),
        ("first", json!({"field": "x"})),
        ("last", json!({"field": "x"})),
        ("first_n", json!({"field": "x", "n": 2})),
        ("last_n", json!({"field": "x", "n": 2})),
        ("lag", json!({"field": "x", "n": 1})),
        ("first_seen", json!({})),
        ("last_seen", json!({})),
        ("age", json!({})),
        ("has_seen", json!({})),
        ("time_since", json!({})),
        ("time_since_last_n", json!({"n": 1})),
        ("streak", json!({})),
        ("max_streak", json!({})),
        ("negative_streak", json!({})),
        ("first_seen_in_window", json!({"window": "1h"})),
        ("ewma", json!({"field": "x", "half_life": "1h"})),
        ("ema", json!({"field": "x", "half_life": "1h"})),
        ("ewvar", json!({"field": "x", "half_life": "1h"})),
        ("ew_zscore", json!({"field": "x", "half_life": "1h"})),
        ("decayed_sum", json!({"field": "x", "half_life": "1h"})),
        ("decayed_count", json!({"half_life": "1h"})),
        ("twa", json!({"field": "x"})),
        ("rate_of_change", json!({"field": "x"})),
        ("inter_arrival_stats", json!({})),
        ("burst_count", json!({"sub_window": "1m"})),
        ("delta_from_prev", json!({"field": "x"})),
        ("trend", json!({"field": "x"})),
        ("trend_residual", json!({"field": "x"})),
        ("outlier_count", json!({"field": "x"})),
        ("value_change_count", json!({"field": "x"})),
        ("z_score", json!({"field": "x"})),
        ("histogram", json!({"field": "x", "buckets": [1]})),
        ("hour_of_day_histogram", json!({})),
        ("dow_hour_histogram", json!({})),
        ("seasonal_deviation", json!({"field": "x"})),
        ("event_type_mix", json!({"field": "s"})),
        ("most_recent_n", json!({"field": "x", "n": 3})),
        ("reservoir_sample", json!({"field": "x", "samples": 3})),
        ("geo_velocity", json!({})),
        ("geo_distance", json!({})),
        ("geo_spread", json!({})),
        ("distance_from_home", json!({})),
    ];
    assert_eq!(ops.len(), 55);
    for (op, p) in ops {
        let spec = try_compile(op, p).unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(spec.op_name(), op);
        // A fresh state reads without panicking.
        let state = spec.new_state();
        let _ = spec.read(&state, 0);
        assert_eq!(state.heap_bytes(), 0, "{op}: a fresh state owns no heap");
    }
}
