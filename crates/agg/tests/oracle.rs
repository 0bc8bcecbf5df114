//! Behaviour verified against the real beava 0.0.6 binary (`/work/.venv-oracle/bin/beava`).
//!
//! Each test replays an event sequence pushed to beava and asserts the values its `/get`
//! returned (quoted in the comments). Event times are the processing times beava stamped (read
//! back through `last_seen`), or arbitrary where the op does not depend on time.

mod common;

use common::Agg;
use serde_json::json;

/// Oracle run "t1": four events ~1 ms apart on one entity, every op lifetime unless noted.
#[test]
fn core_ops_over_four_events() {
    let events = [
        json!({"x": 1.0, "i": 1, "s": "foo", "b": true, "ok": false}),
        json!({"x": 2.0, "i": 1, "s": "bar", "b": false, "ok": true}),
        json!({"x": 2.5, "i": 3, "s": "baz", "ok": true}),
        json!({}),
    ];
    let mut aggs = vec![
        ("cnt", Agg::new("count", json!({}))),
        ("cntw", Agg::new("count", json!({"window": "1h", "where": "ok"}))),
        ("sum_i", Agg::new("sum", json!({"field": "i"}))),
        ("sum_x", Agg::new("sum", json!({"field": "x", "window": "1h"}))),
        ("mean_i", Agg::new("mean", json!({"field": "i"}))),
        ("min_i", Agg::new("min", json!({"field": "i"}))),
        ("max_x", Agg::new("max", json!({"field": "x"}))),
        ("min_s", Agg::new("min", json!({"field": "s"}))),
        ("max_s", Agg::new("max", json!({"field": "s", "window": "1h"}))),
        ("min_b", Agg::new("min", json!({"field": "b"}))),
        ("var_i", Agg::new("var", json!({"field": "i"}))),
        ("std_x", Agg::new("std", json!({"field": "x"}))),
        ("ratio", Agg::new("ratio", json!({"where": "ok"}))),
        ("nu_i", Agg::new("n_unique", json!({"field": "i"}))),
        ("nu_x", Agg::new("n_unique", json!({"field": "x"}))),
        ("nu_s", Agg::new("n_unique", json!({"field": "s", "window": "1h"}))),
        ("first_i", Agg::new("first", json!({"field": "i"}))),
        ("last_x", Agg::new("last", json!({"field": "x"}))),
        ("last_b", Agg::new("last", json!({"field": "b"}))),
        ("topk_i", Agg::new("top_k", json!({"field": "i", "k": 2}))),
        ("topk_b", Agg::new("top_k", json!({"field": "b"}))),
        ("topk_x", Agg::new("top_k", json!({"field": "x", "window": "1h"}))),
        ("q_i", Agg::new("quantile", json!({"field": "i"}))),
        ("streak", Agg::new("streak", json!({"where": "ok"}))),
        ("ls", Agg::new("last_seen", json!({}))),
        ("ts", Agg::new("time_since", json!({"where": "ok"}))),
        ("ds", Agg::new("decayed_sum", json!({"field": "x", "half_life": "1h"}))),
    ];
    let t0 = 1_795_255_704_674;
    let mut reads = Vec::new();
    for (n, e) in events.iter().enumerate() {
        let t = t0 + n as i64;
        for (_, a) in aggs.iter_mut() {
            a.push(t, e.clone());
        }
        // beava's last read landed 1 ms after its push.
        let q = if n == 3 { t + 1 } else { t };
        let row: serde_json::Map<_, _> = aggs
            .iter()
            .map(|(name, a)| (name.to_string(), a.read(q)))
            .collect();
        reads.push(serde_json::Value::Object(row));
    }
    // After the first event.
    let r = &reads[0];
    assert_eq!(r["cntw"], json!(0));
    assert_eq!(r["ratio"], json!(0.0));
    assert_eq!(r["std_x"], json!(null));
    assert_eq!(r["var_i"], json!(null));
    assert_eq!(r["streak"], json!(0));
    assert_eq!(r["ts"], json!(null));
    assert_eq!(r["sum_i"], json!(1.0));
    assert_eq!(r["topk_b"], json!([{"count": 1, "value": true}]));
    // After the second: ds = 1·2^(-1ms/1h) + 2.
    let r = &reads[1];
    assert_eq!(r["ds"], json!(2.999999807459135));
    assert_eq!(r["topk_b"], json!([{"count": 1, "value": false}, {"count": 1, "value": true}]));
    assert_eq!(r["topk_i"], json!([{"count": 2, "value": 1}]));
    assert_eq!(r["var_i"], json!(0.0));
    assert_eq!(r["ts"], json!(0));
    // After the fourth (an event with no fields at all).
    let want = json!({
        "cnt": 4, "cntw": 2, "ds": 5.499999229836577, "first_i": 1, "last_b": false,
        "last_x": 2.5, "ls": t0 + 3, "max_s": "foo", "max_x": 2.5, "mean_i": 1.6666666666666667,
        "min_b": true, "min_i": 1, "min_s": "bar", "nu_i": 2, "nu_s": 3, "nu_x": 3, "q_i": 1.0,
        "ratio": 0.5, "std_x": 0.7637626158259734, "streak": 0, "sum_i": 5.0, "sum_x": 5.5,
        "topk_b": [{"count": 1, "value": false}, {"count": 1, "value": true}],
        "topk_i": [{"count": 2, "value": 1}, {"count": 1, "value": 3}],
        "topk_x": [{"count": 1, "value": 1.0}, {"count": 1, "value": 2.0},
                   {"count": 1, "value": 2.5}],
        "ts": 2, "var_i": 1.3333333333333335
    });
    assert_eq!(reads[3], want);
}

/// Oracle run "t2": ints and floats pushed into numeric fields keep their JSON kind; windowed
/// values go null/0/[] once the window has passed; a where-failing event still creates the row.
#[test]
fn number_kinds_and_window_expiry() {
    let mk = || {
        vec![
            ("cntw", Agg::new("count", json!({"window": "1s", "where": "ok"}))),
            ("sumw", Agg::new("sum", json!({"field": "x", "window": "1s"}))),
            ("meanw", Agg::new("mean", json!({"field": "x", "window": "1s"}))),
            ("minw", Agg::new("min", json!({"field": "x", "window": "1s"}))),
            ("varw", Agg::new("var", json!({"field": "x", "window": "1s"}))),
            ("ratiow", Agg::new("ratio", json!({"window": "1s", "where": "ok"}))),
            ("nuw", Agg::new("n_unique", json!({"field": "x", "window": "1s"}))),
            ("qw", Agg::new("quantile", json!({"field": "x", "window": "1s", "q": 0.9}))),
            ("tkw", Agg::new("top_k", json!({"field": "x", "window": "1s"}))),
            ("min_b", Agg::new("min", json!({"field": "b"}))),
            ("max_b", Agg::new("max", json!({"field": "b"}))),
            ("min_i", Agg::new("min", json!({"field": "i"}))),
            ("last_i", Agg::new("last", json!({"field": "i"}))),
            ("nu_i", Agg::new("n_unique", json!({"field": "i"}))),
            ("tk_i", Agg::new("top_k", json!({"field": "i"}))),
            ("first_s", Agg::new("first", json!({"field": "s", "where": "ok"}))),
            ("ts", Agg::new("time_since", json!({"where": "ok"}))),
            ("ls", Agg::new("last_seen", json!({"where": "ok"}))),
            ("cnt_s", Agg::new("count", json!({"field": "s"}))),
        ]
    };
    let read_all = |aggs: &Vec<(&str, Agg)>, q: i64| {
        serde_json::Value::Object(
            aggs.iter()
                .map(|(n, a)| (n.to_string(), a.read(q)))
                .collect(),
        )
    };
    // Entity "b": one event whose where fails and which has none of the fields.
    let mut b = mk();
    for (_, a) in b.iter_mut() {
        a.push(1_000, json!({"ok": false}));
    }
    assert_eq!(
        read_all(&b, 1_001),
        json!({"cnt_s": 1, "cntw": 0, "first_s": null, "last_i": null, "ls": null,
               "max_b": null, "meanw": null, "min_b": null, "min_i": null, "minw": null,
               "nu_i": 0, "nnw": null, "nuw": 0, "qw": null, "ratiow": 0.0, "sumw": null,
               "tk_i": [], "tkw": [], "ts": null, "varw": null})
        .as_object()
        .map(|m| {
            let mut m = m.clone();
            m.remove("nnw");
            serde_json::Value::Object(m)
        })
        .unwrap()
    );
    // Entity "a".
    let mut a = mk();
    let events = [
        json!({"b": false, "i": 1, "x": 1}),
        json!({"b": true, "i": 1.0, "x": 1.0}),
        json!({"i": 1.5, "x": 2}),
        json!({"i": 2, "ok": true, "x": 3.0}),
    ];
    let t0 = 2_000;
    for (n, e) in events.iter().enumerate() {
        for (_, agg) in a.iter_mut() {
            agg.push(t0 + n as i64, e.clone());
        }
    }
    let q = t0 + 4;
    assert_eq!(
        read_all(&a, q),
        json!({"cnt_s": 4, "cntw": 1, "first_s": null, "last_i": 2, "ls": t0 + 3,
               "max_b": false, "meanw": 1.75, "min_b": false, "min_i": 1, "minw": 1,
               "nu_i": 4, "nuw": 4, "qw": 2.7, "ratiow": 0.25, "sumw": 7.0,
               "tk_i": [{"count": 1, "value": 1}, {"count": 1, "value": 2},
                        {"count": 1, "value": 1.0}, {"count": 1, "value": 1.5}],
               "tkw": [{"count": 1, "value": 1}, {"count": 1, "value": 2},
                       {"count": 1, "value": 1.0}, {"count": 1, "value": 3.0}],
               "ts": 1, "varw": 0.9166666666666666})
    );
    // 1.1 s later the 1 s window is empty.
    let later = read_all(&a, q + 1_100);
    for (name, want) in [
        ("cntw", json!(0)),
        ("meanw", json!(null)),
        ("minw", json!(null)),
        ("nuw", json!(0)),
        ("qw", json!(null)),
        ("ratiow", json!(null)),
        ("sumw", json!(null)),
        ("tkw", json!([])),
        ("varw", json!(null)),
        ("ts", json!(1_101)),
        ("nu_i", json!(4)),
    ] {
        assert_eq!(later[name], want, "{name}");
    }
}

/// Oracle run "t6": param coercions and numeric ops over mixed-type fields.
#[test]
fn param_coercions_and_mixed_types() {
    let ints = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7, 8, 9, 10, 11, 12];
    let top10 = json!([{"count":6,"value":6},{"count":5,"value":5},{"count":4,"value":4},
        {"count":3,"value":3},{"count":2,"value":2},{"count":1,"value":1},{"count":1,"value":7},
        {"count":1,"value":8},{"count":1,"value":9},{"count":1,"value":10}]);
    // k that is not a positive JSON integer reads as the default 10.
    for k in [json!(2.5), json!(-1), json!("3"), json!(null), json!(2.0)] {
        let mut a = Agg::new("top_k", json!({"field": "i", "k": k}));
        for (n, v) in ints.iter().enumerate() {
            a.push(n as i64, json!({"i": v}));
        }
        assert_eq!(a.read(100), top10, "k = {k}");
    }
    let mut tk1 = Agg::new("top_k", json!({"field": "i", "k": 1}));
    // q that is not a number reads as 0.5.
    let mut q_str = Agg::new("quantile", json!({"field": "i", "q": "0.9"}));
    let mut q9 = Agg::new("quantile", json!({"field": "i", "q": 0.9}));
    for (n, v) in ints.iter().enumerate() {
        for a in [&mut tk1, &mut q_str, &mut q9] {
            a.push(n as i64, json!({"i": v}));
        }
    }
    assert_eq!(tk1.read(100), json!([{"count": 6, "value": 6}]));
    assert_eq!(q_str.read(100), json!(5.0));
    assert_eq!(q9.read(100), json!(9.400000000000002));

    // Numeric ops skip strings, bools and nested values of json fields.
    let js = [
        json!(1),
        json!("zz"),
        json!(2.5),
        json!(true),
        json!([1, 2]),
        json!({"a": 1}),
        json!("aa"),
        json!(false),
        json!(-3),
    ];
    let mut sum_j = Agg::new("sum", json!({"field": "j"}));
    let mut min_j = Agg::new("min", json!({"field": "j"}));
    let mut max_j = Agg::new("max", json!({"field": "j"}));
    let mut last_j = Agg::new("last", json!({"field": "j"}));
    let mut q_j = Agg::new("quantile", json!({"field": "j"}));
    let mut tk_j = Agg::new("top_k", json!({"field": "j", "k": 20}));
    let mut nu_j = Agg::new("n_unique", json!({"field": "j"}));
    let mut sum_s = Agg::new("sum", json!({"field": "s"}));
    let mut mean_b = Agg::new("mean", json!({"field": "b"}));
    for (n, v) in js.iter().enumerate() {
        for a in [
            &mut sum_j, &mut min_j, &mut max_j, &mut last_j, &mut q_j, &mut tk_j, &mut nu_j,
        ] {
            a.push(n as i64, json!({"j": v}));
        }
        sum_s.push(n as i64, json!({"s": "str"}));
        mean_b.push(n as i64, json!({"b": true}));
    }
    assert_eq!(sum_j.read(100), json!(0.5));
    assert_eq!(min_j.read(100), json!(-3));
    assert_eq!(max_j.read(100), json!(1));
    assert_eq!(last_j.read(100), json!(-3));
    assert_eq!(q_j.read(100), json!(1.0));
    // 1 and true collide in n_unique (9 values, 8 distinct).
    assert_eq!(nu_j.read(100), json!(8));
    assert_eq!(
        tk_j.read(100),
        json!([{"count":1,"value":"aa"},{"count":1,"value":"zz"},{"count":1,"value":-3},
               {"count":1,"value":1},{"count":1,"value":2.5},{"count":1,"value":false},
               {"count":1,"value":true}])
    );
    assert_eq!(sum_s.read(100), json!(null));
    assert_eq!(mean_b.read(100), json!(null));
}

/// Oracle runs "t7"/"t8": min/max across number kinds, n_unique identity, nested values.
#[test]
fn typed_identity() {
    let run = |op: &str, values: &[serde_json::Value]| {
        let field = if op == "n_unique" || op == "top_k" { "j" } else { "x" };
        let mut a = Agg::new(op, json!({"field": field}));
        for (n, v) in values.iter().enumerate() {
            a.push(n as i64, json!({ field: v }));
        }
        a.read(100)
    };
    assert_eq!(run("max", &[json!(1), json!(2.5), json!(0.5), json!(3)]), json!(3));
    assert_eq!(run("min", &[json!(1), json!(2.5), json!(0.5), json!(3)]), json!(1));
    assert_eq!(run("max", &[json!(1.0), json!(2), json!(3.5)]), json!(3.5));
    assert_eq!(run("first", &[json!(null), json!(1.0)]), json!(1.0));
    assert_eq!(run("n_unique", &[json!(1), json!(true)]), json!(1));
    assert_eq!(run("n_unique", &[json!(0), json!(false)]), json!(1));
    assert_eq!(run("n_unique", &[json!(1), json!(1.0)]), json!(2));
    assert_eq!(run("n_unique", &[json!("1"), json!(1)]), json!(2));
    assert_eq!(run("n_unique", &[json!([1, 2]), json!({"a": 1})]), json!(2));
    assert_eq!(run("n_unique", &[json!([1]), json!([1])]), json!(1));
    assert_eq!(run("n_unique", &[json!([1]), json!({"a": 1}), json!([2]), json!(null)]), json!(3));
    assert_eq!(run("top_k", &[json!([1]), json!({"a": 1})]), json!([]));
    assert_eq!(
        run(
            "top_k",
            &[json!("aa"), json!("zz"), json!(-3), json!(1), json!(2.5), json!(false),
              json!(true), json!(1.5), json!(-7.5), json!("b")]
        ),
        json!([{"count":1,"value":"aa"},{"count":1,"value":"b"},{"count":1,"value":"zz"},
               {"count":1,"value":-3},{"count":1,"value":1},{"count":1,"value":-7.5},
               {"count":1,"value":1.5},{"count":1,"value":2.5},{"count":1,"value":false},
               {"count":1,"value":true}])
    );
}

/// Oracle run "t10": reads of a state that exists but never matched (first event fails
/// `where`, has no fields); then one matching event 1 ms before the read.
#[test]
fn empty_then_one_match() {
    let ops = [
        ("dsum", "decayed_sum", json!({"field": "x", "half_life": "1h"})),
        ("dcount", "decayed_count", json!({"half_life": "1h", "where": "ok"})),
        ("ewma", "ewma", json!({"field": "x", "half_life": "1h"})),
        ("ewvar", "ewvar", json!({"field": "x", "half_life": "1h"})),
        ("ewz", "ew_zscore", json!({"field": "x", "half_life": "1h"})),
        ("first", "first", json!({"field": "x", "where": "ok"})),
        ("streak", "streak", json!({})),
        ("ts", "time_since", json!({"where": "ok"})),
        ("ls", "last_seen", json!({"where": "ok"})),
        ("fs", "first_seen", json!({"where": "ok"})),
        ("age", "age", json!({"where": "ok"})),
        ("has", "has_seen", json!({"where": "ok"})),
        ("tsln", "time_since_last_n", json!({"n": 1, "where": "ok"})),
        ("ms", "max_streak", json!({"where": "ok"})),
        ("ns", "negative_streak", json!({"where": "ok"})),
        ("fsiw", "first_seen_in_window", json!({"window": "1h", "where": "ok"})),
        ("entropy", "entropy", json!({"field": "s"})),
        ("last", "last", json!({"field": "x"})),
        ("q", "quantile", json!({"field": "x"})),
        ("cnt", "count", json!({"where": "ok"})),
    ];
    let mut aggs: Vec<(&str, Agg)> = ops
        .iter()
        .map(|(name, op, p)| (*name, Agg::new(op, p.clone())))
        .collect();
    let read_all = |aggs: &Vec<(&str, Agg)>, q: i64| {
        serde_json::Value::Object(
            aggs.iter()
                .map(|(n, a)| (n.to_string(), a.read(q)))
                .collect(),
        )
    };
    for (_, a) in aggs.iter_mut() {
        a.push(10_000, json!({"ok": false, "s": null}));
    }
    assert_eq!(
        read_all(&aggs, 10_001),
        json!({"age": null, "cnt": 0, "dcount": null, "dsum": null, "entropy": 0.0,
               "ewma": null, "ewvar": null, "ewz": null, "first": null, "fs": null,
               "fsiw": false, "has": false, "last": null, "ls": null, "ms": 0, "ns": 1,
               "q": null, "streak": 1, "ts": null, "tsln": null})
    );
    for (_, a) in aggs.iter_mut() {
        a.push(10_010, json!({"ok": true, "x": null}));
    }
    assert_eq!(
        read_all(&aggs, 10_011),
        json!({"age": 1, "cnt": 1, "dcount": 1.0, "dsum": null, "entropy": 0.0,
               "ewma": null, "ewvar": null, "ewz": null, "first": null, "fs": 10_010,
               "fsiw": true, "has": true, "last": null, "ls": 10_010, "ms": 1, "ns": 0,
               "q": null, "streak": 2, "ts": 1, "tsln": 1})
    );
}

/// Oracle run "t9" (lifetime time-based ops), half_life 100 ms, real stamped times.
#[test]
fn time_based_trace() {
    let trace = [
        (710, json!({"x": 1.0, "s": "a", "ok": true})),
        (761, json!({"x": 2.0, "s": "a", "ok": false})),
        (773, json!({"x": 5.0, "s": "b", "ok": true})),
        (895, json!({"s": "b", "ok": true})),
        (907, json!({"x": 0.5, "s": "c"})),
        (1209, json!({"x": 3.0, "s": "a", "ok": true})),
        (1511, json!({"x": 2.0, "ok": true})),
        (1814, json!({"x": 2.5, "s": "c", "ok": false})),
    ];
    let base = 1_795_255_840_000;
    let ops = [
        ("age", "age", json!({"where": "ok"})),
        ("tsln", "time_since_last_n", json!({"n": 2, "where": "ok"})),
        ("max_streak", "max_streak", json!({"where": "ok"})),
        ("neg_streak", "negative_streak", json!({"where": "ok"})),
        ("fsiw", "first_seen_in_window", json!({"window": "200ms", "where": "ok"})),
        ("ema", "ema", json!({"field": "x", "half_life": "100ms"})),
        ("dcount", "decayed_count", json!({"half_life": "100ms"})),
        ("dsum", "decayed_sum", json!({"field": "x", "half_life": "100ms"})),
        ("entropy_w", "entropy", json!({"field": "s", "window": "1h"})),
    ];
    let mut aggs: Vec<(&str, Agg)> = ops
        .iter()
        .map(|(name, op, p)| (*name, Agg::new(op, p.clone())))
        .collect();
    // Each beava read landed 0 or 1 ms after its push (derived from its `age` column).
    let read_delay = [0, 1, 1, 1, 0, 1, 1, 0];
    let mut rows = Vec::new();
    for ((t, e), delay) in trace.iter().zip(read_delay) {
        for (_, a) in aggs.iter_mut() {
            a.push(base + t, e.clone());
        }
        let q = base + t + delay;
        rows.push(
            aggs.iter()
                .map(|(n, a)| (n.to_string(), a.read(q)))
                .collect::<serde_json::Map<_, _>>(),
        );
    }
    // Oracle values after events 3, 4, 6 and 8.
    assert_eq!(rows[2]["tsln"], json!(64));
    assert_eq!(rows[2]["entropy_w"], json!(0.9182958340544896));
    assert_eq!(rows[3]["age"], json!(186));
    assert_eq!(rows[3]["max_streak"], json!(2));
    assert_eq!(rows[3]["dcount"], json!(2.101695742167527));
    assert_eq!(rows[3]["tsln"], json!(123));
    assert_eq!(rows[5]["ema"], json!(2.7450416524345846));
    assert_eq!(rows[5]["dsum"], json!(3.426218039115003));
    assert_eq!(rows[7]["fsiw"], json!(false));
    assert_eq!(rows[7]["neg_streak"], json!(1));
    assert_eq!(rows[7]["tsln"], json!(605));
    assert_eq!(rows[7]["entropy_w"], json!(1.5566567074628228));
    assert_eq!(rows[7]["age"], json!(1104));
}
/// Oracle run "t9": every catalogue op over one 8-event trace (half_life 100 ms), compared
/// column by column after each event. `reservoir_sample` is excluded (beava's RNG stream
/// is not reproducible; see `ops/buffer.rs`).
#[test]
fn catalogue_trace() {
    let ops: Vec<(&str, &str, serde_json::Value)> = vec![
        ("ls", "last_seen", json!({})),
        ("entropy", "entropy", json!({"field": "s"})),
        ("entropy_w", "entropy", json!({"field": "s", "window": "1h"})),
        ("first_n", "first_n", json!({"field": "x", "n": 3})),
        ("last_n", "last_n", json!({"field": "x", "n": 3})),
        ("lag", "lag", json!({"field": "x", "n": 2})),
        ("first_seen", "first_seen", json!({"where": "ok"})),
        ("age", "age", json!({"where": "ok"})),
        ("has_seen", "has_seen", json!({"where": "ok"})),
        ("tsln", "time_since_last_n", json!({"n": 2, "where": "ok"})),
        ("max_streak", "max_streak", json!({"where": "ok"})),
        ("neg_streak", "negative_streak", json!({"where": "ok"})),
        ("fsiw", "first_seen_in_window", json!({"window": "200ms", "where": "ok"})),
        ("ewma", "ewma", json!({"field": "x", "half_life": "100ms"})),
        ("ema", "ema", json!({"field": "x", "half_life": "100ms"})),
        ("ewvar", "ewvar", json!({"field": "x", "half_life": "100ms"})),
        ("ewz", "ew_zscore", json!({"field": "x", "half_life": "100ms"})),
        ("dsum", "decayed_sum", json!({"field": "x", "half_life": "100ms"})),
        ("dcount", "decayed_count", json!({"half_life": "100ms"})),
        ("dcount_w", "decayed_count", json!({"half_life": "100ms", "where": "ok"})),
        ("twa", "twa", json!({"field": "x"})),
        ("roc", "rate_of_change", json!({"field": "x"})),
        ("ias", "inter_arrival_stats", json!({})),
        ("burst", "burst_count", json!({"sub_window": "100ms"})),
        ("dfp", "delta_from_prev", json!({"field": "x"})),
        ("trend", "trend", json!({"field": "x"})),
        ("trend_res", "trend_residual", json!({"field": "x"})),
        ("outl", "outlier_count", json!({"field": "x", "sigma": 1.0})),
        ("vcc", "value_change_count", json!({"field": "s"})),
        ("z", "z_score", json!({"field": "x"})),
        ("hist", "histogram", json!({"field": "x", "buckets": [1, 3]})),
        ("hod", "hour_of_day_histogram", json!({})),
        ("seas", "seasonal_deviation", json!({"field": "x"})),
        ("etm", "event_type_mix", json!({"field": "s"})),
        ("mrn", "most_recent_n", json!({"field": "x", "n": 3})),
        ("geov", "geo_velocity", json!({})),
        ("geod", "geo_distance", json!({})),
        ("geos", "geo_spread", json!({})),
        ("dfh", "distance_from_home", json!({"samples": 3})),
        ("bloom", "bloom_member", json!({"field": "x"})),
    ];
    let events = [
        (1795255840710_i64, json!({"x": 1.0, "s": "a", "ok": true, "lat": 10.0, "lon": 20.0})),
        (1795255840761_i64, json!({"x": 2.0, "s": "a", "ok": false, "lat": 10.1, "lon": 20.0})),
        (1795255840773_i64, json!({"x": 5.0, "s": "b", "ok": true, "lat": 10.1, "lon": 20.1})),
        (1795255840895_i64, json!({"s": "b", "ok": true})),
        (1795255840907_i64, json!({"x": 0.5, "s": "c", "lat": 10.0, "lon": 20.0})),
        (1795255841209_i64, json!({"x": 3.0, "s": "a", "ok": true, "lat": 11, "lon": 21})),
        (1795255841511_i64, json!({"x": 2.0, "ok": true})),
        (1795255841814_i64, json!({"x": 2.5, "s": "c", "ok": false, "lat": 11, "lon": 22})),
    ];
    let want = [
        serde_json::from_str::<serde_json::Value>(r#"{"age": 0, "bloom": true, "burst": 1, "dcount": 1.0, "dcount_w": 1.0, "dfh": 0.0, "dfp": null, "dsum": 1.0, "ema": 1.0, "entropy": 0.0, "entropy_w": 0.0, "etm": {"a": 1.0}, "ewma": 1.0, "ewvar": 0.0, "ewz": null, "first_n": [1.0], "first_seen": 1795255840710, "fsiw": true, "geod": 0.0, "geos": null, "geov": 0.0, "has_seen": true, "hist": {"1-3": 1, "<1": 0, ">=3": 0}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": null, "lag": null, "last_n": [1.0], "ls": 1795255840710, "max_streak": 1, "mrn": [1.0], "neg_streak": 0, "outl": 0, "roc": null, "seas": null, "trend": null, "trend_res": null, "tsln": null, "twa": 1.0, "vcc": 0, "z": null}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 52, "bloom": true, "burst": 2, "dcount": 1.7022224378689985, "dcount_w": 1.0, "dfh": 5.559746332227818, "dfp": 1.0, "dsum": 2.7022224378689987, "ema": 1.2977775621310015, "entropy": 0.0, "entropy_w": 0.0, "etm": {"a": 1.0}, "ewma": 1.2977775621310015, "ewvar": 0.20910608562231903, "ewz": 1.535646895349544, "first_n": [1.0, 2.0], "first_seen": 1795255840710, "fsiw": true, "geod": 11.119492664455834, "geos": 5.565999999999931, "geov": 784905.3645498236, "has_seen": true, "hist": {"1-3": 2, "<1": 0, ">=3": 0}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 51.0, "lag": null, "last_n": [1.0, 2.0], "ls": 1795255840761, "max_streak": 1, "mrn": [1.0, 2.0], "neg_streak": 1, "outl": 0, "roc": 0.0196078431372549, "seas": 0.7071067811865475, "trend": null, "trend_res": null, "tsln": null, "twa": 1.0, "vcc": 0, "z": 0.7071067811865475}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 64, "bloom": true, "burst": 3, "dcount": 2.5663640659436213, "dcount_w": 1.6461764153187461, "dfh": 8.18572862081246, "dfp": 3.0, "dsum": 7.4865517165684965, "ema": 1.5932606328066288, "entropy": 0.9182958340544896, "entropy_w": 0.9182958340544896, "etm": {"a": 0.6666666666666666, "b": 0.3333333333333333}, "ewma": 1.5932606328066288, "ewvar": 1.1990506468700066, "ewz": 3.1111442311329993, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": true, "geod": 22.06666850958451, "geos": 7.364429323155873, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 2, "<1": 0, ">=3": 1}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 31.5, "lag": 1.0, "last_n": [1.0, 2.0, 5.0], "ls": 1795255840773, "max_streak": 1, "mrn": [1.0, 2.0, 5.0], "neg_streak": 0, "outl": 0, "roc": 0.25, "seas": 1.12089707663561, "trend": null, "trend_res": null, "tsln": 64, "twa": 1.1904761904761905, "vcc": 1, "z": 1.12089707663561}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 186, "bloom": true, "burst": 3, "dcount": 2.101695742167527, "dcount_w": 1.7066750862358382, "dfh": 8.18572862081246, "dfp": 3.0, "dsum": 7.4865517165684965, "ema": 1.5932606328066288, "entropy": 1.0, "entropy_w": 1.0, "etm": {"a": 0.5, "b": 0.5}, "ewma": 1.5932606328066288, "ewvar": 1.1990506468700066, "ewz": 3.1111442311329993, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": true, "geod": 22.06666850958451, "geos": 7.364429323155873, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 2, "<1": 0, ">=3": 1}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 61.66666666666667, "lag": 1.0, "last_n": [1.0, 2.0, 5.0], "ls": 1795255840895, "max_streak": 2, "mrn": [1.0, 2.0, 5.0], "neg_streak": 0, "outl": 0, "roc": 0.25, "seas": 1.12089707663561, "trend": null, "trend_res": null, "tsln": 123, "twa": 1.1904761904761905, "vcc": 1, "z": 1.12089707663561}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 197, "bloom": true, "burst": 3, "dcount": 2.9339544673134395, "dcount_w": 1.7066750862358382, "dfh": 8.262785599470615, "dfp": -4.5, "dsum": 3.4573425697453963, "ema": 0.9318605322755673, "entropy": 1.5219280948873621, "entropy_w": 1.5219280948873621, "etm": {"a": 0.4, "b": 0.4, "c": 0.2}, "ewma": 0.9318605322755673, "ewvar": 0.7592823724843634, "ewz": -0.49561204999988057, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": true, "geod": 37.67182508503414, "geos": 7.31491916174014, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 2, "<1": 1, ">=3": 1}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 49.25, "lag": 2.0, "last_n": [2.0, 5.0, 0.5], "ls": 1795255840907, "max_streak": 2, "mrn": [2.0, 5.0, 0.5], "neg_streak": 1, "outl": 0, "roc": -0.033582089552238806, "seas": -0.806225774829855, "trend": null, "trend_res": null, "tsln": 134, "twa": 3.781725888324873, "vcc": 2, "z": -0.806225774829855}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 500, "bloom": true, "burst": 3, "dcount": 1.3616952311448633, "dcount_w": 1.1936050415826989, "dfh": 98.73415271639286, "dfp": 2.5, "dsum": 3.426218039115003, "ema": 2.7450416524345846, "entropy": 1.4591479170272448, "entropy_w": 1.4591479170272448, "etm": {"a": 0.5, "b": 0.3333333333333333, "c": 0.16666666666666666}, "ewma": 2.7450416524345846, "ewvar": 0.5558893006937253, "ewz": 0.3419598186897337, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": true, "geod": 193.61303988620557, "geos": 60.47717655438771, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 2, "<1": 1, ">=3": 2}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 99.8, "lag": 5.0, "last_n": [5.0, 0.5, 3.0], "ls": 1795255841209, "max_streak": 2, "mrn": [5.0, 0.5, 3.0], "neg_streak": 0, "outl": 0, "roc": 0.008278145695364239, "seas": 0.3913118960624633, "trend": -4.351022653281689e-08, "trend_res": 0.7000146629434312, "tsln": 315, "twa": 1.7955911823647295, "vcc": 3, "z": 0.3913118960624633}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 802, "bloom": true, "burst": 3, "dcount": 1.1678685463134635, "dcount_w": 1.1471465410321267, "dfh": 98.73415271639286, "dfp": -1.0, "dsum": 2.4223810353625406, "ema": 2.0918480554800953, "entropy": 1.4591479170272448, "entropy_w": 1.4591479170272448, "etm": {"a": 0.5, "b": 0.3333333333333333, "c": 0.16666666666666666}, "ewma": 2.0918480554800953, "ewvar": 0.12852408778508081, "ewz": -0.25619915984165326, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": true, "geod": 193.61303988620557, "geos": 60.47717655438771, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 3, "<1": 1, ">=3": 2}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 133.5, "lag": 0.5, "last_n": [0.5, 3.0, 2.0], "ls": 1795255841511, "max_streak": 2, "mrn": [0.5, 3.0, 2.0], "neg_streak": 0, "outl": 0, "roc": -0.0033112582781456954, "seas": -0.15579423821243896, "trend": null, "trend_res": null, "tsln": 303, "twa": 2.2496878901373285, "vcc": 3, "z": -0.15579423821243896}"#).unwrap(),
        serde_json::from_str::<serde_json::Value>(r#"{"age": 1104, "bloom": true, "burst": 3, "dcount": 1.142979269896593, "dcount_w": 1.1471465410321267, "dfh": 115.33122505475686, "dfp": 0.5, "dsum": 2.7965661443154635, "ema": 2.450030962629704, "entropy": 1.5566567074628228, "entropy_w": 1.5566567074628228, "etm": {"a": 0.42857142857142855, "b": 0.2857142857142857, "c": 0.2857142857142857}, "ewma": 2.450030962629704, "ewvar": 0.03363294261095412, "ewz": 0.2724699110265957, "first_n": [1.0, 2.0, 5.0], "first_seen": 1795255840710, "fsiw": false, "geod": 302.7649521007722, "geos": 96.52693450393699, "geov": 3284152.7535386025, "has_seen": true, "hist": {"1-3": 4, "<1": 1, ">=3": 2}, "hod": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ias": 157.71428571428572, "lag": 3.0, "last_n": [3.0, 2.0, 2.5], "ls": 1795255841814, "max_streak": 2, "mrn": [3.0, 2.0, 2.5], "neg_streak": 1, "outl": 0, "roc": 0.0016501650165016502, "seas": 0.14598007237693789, "trend": null, "trend_res": null, "tsln": 605, "twa": 2.181159420289855, "vcc": 4, "z": 0.1459800723769379}"#).unwrap(),
    ];
    // Each beava read landed 0 or 1 ms after its push (derived from its `age` column).
    let read_delay = [0, 1, 1, 1, 0, 1, 1, 0];
    let mut aggs: Vec<(&str, Agg)> = ops
        .into_iter()
        .map(|(name, op, p)| (name, Agg::new(op, p)))
        .collect();
    for (i, ((t, e), want)) in events.iter().zip(want.iter()).enumerate() {
        for (_, a) in aggs.iter_mut() {
            a.push(*t, e.clone());
        }
        let q = t + read_delay[i];
        for (name, a) in &aggs {
            let got = a.read(q);
            assert!(
                same(&got, &want[*name]),
                "event {i} {name}: got {got}, beava {}",
                want[*name]
            );
        }
    }
}

/// JSON equality. Floats may differ by a few ulps only because serde_json's default float
/// parser (no `float_roundtrip` feature) is not correctly rounded; weir's own values are
/// bit-identical to beava's (the json! literals in the other tests are parsed exactly).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (J::Array(xs), J::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (J::Object(xs), J::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}
