//! Benchmark workloads shared by the criterion micro-benchmarks and the measurement binaries.
//!
//! Dev-only: nothing depends on this crate.

use engine::{Engine, EngineConfig};
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

/// The README headline table: `AgentStep` -> `SessionReflexes` (8 features).
pub fn readme_register_body() -> Json {
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

const TOOLS: [&str; 6] = ["search", "browse", "code", "shell", "email", "calendar"];

/// A deterministic `AgentStep` event for `session` / step `i`.
pub fn readme_event(session: u64, i: u64) -> Value {
    let tool = TOOLS[((session ^ i) % TOOLS.len() as u64) as usize];
    let event = json!({
        "session_id": format!("session-{session}"),
        "tool": tool,
        "ok": !i.is_multiple_of(5),
        "tokens": 100 + (i * 37 + session) % 900,
        "latency_ms": 50.0 + ((i * 7919 + session) % 1000) as f64 / 3.0,
        "risky": i.is_multiple_of(7),
        "action": if i.is_multiple_of(2) { "lookup" } else { "write" },
    });
    to_value(event)
}

pub fn to_value(json: Json) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json)
        .expect("benchmark values are within limits")
}

/// An engine with the README table registered.
pub fn readme_engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .register(&readme_register_body())
        .expect("README table registers");
    engine
}

/// A one-feature table over an event with a str key, an f64 `x` and a str `s`.
pub fn single_op_engine(op: &str, params: Json) -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    let body = json!({"nodes":[
        {"kind":"event","name":"E","schema":{"fields":{"k":"str","x":"f64","s":"str","b":"bool"}}},
        {"kind":"derivation","name":"T","output_kind":"table","upstreams":["E"],"table_primary_key":["k"],
         "ops":[{"op":"group_by","keys":["k"],"agg":{"f":{"op":op,"params":params}}}]}]});
    engine.register(&body).expect("single-op table registers");
    engine
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * 4096)
}
