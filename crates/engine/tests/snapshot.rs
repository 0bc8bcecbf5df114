//! Point-in-time views and their encoding: a view is frozen at the moment it is taken (later
//! mutations of the live engine do not leak into it), and `restore(encode(view))` reads exactly
//! like the engine the view was taken from.

use engine::{
    ChunkLimits, Engine, EngineConfig, EngineView, ReadTime, RestoreOptions, SECTION_META,
    SECTION_TABLE, SECTION_TABLE_CHUNK,
};
use model::{DecodeLimits, Value, ValueSeed};
use proptest::prelude::*;
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

fn value(json: Json) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json)
        .expect("decodable test value")
}

/// The README headline table (same as `bench::readme_register_body`).
fn readme_body() -> Json {
    json!({"nodes":[
        {"kind":"event","name":"AgentStep","schema":{"fields":{
            "session_id":"str","tool":"str","ok":"bool","tokens":"i64",
            "latency_ms":"f64","risky":"bool","action":"str"},"optional_fields":[]}},
        {"kind":"derivation","name":"SessionReflexes","output_kind":"table","upstreams":["AgentStep"],
         "table_primary_key":["session_id"],"ops":[{"op":"group_by","keys":["session_id"],"agg":{
            "failure_rate_5m":{"op":"ratio","params":{"window":"5m","where":"(not ok)"}},
            "top_tool_10m":{"op":"top_k","params":{"field":"tool","k":1,"window":"10m"}},
            "unique_tools_10m":{"op":"n_unique","params":{"field":"tool","window":"10m"}},
            "token_burn_1m":{"op":"sum","params":{"field":"tokens","window":"1m"}},
            "p95_latency_5m":{"op":"quantile","params":{"field":"latency_ms","q":0.95,"window":"5m"}},
            "risky_streak":{"op":"streak","params":{"where":"risky"}},
            "last_action":{"op":"last","params":{"field":"action"}},
            "steps":{"op":"count","params":{}}}}]}
    ]})
}

const TOOLS: [&str; 4] = ["search", "code", "shell", "email"];

fn readme_event(session: u64, i: u64) -> Value {
    value(json!({
        "session_id": format!("session-{session}"),
        "tool": TOOLS[((session ^ i) % 4) as usize],
        "ok": !i.is_multiple_of(5),
        "tokens": 100 + (i * 37 + session) % 900,
        "latency_ms": 50.0 + ((i * 7919 + session) % 1000) as f64 / 3.0,
        "risky": i.is_multiple_of(7),
        "action": if i.is_multiple_of(2) { "lookup" } else { "write" },
    }))
}

fn push(engine: &mut Engine, event: &str, data: &Value, now_ms: i64) {
    let validated = engine.validate_push(event, data).expect("valid push");
    assert!(engine.apply(&validated, now_ms));
}

fn restore_sections(sections: &[(u32, Vec<u8>)], threads: usize) -> Result<Engine, String> {
    let sections: Vec<(u32, &[u8])> = sections.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    Engine::restore(
        EngineConfig::default(),
        &sections,
        RestoreOptions {
            threads,
            progress: None,
        },
    )
    .map_err(|e| e.to_string())
}

/// Small chunks (3 entities) on 3 threads, so that chunking and merging are exercised.
const SMALL_CHUNKS: ChunkLimits = ChunkLimits {
    entities: 3,
    bytes: 1 << 20,
};

fn restore(view: &EngineView) -> Engine {
    let sections = view.encode_all_with(SMALL_CHUNKS);
    assert_eq!(sections[0].0, SECTION_META);
    assert!(sections[1..]
        .iter()
        .all(|(tag, _)| *tag == SECTION_TABLE || *tag == SECTION_TABLE_CHUNK));
    restore_sections(&sections, 3).expect("restores")
}

/// The format-version-1 layout of the same view: one table section per table, `[u8 1]`, the
/// header without the entity count, then all entities as one chunk.
fn encode_v1(view: &EngineView) -> Vec<(u32, Vec<u8>)> {
    let sections = view.encode_all_with(ChunkLimits {
        entities: usize::MAX,
        bytes: usize::MAX,
    });
    let mut v1: Vec<(u32, Vec<u8>)> = vec![sections[0].clone()];
    let mut i = 1;
    while i < sections.len() {
        let (tag, header) = &sections[i];
        assert_eq!(*tag, SECTION_TABLE);
        let chunk = sections
            .get(i + 1)
            .filter(|(t, _)| *t == SECTION_TABLE_CHUNK)
            .map(|(_, b)| b.clone());
        i += if chunk.is_some() { 2 } else { 1 };
        // Strip the trailing entity-count varint of the version-2 header.
        let mut end = header.len() - 1;
        while end > 0 && header[end - 1] & 0x80 != 0 {
            end -= 1;
        }
        let mut table = header[..end].to_vec();
        table[0] = 1;
        table.extend_from_slice(&chunk.unwrap_or_else(|| vec![0]));
        v1.push((SECTION_TABLE, table));
    }
    v1
}

fn row(engine: &Engine, table: &str, key: &str, at: ReadTime) -> Json {
    serde_json::to_value(engine.get(table, key, None, at).expect("readable")).unwrap()
}

#[test]
fn a_key_mutated_after_the_view_keeps_its_old_value_in_the_snapshot() {
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&readme_body()).unwrap();
    let t0 = 1_700_000_000_000;
    for session in 0..200 {
        for i in 0..3 {
            push(
                &mut engine,
                "AgentStep",
                &readme_event(session, i),
                t0 + i as i64,
            );
        }
    }
    let at = ReadTime::Now(t0 + 10);
    let before = row(&engine, "SessionReflexes", "session-7", at);
    assert_eq!(before["steps"], json!(3));

    let view = engine.snapshot_view();
    // The writer goes on: session-7 changes, a new session appears.
    for i in 3..10 {
        push(&mut engine, "AgentStep", &readme_event(7, i), t0 + i as i64);
    }
    push(&mut engine, "AgentStep", &readme_event(10_000, 0), t0 + 11);
    let after = row(&engine, "SessionReflexes", "session-7", at);
    assert_eq!(after["steps"], json!(10));

    // Encoded after the mutations, the view still holds the old values.
    let restored = restore(&view);
    assert_eq!(row(&restored, "SessionReflexes", "session-7", at), before);
    assert_eq!(
        row(&restored, "SessionReflexes", "session-10000", at),
        json!({})
    );
    assert_eq!(restored.stats().entity_count_resident, 200);
    assert_eq!(view.entity_count(), 200);
    // And the live engine kept the new ones.
    assert_eq!(row(&engine, "SessionReflexes", "session-7", at), after);
    assert_eq!(engine.stats().entity_count_resident, 201);
}

#[test]
fn readme_table_restores_identically_and_keeps_applying_identically() {
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&readme_body()).unwrap();
    let t0 = 1_700_000_000_000;
    for i in 0..20 {
        for session in 0..50 {
            push(
                &mut engine,
                "AgentStep",
                &readme_event(session, i),
                t0 + (i * 20_000 + session) as i64,
            );
        }
    }
    let mut restored = restore(&engine.snapshot_view());
    assert_eq!(restored.registry_version(), engine.registry_version());
    assert_eq!(restored.watermark_ms(), engine.watermark_ms());
    assert_eq!(restored.stats(), engine.stats());
    for at in [ReadTime::Watermark, ReadTime::Now(t0 + 500_000)] {
        for session in 0..51 {
            let key = format!("session-{session}");
            assert_eq!(
                row(&restored, "SessionReflexes", &key, at),
                row(&engine, "SessionReflexes", &key, at),
                "{key}"
            );
        }
    }
    // Both keep evolving the same way (the restored state is a live state, not a copy for
    // reading only).
    for session in 0..60 {
        let event = readme_event(session, 99);
        push(&mut engine, "AgentStep", &event, t0 + 600_000);
        push(&mut restored, "AgentStep", &event, t0 + 600_000);
    }
    for session in 0..60 {
        let key = format!("session-{session}");
        let at = ReadTime::Now(t0 + 600_001);
        assert_eq!(
            row(&restored, "SessionReflexes", &key, at),
            row(&engine, "SessionReflexes", &key, at)
        );
    }
    // A restored engine registers further tables like the original.
    let body = readme_body();
    assert_eq!(restored.register(&body).ok(), engine.register(&body).ok());
}

#[test]
fn an_empty_and_a_registry_only_engine_restore() {
    let engine = Engine::new(EngineConfig::default());
    let restored = restore(&engine.snapshot_view());
    assert_eq!(restored.registry_version(), 0);
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&readme_body()).unwrap();
    let restored = restore(&engine.snapshot_view());
    assert_eq!(restored.registry_version(), 1);
    assert_eq!(restored.registry().node_count(), 2);
}

#[test]
fn damaged_sections_are_refused_without_panicking() {
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&readme_body()).unwrap();
    for session in 0..20 {
        push(
            &mut engine,
            "AgentStep",
            &readme_event(session, 1),
            1_700_000_000_000,
        );
    }
    let view = engine.snapshot_view();
    for (sections, flips) in [
        (view.encode_all_with(SMALL_CHUNKS), true),
        (encode_v1(&view), false),
    ] {
        // Every truncation of every non-meta section is refused.
        for s in 1..sections.len() {
            for cut in 0..sections[s].1.len() {
                let mut damaged = sections.clone();
                damaged[s].1.truncate(cut);
                assert!(
                    restore_sections(&damaged, 2).is_err(),
                    "section {s} cut at {cut}"
                );
            }
            // Bit flips never panic (most are refused; a flip inside a float may decode).
            for i in (0..sections[s].1.len()).filter(|_| flips) {
                let mut damaged = sections.clone();
                damaged[s].1[i] ^= 0x10;
                let _ = restore_sections(&damaged, 1);
            }
        }
        // A missing section, a duplicated chunk or a meta section of another registry is refused.
        for s in 1..sections.len() {
            let mut fewer = sections.clone();
            fewer.remove(s);
            assert!(restore_sections(&fewer, 2).is_err(), "without section {s}");
            let mut more = sections.clone();
            more.insert(s, sections[s].clone());
            assert!(restore_sections(&more, 2).is_err(), "section {s} twice");
        }
        let mut other = sections.clone();
        other[0].1 = b"{\"format\":9}".to_vec();
        assert!(restore_sections(&other, 2).is_err());
    }
}

#[test]
fn a_version_1_layout_restores_like_the_chunked_one() {
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&mixed_body()).unwrap();
    let mut now = 1_700_000_000_000i64;
    for i in 0..200u64 {
        now += 700;
        let data = json!({"u": format!("u{}", i % 17), "g": (i % 3) as i64, "x": i as f64,
                          "s": format!("s{}", i % 5), "b": i % 2 == 0});
        push(&mut engine, "E", &value(data), now);
    }
    let view = engine.snapshot_view();
    let chunked = restore(&view);
    let v1 = restore_sections(&encode_v1(&view), 2).expect("a version-1 layout restores");
    assert_eq!(v1.stats(), engine.stats());
    for at in [ReadTime::Watermark, ReadTime::Now(now + 30_000)] {
        for u in 0..17 {
            let key = format!("u{u}");
            assert_eq!(
                row(&v1, "ByUser", &key, at),
                row(&engine, "ByUser", &key, at)
            );
            assert_eq!(
                row(&chunked, "ByUser", &key, at),
                row(&engine, "ByUser", &key, at)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hostile section payloads: random bytes, or a valid encoding with random bytes spliced
    /// in, never panic and (almost always) are refused; nothing allocates from an unchecked
    /// length.
    #[test]
    fn random_section_payloads_never_panic(
        tag in prop_oneof![Just(SECTION_TABLE), Just(SECTION_TABLE_CHUNK), 0u32..8],
        index in 1usize..8,
        at in any::<prop::sample::Index>(),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
        replace in any::<bool>(),
        threads in 1usize..4,
    ) {
        let mut engine = Engine::new(EngineConfig::default());
        engine.register(&mixed_body()).unwrap();
        for i in 0..30u64 {
            let data = json!({"u": format!("u{i}"), "g": (i % 3) as i64, "x": i as f64,
                              "s": format!("s{}", i % 5), "b": i % 2 == 0});
            push(&mut engine, "E", &value(data), 1_700_000_000_000 + i as i64 * 1000);
        }
        let mut sections = engine.snapshot_view().encode_all_with(SMALL_CHUNKS);
        let index = index % sections.len();
        if replace || index == 0 {
            sections.insert(index.max(1), (tag, noise));
        } else {
            let bytes = &mut sections[index].1;
            let pos = at.index(bytes.len() + 1);
            bytes.splice(pos..pos, noise);
        }
        let _ = restore_sections(&sections, threads);
    }
}

/// A multi-table registry with lifetime and windowed ops over two keys, for random workloads.
fn mixed_body() -> Json {
    json!({"nodes":[
        {"kind":"event","name":"E","schema":{"fields":{"u":"str","g":"i64","x":"f64","s":"str","b":"bool"},
                                               "optional_fields":["x"]}},
        {"kind":"derivation","name":"ByUser","output_kind":"table","upstreams":["E"],
         "table_primary_key":["u"],"ops":[{"op":"group_by","keys":["u"],"agg":{
            "n":{"op":"count","params":{}},
            "n_1m":{"op":"count","params":{"window":"1m"}},
            "sum_x":{"op":"sum","params":{"field":"x","window":"5m"}},
            "var_x":{"op":"var","params":{"field":"x"}},
            "distinct_s":{"op":"n_unique","params":{"field":"s","window":"10m"}},
            "top_s":{"op":"top_k","params":{"field":"s","k":2}},
            "p50":{"op":"quantile","params":{"field":"x","q":0.5,"window":"5m"}},
            "last_s":{"op":"last","params":{"field":"s"}},
            "streak_b":{"op":"streak","params":{"where":"b"}},
            "seen":{"op":"last_seen","params":{}}}}]},
        {"kind":"derivation","name":"ByGroup","output_kind":"table","upstreams":["E"],
         "table_primary_key":["g","u"],"ops":[{"op":"group_by","keys":["g","u"],"agg":{
            "mean_x":{"op":"mean","params":{"field":"x","window":"1h"}},
            "max_x":{"op":"max","params":{"field":"x"}},
            "ratio_b":{"op":"ratio","params":{"where":"b","window":"5m"}}}}]}
    ]})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn restore_of_encode_reads_identically(
        events in proptest::collection::vec(
            (0u8..12, 0i64..3, proptest::option::of(-1e6f64..1e6), 0u8..6, any::<bool>(), 0i64..90_000),
            0..300),
        cut in 0usize..300,
    ) {
        let mut engine = Engine::new(EngineConfig::default());
        engine.register(&mixed_body()).unwrap();
        let mut now = 1_700_000_000_000i64;
        let mut view = None;
        for (i, (u, g, x, s, b, dt)) in events.iter().enumerate() {
            if i == cut {
                view = Some(engine.snapshot_view());
            }
            now += dt;
            let mut data = json!({"u": format!("u{u}"), "g": g, "s": format!("s{s}"), "b": b});
            if let Some(x) = x {
                data["x"] = json!(x);
            }
            push(&mut engine, "E", &value(data), now);
        }
        let at_end = engine.snapshot_view();
        let restored = restore(&at_end);
        prop_assert_eq!(restored.stats(), engine.stats());
        for at in [ReadTime::Watermark, ReadTime::Now(now + 30_000)] {
            for u in 0..13 {
                let key = format!("u{u}");
                prop_assert_eq!(row(&restored, "ByUser", &key, at), row(&engine, "ByUser", &key, at));
                for g in 0..3 {
                    let key = format!("{g}|u{u}");
                    prop_assert_eq!(row(&restored, "ByGroup", &key, at), row(&engine, "ByGroup", &key, at));
                }
            }
        }
        // A view taken mid-way restores to exactly the state at that point: replaying the
        // prefix into a fresh engine gives the same reads.
        if let Some(view) = view {
            let from_view = restore(&view);
            let mut prefix = Engine::new(EngineConfig::default());
            prefix.register(&mixed_body()).unwrap();
            let mut now = 1_700_000_000_000i64;
            for (u, g, x, s, b, dt) in events.iter().take(cut) {
                now += dt;
                let mut data = json!({"u": format!("u{u}"), "g": g, "s": format!("s{s}"), "b": b});
                if let Some(x) = x {
                    data["x"] = json!(x);
                }
                push(&mut prefix, "E", &value(data), now);
            }
            let at = ReadTime::Now(now + 1);
            for u in 0..13 {
                let key = format!("u{u}");
                prop_assert_eq!(row(&from_view, "ByUser", &key, at), row(&prefix, "ByUser", &key, at));
            }
        }
    }
}
