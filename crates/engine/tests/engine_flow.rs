//! End-to-end engine behaviour through the facade: register, validate, apply, read.
//!
//! Guards the contract the server relies on: beava's register semantics (diff, force, dry-run,
//! version bumps, state carry-over), push validation codes, read-time rules and row shapes.

use engine::{Engine, EngineConfig, ReadTime, RegisterOutcome};
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

fn value(json: Json) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json)
        .expect("decodable test value")
}

fn row_json(v: &Value) -> Json {
    serde_json::to_value(v).expect("serializable row")
}

fn event_node() -> Json {
    json!({"kind":"event","name":"Click","schema":{"fields":{"user":"str","page":"str","ms":"i64","ok":"bool"},"optional_fields":["ms"]}})
}

fn table_node(aggs: Json) -> Json {
    json!({"kind":"derivation","name":"Activity","output_kind":"table","upstreams":["Click"],
           "table_primary_key":["user"],"ops":[{"op":"group_by","keys":["user"],"agg":aggs}]})
}

fn engine_with(aggs: Json) -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .register(&json!({"nodes":[event_node(), table_node(aggs)]}))
        .expect("registers");
    engine
}

fn push(engine: &mut Engine, data: Json, now_ms: i64) {
    let validated = engine
        .validate_push("Click", &value(data))
        .expect("valid push");
    assert!(engine.apply(&validated, now_ms));
}

fn get(engine: &Engine, key: &str, now_ms: i64) -> Json {
    row_json(
        &engine
            .get("Activity", key, None, ReadTime::Now(now_ms))
            .expect("readable"),
    )
}

#[test]
fn register_reports_added_then_already_present_and_bumps_version_once() {
    let mut engine = Engine::new(EngineConfig::default());
    let body = json!({"nodes":[event_node(), table_node(json!({"n":{"op":"count","params":{}}}))]});
    let first = engine.register(&body).unwrap();
    let RegisterOutcome::Applied {
        registry_version,
        added,
        ..
    } = first
    else {
        panic!("expected applied")
    };
    assert_eq!(registry_version, 1);
    assert_eq!(added, vec!["Activity".to_string(), "Click".to_string()]);
    let again = engine.register(&body).unwrap();
    let RegisterOutcome::Applied {
        registry_version,
        added,
        already_present,
        ..
    } = again
    else {
        panic!("expected applied")
    };
    assert_eq!(registry_version, 1, "no change, no bump");
    assert!(added.is_empty());
    assert_eq!(already_present, vec!["Activity", "Click"]);
}

#[test]
fn omitting_a_descriptor_needs_force_and_dry_run_changes_nothing() {
    let mut engine = engine_with(json!({"n":{"op":"count","params":{}}}));
    push(&mut engine, json!({"user":"a","page":"/","ok":true}), 1_000);
    let only_event = json!({"nodes":[event_node()]});
    let err = engine.register(&only_event).unwrap_err();
    assert_eq!(err.code, "force_required");
    assert_eq!(err.http_status(), 409);
    let diff = err.diff.expect("diff attached");
    assert_eq!(diff.destructive.len(), 1);
    assert_eq!(diff.destructive[0].kind(), "agg_removal");

    let dry = engine
        .register(&json!({"nodes":[event_node()], "dry_run": true, "force": true}))
        .unwrap();
    assert!(matches!(dry, RegisterOutcome::DryRun { .. }));
    assert_eq!(engine.registry_version(), 1);
    assert_eq!(get(&engine, "a", 1_000), json!({"n": 1}));

    engine
        .register(&json!({"nodes":[event_node()], "force": true}))
        .unwrap();
    assert_eq!(engine.registry_version(), 2);
    let err = engine
        .get("Activity", "a", None, ReadTime::Now(1_000))
        .unwrap_err();
    assert_eq!(err.code(), "unknown_table");
}

#[test]
fn force_keeps_state_of_unchanged_tables_and_drops_changed_ones() {
    let other = json!({"kind":"derivation","name":"Pages","output_kind":"table","upstreams":["Click"],
        "table_primary_key":["page"],"ops":[{"op":"group_by","keys":["page"],"agg":{"views":{"op":"count","params":{}}}}]});
    let mut engine = Engine::new(EngineConfig::default());
    let aggs = json!({"n":{"op":"count","params":{}}});
    engine
        .register(&json!({"nodes":[event_node(), table_node(aggs.clone()), other.clone()]}))
        .unwrap();
    push(
        &mut engine,
        json!({"user":"a","page":"/p","ok":true}),
        1_000,
    );
    let changed = json!({"n":{"op":"count","params":{}}, "m":{"op":"count","params":{}}});
    engine
        .register(&json!({"nodes":[event_node(), table_node(changed), other], "force": true}))
        .unwrap();
    assert_eq!(
        get(&engine, "a", 2_000),
        json!({}),
        "changed table starts empty"
    );
    let pages = engine
        .get("Pages", "/p", None, ReadTime::Now(2_000))
        .unwrap();
    assert_eq!(
        row_json(&pages),
        json!({"views": 1}),
        "unchanged table keeps state"
    );
}

#[test]
fn push_validation_codes() {
    let engine = engine_with(json!({"n":{"op":"count","params":{}}}));
    let code = |event: &str, data: Json| {
        engine
            .validate_push(event, &value(data))
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code)
    };
    assert_eq!(code("Nope", json!({})), "event_not_found");
    assert_eq!(
        code("Click", json!({"user":"a","page":"/","ok":true})),
        "ok"
    );
    assert_eq!(
        code("Click", json!({"user":"a","page":"/"})),
        "invalid_event"
    );
    assert_eq!(
        code("Click", json!({"user":"a","page":"/","ok":null})),
        "invalid_event"
    );
    assert_eq!(
        code("Click", json!({"user":1,"page":"/","ok":true})),
        "invalid_event"
    );
    assert_eq!(
        code("Click", json!({"user":"a","page":"/","ok":true,"x":1})),
        "unknown_field_v0"
    );
    assert_eq!(
        code(
            "Click",
            json!({"user":"a","page":"/","ok":true,"event_time":1})
        ),
        "unknown_field_event_time_v0"
    );
    assert_eq!(
        code("Click", json!({"user":"a\u{0}","page":"/","ok":true})),
        "control_character_in_string"
    );
    assert_eq!(
        code("Click", json!({"user":"a","page":"tab\there","ok":true})),
        "control_character_in_string"
    );
    assert_eq!(code("Click", json!([1, 2])), "invalid_event");
    // i64 fields accept either JSON number kind (beava), but never non-finite numbers.
    assert_eq!(
        code("Click", json!({"user":"a","page":"/","ok":true,"ms":1.5})),
        "ok"
    );
    let nan = Value::Map(vec![
        ("user".into(), Value::str("a")),
        ("page".into(), Value::str("/")),
        ("ok".into(), Value::Bool(true)),
        ("ms".into(), Value::F64(f64::NAN)),
    ]);
    assert_eq!(
        engine.validate_push("Click", &nan).unwrap_err().code,
        "invalid_event"
    );
}

#[test]
fn reads_unknown_entity_projection_and_key_arity() {
    let mut engine = engine_with(json!({
        "n":{"op":"count","params":{}},
        "last_page":{"op":"last","params":{"field":"page"}}
    }));
    push(
        &mut engine,
        json!({"user":"a","page":"/x","ok":true}),
        1_000,
    );
    assert_eq!(get(&engine, "zz", 1_000), json!({}));
    assert_eq!(get(&engine, "a", 1_000), json!({"n":1, "last_page":"/x"}));
    // Members come in name order (beava's maps are sorted), whatever the declaration order.
    let row = engine
        .get("Activity", "a", None, ReadTime::Now(1_000))
        .unwrap();
    assert_eq!(
        serde_json::to_string(&row).unwrap(),
        r#"{"last_page":"/x","n":1}"#
    );
    let only = engine
        .get(
            "Activity",
            "a",
            Some(&["last_page".to_string()]),
            ReadTime::Now(1_000),
        )
        .unwrap();
    assert_eq!(row_json(&only), json!({"last_page":"/x"}));
    let none = engine
        .get("Activity", "a", Some(&[]), ReadTime::Now(1_000))
        .unwrap();
    assert_eq!(row_json(&none), json!({}));
    let missing = engine
        .get(
            "Activity",
            "a",
            Some(&["nope".to_string()]),
            ReadTime::Now(1_000),
        )
        .unwrap_err();
    assert_eq!(missing.code(), "internal_error");
    let arity = engine
        .get("Activity", "a|b", None, ReadTime::Now(1_000))
        .unwrap_err();
    assert_eq!(arity.code(), "key_parse_failure");
}

#[test]
fn windowed_count_expires_at_read_time_and_batch_reads_use_the_watermark() {
    let mut engine = engine_with(json!({"c":{"op":"count","params":{"window":"1m"}}}));
    push(
        &mut engine,
        json!({"user":"a","page":"/","ok":true}),
        60_000,
    );
    assert_eq!(get(&engine, "a", 60_000), json!({"c":1}));
    // /get reads at max(watermark, now): two minutes later the bucket is out of the window.
    assert_eq!(get(&engine, "a", 200_000), json!({"c":0}));
    // batch_get reads at the watermark only.
    let at_watermark = engine
        .get("Activity", "a", None, ReadTime::Watermark)
        .unwrap();
    assert_eq!(row_json(&at_watermark), json!({"c":1}));
}

#[test]
fn prefix_chain_filters_computes_and_renames_before_grouping() {
    let mut engine = Engine::new(EngineConfig::default());
    let table = json!({"kind":"derivation","name":"Slow","output_kind":"table","upstreams":["Click"],
        "table_primary_key":["who"],"ops":[
            {"op":"filter","expr":"(ms > 100)"},
            {"op":"with_columns","exprs":{"secs":"(ms / 1000)"}},
            {"op":"rename","mapping":{"user":"who"}},
            {"op":"group_by","keys":["who"],"agg":{"total_secs":{"op":"sum","params":{"field":"secs"}}}}]});
    engine
        .register(&json!({"nodes":[event_node(), table]}))
        .unwrap();
    for (ms, t) in [(50, 1), (2_500, 2), (4_000, 3)] {
        let v = engine
            .validate_push(
                "Click",
                &value(json!({"user":"a","page":"/","ok":true,"ms":ms})),
            )
            .unwrap();
        engine.apply(&v, t);
    }
    let row = engine.get("Slow", "a", None, ReadTime::Now(3)).unwrap();
    // (2500 / 1000) + (4000 / 1000) with integer division = 2 + 4.
    assert_eq!(row_json(&row), json!({"total_secs": 6.0}));
}

#[test]
fn event_derivations_feed_tables_downstream() {
    let mut engine = Engine::new(EngineConfig::default());
    let ok_clicks = json!({"kind":"derivation","name":"OkClick","output_kind":"event","upstreams":["Click"],
        "ops":[{"op":"filter","expr":"ok"}]});
    let table = json!({"kind":"derivation","name":"OkCount","output_kind":"table","upstreams":["OkClick"],
        "table_primary_key":["user"],"ops":[{"op":"group_by","keys":["user"],"agg":{"oks":{"op":"count","params":{}}}}]});
    engine
        .register(&json!({"nodes":[event_node(), ok_clicks, table]}))
        .unwrap();
    for ok in [true, false, true] {
        let v = engine
            .validate_push("Click", &value(json!({"user":"a","page":"/","ok":ok})))
            .unwrap();
        engine.apply(&v, 1);
    }
    let row = engine.get("OkCount", "a", None, ReadTime::Now(1)).unwrap();
    assert_eq!(row_json(&row), json!({"oks": 2}));
    // Derived events are not push targets.
    let err = engine
        .validate_push("OkClick", &value(json!({"user":"a"})))
        .unwrap_err();
    assert_eq!(err.code, "event_not_found");
}

#[test]
fn global_and_composite_keys() {
    let mut engine = Engine::new(EngineConfig::default());
    let global = json!({"kind":"derivation","name":"Site","output_kind":"table","upstreams":["Click"],
        "table_primary_key":[],"ops":[{"op":"group_by","keys":[],"agg":{"views":{"op":"count","params":{}}}}]});
    let pair = json!({"kind":"derivation","name":"UserPage","output_kind":"table","upstreams":["Click"],
        "table_primary_key":["user","page"],"ops":[{"op":"group_by","keys":["user","page"],"agg":{"hits":{"op":"count","params":{}}}}]});
    engine
        .register(&json!({"nodes":[event_node(), global, pair]}))
        .unwrap();
    for page in ["/a", "/a", "/b"] {
        let v = engine
            .validate_push("Click", &value(json!({"user":"u","page":page,"ok":true})))
            .unwrap();
        engine.apply(&v, 5);
    }
    let site = engine.get("Site", "", None, ReadTime::Now(5)).unwrap();
    assert_eq!(row_json(&site), json!({"views": 3}));
    let up = engine
        .get("UserPage", "u|/a", None, ReadTime::Now(5))
        .unwrap();
    assert_eq!(row_json(&up), json!({"hits": 2}));
}

#[test]
fn cold_entities_restart_from_fresh_state() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut event = event_node();
    event["cold_after_ms"] = json!(1_000);
    engine
        .register(&json!({"nodes":[event, table_node(json!({"n":{"op":"count","params":{}}}))]}))
        .unwrap();
    push(&mut engine, json!({"user":"a","page":"/","ok":true}), 1_000);
    push(&mut engine, json!({"user":"a","page":"/","ok":true}), 1_500);
    assert_eq!(get(&engine, "a", 1_500), json!({"n":2}));
    push(&mut engine, json!({"user":"a","page":"/","ok":true}), 5_000);
    assert_eq!(get(&engine, "a", 5_000), json!({"n":1}));
    assert_eq!(engine.stats().cold_entity_evictions_total, 1);
}

#[test]
fn register_validation_errors_carry_beava_codes_and_paths() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut check = |body: Json, code: &str, path: &str| {
        let err = engine.register(&body).unwrap_err();
        assert_eq!((err.code, err.path.as_str()), (code, path), "{body}");
    };
    let e = event_node();
    check(json!({}), "invalid_registration", "<body>");
    check(
        json!({"nodes":[{"kind":"table","name":"X"}]}),
        "unsupported_node_kind",
        "nodes[0].X.kind",
    );
    check(
        json!({"nodes":[{"kind":"event","name":"9x","schema":{"fields":{"a":"str"}}}]}),
        "invalid_registration",
        "nodes[0].name",
    );
    check(
        json!({"nodes":[{"kind":"event","name":"E","schema":{"fields":{"a":"strr"}}}]}),
        "invalid_registration",
        "<body>",
    );
    check(
        json!({"nodes":[e.clone(), e.clone()]}),
        "invalid_registration",
        "nodes[1].name",
    );
    let with_ops = |ops: Json| {
        json!({"nodes":[e.clone(), {"kind":"derivation","name":"T","output_kind":"table","upstreams":["Click"],
            "table_primary_key":["user"],"ops":ops}]})
    };
    check(
        with_ops(
            json!([{"op":"filter","expr":"(nope > 1)"},{"op":"group_by","keys":["user"],"agg":{"c":{"op":"count","params":{}}}}]),
        ),
        "invalid_expression",
        "nodes[1].ops[0].expr",
    );
    check(
        with_ops(
            json!([{"op":"group_by","keys":["user"],"agg":{"c":{"op":"count","params":{"where":"(ms >"}}}}]),
        ),
        "aggregation_invalid_where",
        "nodes[1].ops[0].agg.c.params.where",
    );
    check(
        with_ops(json!([{"op":"group_by","keys":["zz"],"agg":{"c":{"op":"count","params":{}}}}])),
        "aggregation_unknown_field",
        "nodes[1].ops[0].group_by[0]",
    );
    check(
        with_ops(
            json!([{"op":"group_by","keys":["user"],"agg":{"user":{"op":"count","params":{}}}}]),
        ),
        "aggregation_group_key_collides_with_feature",
        "nodes[1].ops[0].agg.user",
    );
    check(
        with_ops(json!([{"op":"join"}])),
        "feature_removed_no_joins_v0",
        "nodes[1].T.ops[0]",
    );
    assert_eq!(
        engine.registry_version(),
        0,
        "failed registers change nothing"
    );
}

/// `apply_many` (runs long enough to be split over the entity-map lanes, and short ones) reads
/// exactly like one `apply` per push: per-entity order, derived tables, a global table,
/// composite keys, cold resets and the stats all agree.
#[test]
fn applying_runs_on_lanes_matches_applying_one_push_at_a_time() {
    let mut event = event_node();
    event["cold_after_ms"] = json!(700);
    let aggs = json!({
        "n": {"op":"count","params":{}},
        "last_page": {"op":"last","params":{"field":"page"}},
        "pages": {"op":"top_k","params":{"field":"page","k":3,"window":"1s"}},
        "ms_p50": {"op":"quantile","params":{"field":"ms","q":0.5,"window":"10s"}},
        "ok_ratio": {"op":"ratio","params":{"window":"1s","where":"ok"}},
    });
    let ok_clicks = json!({"kind":"derivation","name":"OkClick","output_kind":"event","upstreams":["Click"],
        "ops":[{"op":"filter","expr":"ok"}]});
    let ok_table = json!({"kind":"derivation","name":"OkCount","output_kind":"table","upstreams":["OkClick"],
        "table_primary_key":["user"],"ops":[{"op":"group_by","keys":["user"],"agg":{"ok_count":{"op":"count","params":{}}}}]});
    let global = json!({"kind":"derivation","name":"Site","output_kind":"table","upstreams":["Click"],
        "table_primary_key":[],"ops":[{"op":"group_by","keys":[],"agg":{"site_views":{"op":"count","params":{}},
            "users":{"op":"n_unique","params":{"field":"user"}}}}]});
    let pair = json!({"kind":"derivation","name":"UserPage","output_kind":"table","upstreams":["Click"],
        "table_primary_key":["user","page"],"ops":[{"op":"group_by","keys":["user","page"],"agg":{"pair_hits":{"op":"count","params":{}}}}]});
    let body = json!({"nodes":[event, table_node(aggs), ok_clicks, ok_table, global, pair]});
    let mut one_by_one = Engine::new(EngineConfig::default());
    let mut in_runs = Engine::new(EngineConfig::default());
    one_by_one.register(&body).unwrap();
    in_runs.register(&body).unwrap();

    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut now = 1_000_i64;
    let mut users = std::collections::BTreeSet::new();
    let mut parallel_runs = 0;
    for _ in 0..60 {
        now += next(900) as i64;
        // Short runs (inside the prefetch prologue's reach), HTTP-sized ones, parallel ones.
        let run_len = match next(4) {
            0 => next(8) as usize,
            1 => 8 + next(120) as usize,
            _ => engine::APPLY_PARALLEL_MIN + next(400) as usize,
        };
        parallel_runs += usize::from(run_len >= engine::APPLY_PARALLEL_MIN);
        let pushes: Vec<_> = (0..run_len)
            .map(|_| {
                let user = format!("u{}", next(300));
                users.insert(user.clone());
                let page = format!("/p{}", next(5));
                let data =
                    json!({"user": user, "page": page, "ms": next(1_000), "ok": next(4) != 0});
                one_by_one.validate_push("Click", &value(data)).unwrap()
            })
            .collect();
        for p in &pushes {
            assert!(one_by_one.apply(p, now));
        }
        let refs: Vec<_> = pushes.iter().collect();
        assert!(in_runs.apply_many(&refs, now).is_empty());
    }
    assert!(parallel_runs > 20);
    for at in [now, now + 500, now + 5_000] {
        for user in &users {
            for table in ["Activity", "OkCount"] {
                let a = one_by_one
                    .get(table, user, None, ReadTime::Now(at))
                    .unwrap();
                let b = in_runs.get(table, user, None, ReadTime::Now(at)).unwrap();
                assert_eq!(row_json(&a), row_json(&b), "{table} {user} at {at}");
            }
            for page in 0..5 {
                let key = format!("{user}|/p{page}");
                let a = one_by_one.get("UserPage", &key, None, ReadTime::Now(at));
                let b = in_runs.get("UserPage", &key, None, ReadTime::Now(at));
                assert_eq!(a.map(|r| row_json(&r)), b.map(|r| row_json(&r)));
            }
        }
        let a = one_by_one.get("Site", "", None, ReadTime::Now(at)).unwrap();
        let b = in_runs.get("Site", "", None, ReadTime::Now(at)).unwrap();
        assert_eq!(row_json(&a), row_json(&b));
    }
    assert_eq!(one_by_one.stats(), in_runs.stats());
    assert!(one_by_one.stats().cold_entity_evictions_total > 0);
}

/// A push that panics while it is folded fails alone: `apply_many` reports exactly its index
/// (in a short run on the writer and in a run split over the lanes, where both lane threads
/// meet it), and every other push of the run is applied as if the poisoned ones had never been
/// sent.
#[test]
fn a_panicking_push_fails_alone_in_short_and_split_runs() {
    use engine::engine::INJECTED_PANIC_MARKER;
    let aggs = json!({
        "n": {"op":"count","params":{}},
        "last_page": {"op":"last","params":{"field":"page"}},
    });
    let mut reference = engine_with(aggs.clone());
    let mut in_runs = engine_with(aggs);
    let users = 37;
    for (round, run_len) in [6, engine::APPLY_PARALLEL_MIN + 50].into_iter().enumerate() {
        let now = 1_000 + round as i64 * 10;
        let poisoned = [1, run_len / 2, run_len - 1];
        let pushes: Vec<_> = (0..run_len)
            .map(|i| {
                let page = if poisoned.contains(&i) {
                    INJECTED_PANIC_MARKER.to_string()
                } else {
                    format!("/p{i}")
                };
                let data = json!({"user": format!("u{}", i % users), "page": page, "ok": true});
                in_runs.validate_push("Click", &value(data)).unwrap()
            })
            .collect();
        let refs: Vec<_> = pushes.iter().collect();
        let panics = in_runs.apply_many(&refs, now);
        let indexes: Vec<usize> = panics.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, poisoned, "run of {run_len}");
        for (_, panic) in &panics {
            assert!(engine::panic_message(panic).contains(INJECTED_PANIC_MARKER));
        }
        for (i, push) in pushes.iter().enumerate() {
            if !poisoned.contains(&i) {
                assert!(reference.apply(push, now));
            }
        }
    }
    for user in 0..users {
        let user = format!("u{user}");
        let a = reference
            .get("Activity", &user, None, ReadTime::Now(2_000))
            .unwrap();
        let b = in_runs
            .get("Activity", &user, None, ReadTime::Now(2_000))
            .unwrap();
        assert_eq!(row_json(&a), row_json(&b), "{user}");
    }
}
