//! Micro-benchmarks of the engine hot path: apply and read, per operator and for the README table.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use engine::ReadTime;
use serde_json::json;

fn ops() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("count", json!({})),
        ("count_1h", json!({"window":"1h"})),
        ("sum", json!({"field":"x","window":"1h"})),
        ("mean", json!({"field":"x","window":"1h"})),
        ("min", json!({"field":"x","window":"1h"})),
        ("max", json!({"field":"x","window":"1h"})),
        ("var", json!({"field":"x","window":"1h"})),
        ("std", json!({"field":"x","window":"1h"})),
        ("ratio", json!({"window":"1h","where":"b"})),
        ("n_unique", json!({"field":"s","window":"1h"})),
        ("first", json!({"field":"s"})),
        ("last", json!({"field":"s"})),
        ("top_k", json!({"field":"s","k":3,"window":"1h"})),
        ("quantile", json!({"field":"x","q":0.95,"window":"1h"})),
        ("streak", json!({"where":"b"})),
        ("last_seen", json!({})),
        ("time_since", json!({})),
        ("decayed_sum", json!({"field":"x","half_life":"1h"})),
    ]
}

fn op_name(label: &str) -> &str {
    label.strip_suffix("_1h").unwrap_or(label)
}

fn per_operator(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply");
    for (label, params) in ops() {
        let mut engine = bench::single_op_engine(op_name(label), params);
        let events: Vec<_> = (0..1024u64)
            .map(|i| {
                let v = bench::to_value(json!({"k": format!("k{}", i % 64), "x": (i % 97) as f64,
                    "s": format!("v{}", i % 13), "b": i % 3 == 0}));
                engine.validate_push("E", &v).expect("valid")
            })
            .collect();
        let mut i = 0usize;
        let mut now = 1_700_000_000_000i64;
        group.bench_function(label, |b| {
            b.iter(|| {
                engine.apply(&events[i & 1023], now);
                i += 1;
                now += 3;
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("read");
    for (label, params) in ops() {
        let mut engine = bench::single_op_engine(op_name(label), params);
        for i in 0..256u64 {
            let v = bench::to_value(
                json!({"k": "hot", "x": i as f64, "s": format!("v{}", i % 13), "b": i % 3 == 0}),
            );
            let push = engine.validate_push("E", &v).expect("valid");
            engine.apply(&push, 1_700_000_000_000 + i as i64 * 1000);
        }
        group.bench_function(label, |b| {
            b.iter(|| engine.get("T", "hot", None, ReadTime::Now(1_700_000_300_000)))
        });
    }
    group.finish();
}

fn readme_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("readme");
    group.bench_function("validate_and_apply", |b| {
        let mut engine = bench::readme_engine();
        let events: Vec<_> = (0..4096u64)
            .map(|i| bench::readme_event(i % 1000, i))
            .collect();
        let mut i = 0usize;
        let mut now = 1_700_000_000_000i64;
        b.iter(|| {
            let push = engine
                .validate_push("AgentStep", &events[i & 4095])
                .expect("valid");
            engine.apply(&push, now);
            i += 1;
            now += 1;
        })
    });
    // As the store's writer does: the decoded body is moved into the validated push (the clone
    // that produces it is setup, not measured).
    group.bench_function("validate_owned_and_apply", |b| {
        let mut engine = bench::readme_engine();
        let events: Vec<_> = (0..4096u64)
            .map(|i| bench::readme_event(i % 1000, i))
            .collect();
        let mut i = 0usize;
        let mut now = 1_700_000_000_000i64;
        b.iter_batched(
            || {
                i += 1;
                events[i & 4095].clone()
            },
            |body| {
                let push = engine
                    .validate_push_owned("AgentStep", body)
                    .expect("valid");
                engine.apply(&push, now);
                now += 1;
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("get", |b| {
        let mut engine = bench::readme_engine();
        for i in 0..64u64 {
            let push = engine
                .validate_push("AgentStep", &bench::readme_event(1, i))
                .expect("valid");
            engine.apply(&push, 1_700_000_000_000 + i as i64 * 100);
        }
        b.iter_batched(
            || (),
            |_| {
                engine.get(
                    "SessionReflexes",
                    "session-1",
                    None,
                    ReadTime::Now(1_700_000_010_000),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, per_operator, readme_table);
criterion_main!(benches);
