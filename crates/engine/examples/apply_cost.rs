//! apply-only cost at N README entities (A/B helper, not committed).
use engine::{Engine, EngineConfig};
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::DeserializeSeed;
use serde_json::json;
use std::time::Instant;
const TOOLS: [&str; 6] = ["search", "browse", "code", "shell", "email", "calendar"];
fn event(session: u64, i: u64) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json!({
            "session_id": format!("session-{session}"), "tool": TOOLS[((session ^ i) % 6) as usize],
            "ok": !i.is_multiple_of(5), "tokens": 100 + (i * 37 + session) % 900,
            "latency_ms": 50.0 + ((i * 7919 + session) % 1000) as f64 / 3.0,
            "risky": i.is_multiple_of(7), "action": if i.is_multiple_of(2) { "lookup" } else { "write" },
        }))
        .unwrap()
}
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut engine = Engine::new(EngineConfig::default());
    engine.register(&json!({"nodes":[
        {"kind":"event","name":"AgentStep","schema":{"fields":{"session_id":"str","tool":"str","ok":"bool","tokens":"i64","latency_ms":"f64","risky":"bool","action":"str"},"optional_fields":[]}},
        {"kind":"derivation","name":"SessionReflexes","output_kind":"table","upstreams":["AgentStep"],"table_primary_key":["session_id"],"ops":[{"op":"group_by","keys":["session_id"],"agg":{
            "failure_rate_5m":{"op":"ratio","params":{"window":"5m","where":"(not ok)"}},
            "top_tool_10m":{"op":"top_k","params":{"field":"tool","k":1,"window":"10m"}},
            "unique_tools_10m":{"op":"n_unique","params":{"field":"tool","window":"10m"}},
            "token_burn_1m":{"op":"sum","params":{"field":"tokens","window":"1m"}},
            "p95_latency_5m":{"op":"quantile","params":{"field":"latency_ms","q":0.95,"window":"5m"}},
            "risky_streak":{"op":"streak","params":{"where":"risky"}},
            "last_action":{"op":"last","params":{"field":"action"}},
            "steps":{"op":"count","params":{}}}}]}]})).unwrap();
    let mut now = 1_700_000_000_000i64;
    for i in 0..4u64 {
        let pushes: Vec<_> = (0..n)
            .map(|s| engine.validate_push("AgentStep", &event(s, i)).unwrap())
            .collect();
        let t = Instant::now();
        for p in &pushes {
            engine.apply(p, now);
            now += 1;
        }
        println!(
            "pass {i}: apply {:.0} ns/event",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
