//! Micro-benchmarks of a push's way in: decoding the README `AgentStep` body (HTTP JSON, TCP
//! msgpack; the direct decoders and the serde path they fall back to) and validating it against
//! the event schema. One thread, bodies cycled from a set of 1 000 loadgen-like events.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use protocol::push_envelope::{decode_http_push_with, decode_tcp_push_with};
use protocol::{ContentType, PushNameCache};
use serde_json::json;

const BODIES: u64 = 1_000;

fn fields(i: u64) -> serde_json::Value {
    let tool = ["search", "browse", "code", "shell"][(i % 4) as usize];
    let action = if i.is_multiple_of(2) {
        "lookup"
    } else {
        "write"
    };
    json!({
        "session_id": format!("session-{}", i * 7919 % 100_000),
        "tool": tool,
        "ok": !i.is_multiple_of(5),
        "tokens": 100 + i * 37 % 900,
        "latency_ms": 50.0 + ((i * 7919) % 1000) as f64 / 3.0,
        "risky": i.is_multiple_of(7),
        "action": action,
    })
}

fn json_bodies() -> Vec<Vec<u8>> {
    (0..BODIES)
        .map(|i| serde_json::to_vec(&json!({"event": "AgentStep", "data": fields(i)})).unwrap())
        .collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let bodies = json_bodies();
    let mut names = PushNameCache::default();
    let mut i = 0;
    group.bench_function("http_json_push", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            decode_http_push_with(&bodies[i], &mut names).unwrap()
        })
    });
    // The same bodies with one escape (`\u0061` is `a`): the direct decoder declines, serde
    // decodes the same values.
    let escaped: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| {
            String::from_utf8_lossy(b)
                .replacen("AgentStep\"", "Agent\\u0053tep\"", 1)
                .into_bytes()
        })
        .collect();
    group.bench_function("http_json_push_serde_path", |b| {
        b.iter(|| {
            i = (i + 1) % escaped.len();
            decode_http_push_with(&escaped[i], &mut names).unwrap()
        })
    });
    let frames: Vec<Vec<u8>> = (0..BODIES)
        .map(|i| {
            rmp_serde::to_vec_named(&json!({"event": "AgentStep", "body": fields(i)})).unwrap()
        })
        .collect();
    group.bench_function("tcp_msgpack_push", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            decode_tcp_push_with(ContentType::Msgpack, &frames[i], &mut names).unwrap()
        })
    });
    group.finish();
}

fn validate(c: &mut Criterion) {
    let engine = bench::readme_engine();
    let bodies: Vec<model::Value> = (0..BODIES).map(|i| bench::to_value(fields(i))).collect();
    let mut i = 0;
    c.bench_function("validate/readme_push_owned", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % bodies.len();
                bodies[i].clone()
            },
            |body| engine.validate_push_owned("AgentStep", body).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, decode, validate);
criterion_main!(benches);
