//! Benchmark workloads shared by the criterion micro-benchmarks and the measurement binaries.
//!
//! Dev-only: nothing depends on this crate.

use engine::{Engine, EngineConfig};
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

/// Pages the heap as the server does: transparent huge pages off for this process (decision
/// 0030), so the in-process measurements see the server's TLB and page-fault costs; left as
/// they are with `WEIR_TRANSPARENT_HUGE_PAGES=1` (the server's opt-out, to measure both ways).
pub fn page_like_the_server() {
    let opted_out = std::env::var("WEIR_TRANSPARENT_HUGE_PAGES").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    if opted_out {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("could not turn transparent huge pages off: {e}");
    }
}

/// Claims the machine for one side-by-side benchmark (`loadgen`, `incident`): an advisory lock
/// on `weir-bench.lock` in the temp directory, held until the returned file is dropped (or the
/// process exits). Two benchmarks sharing the cores measure each other; the second refuses to
/// start instead.
pub fn claim_the_machine() -> Result<std::fs::File, String> {
    let path = std::env::temp_dir().join("weir-bench.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another benchmark holds {} (loadgen or incident is running): two at once would \
             measure each other",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", path.display())),
    }
}

/// The `AgentStep` event node both benchmark tables are fed by.
fn agent_step_event() -> Json {
    json!({"kind":"event","name":"AgentStep","schema":{"fields":{
        "session_id":"str","tool":"str","ok":"bool","tokens":"i64",
        "latency_ms":"f64","risky":"bool","action":"str"},"optional_fields":[]}})
}

/// The README headline table: `AgentStep` -> `SessionReflexes` (8 features).
pub fn readme_register_body() -> Json {
    json!({"nodes":[
        agent_step_event(),
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

/// `SessionWide` features: (name, op, params as JSON).
const WIDE_FEATURES: &[(&str, &str, &str)] = &[
    ("count", "count", r#"{}"#),
    ("count_1h", "count", r#"{"window":"1h"}"#),
    ("count_risky", "count", r#"{"where":"risky"}"#),
    ("sum_tokens", "sum", r#"{"field":"tokens"}"#),
    (
        "sum_tokens_5m",
        "sum",
        r#"{"field":"tokens","window":"5m"}"#,
    ),
    ("mean_latency", "mean", r#"{"field":"latency_ms"}"#),
    (
        "mean_latency_10m",
        "mean",
        r#"{"field":"latency_ms","window":"10m"}"#,
    ),
    ("min_latency", "min", r#"{"field":"latency_ms"}"#),
    (
        "max_latency_1h",
        "max",
        r#"{"field":"latency_ms","window":"1h"}"#,
    ),
    ("var_tokens", "var", r#"{"field":"tokens"}"#),
    (
        "std_latency_10m",
        "std",
        r#"{"field":"latency_ms","window":"10m"}"#,
    ),
    ("failure_rate", "ratio", r#"{"where":"(not ok)"}"#),
    (
        "risky_rate_5m",
        "ratio",
        r#"{"window":"5m","where":"risky"}"#,
    ),
    ("unique_tools", "n_unique", r#"{"field":"tool"}"#),
    (
        "unique_actions_1h",
        "n_unique",
        r#"{"field":"action","window":"1h"}"#,
    ),
    (
        "p50_latency",
        "quantile",
        r#"{"field":"latency_ms","q":0.5}"#,
    ),
    (
        "p99_latency_10m",
        "quantile",
        r#"{"field":"latency_ms","q":0.99,"window":"10m"}"#,
    ),
    ("top_tools", "top_k", r#"{"field":"tool","k":3}"#),
    (
        "top_action_1h",
        "top_k",
        r#"{"field":"action","k":2,"window":"1h"}"#,
    ),
    ("tool_seen", "bloom_member", r#"{"field":"tool"}"#),
    ("tool_entropy", "entropy", r#"{"field":"tool"}"#),
    (
        "latency_histogram",
        "histogram",
        r#"{"field":"latency_ms","buckets":[100.0,200.0,300.0]}"#,
    ),
    ("hour_histogram", "hour_of_day_histogram", r#"{}"#),
    (
        "action_mix",
        "event_type_mix",
        r#"{"field":"action","max_categories":256}"#,
    ),
    ("recent_tools", "most_recent_n", r#"{"field":"tool","n":3}"#),
    (
        "latency_sample",
        "reservoir_sample",
        r#"{"field":"latency_ms","samples":8}"#,
    ),
    ("first_tool", "first", r#"{"field":"tool"}"#),
    ("last_action", "last", r#"{"field":"action"}"#),
    ("first_tokens", "first_n", r#"{"field":"tokens","n":3}"#),
    ("last_tools", "last_n", r#"{"field":"tool","n":5}"#),
    ("previous_tokens", "lag", r#"{"field":"tokens","n":1}"#),
    (
        "latency_delta",
        "delta_from_prev",
        r#"{"field":"latency_ms"}"#,
    ),
    ("first_seen", "first_seen", r#"{}"#),
    ("last_seen", "last_seen", r#"{}"#),
    ("age", "age", r#"{}"#),
    ("ever_risky", "has_seen", r#"{"where":"risky"}"#),
    ("since_last", "time_since", r#"{}"#),
    ("since_third_last", "time_since_last_n", r#"{"n":3}"#),
    ("ok_streak", "streak", r#"{"where":"ok"}"#),
    (
        "longest_failure_run",
        "max_streak",
        r#"{"where":"(not ok)"}"#,
    ),
    (
        "steps_since_risky",
        "negative_streak",
        r#"{"where":"risky"}"#,
    ),
    (
        "tokens_ewma",
        "ewma",
        r#"{"field":"tokens","half_life":"10m"}"#,
    ),
    (
        "latency_ewvar",
        "ewvar",
        r#"{"field":"latency_ms","half_life":"10m"}"#,
    ),
    (
        "tokens_decayed",
        "decayed_sum",
        r#"{"field":"tokens","half_life":"1h"}"#,
    ),
    ("steps_decayed", "decayed_count", r#"{"half_life":"1h"}"#),
    (
        "latency_twa",
        "twa",
        r#"{"field":"latency_ms","window":"10m"}"#,
    ),
    (
        "tokens_rate",
        "rate_of_change",
        r#"{"field":"tokens","window":"10m"}"#,
    ),
    ("inter_arrival", "inter_arrival_stats", r#"{"window":"1h"}"#),
    (
        "bursts",
        "burst_count",
        r#"{"window":"10m","sub_window":"1m"}"#,
    ),
    (
        "latency_trend",
        "trend",
        r#"{"field":"latency_ms","window":"1h"}"#,
    ),
    (
        "latency_outliers",
        "outlier_count",
        r#"{"field":"latency_ms","window":"1h","sigma":2.0}"#,
    ),
    (
        "action_changes",
        "value_change_count",
        r#"{"field":"action","window":"1h"}"#,
    ),
    (
        "latency_z",
        "z_score",
        r#"{"field":"latency_ms","baseline_window":"1h"}"#,
    ),
];

/// A wide table over the same `AgentStep` events: `SessionWide`, 53 features across the operator
/// families (counting and moments, windowed and lifetime; sketches; buffers; recency and
/// streaks; decay; velocity). Every op and parameter is accepted by beava 0.0.6 as well.
pub fn wide_register_body() -> Json {
    let features: serde_json::Map<String, Json> = WIDE_FEATURES
        .iter()
        .map(|(name, op, params)| {
            let params: Json = serde_json::from_str(params).expect("params are JSON");
            (name.to_string(), json!({"op": op, "params": params}))
        })
        .collect();
    json!({"nodes":[
        agent_step_event(),
        {"kind":"derivation","name":"SessionWide","output_kind":"table","upstreams":["AgentStep"],
         "table_primary_key":["session_id"],"ops":[{"op":"group_by","keys":["session_id"],
         "agg":features}]}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_table_registers_and_folds_readme_events() {
        let mut engine = Engine::new(EngineConfig::default());
        engine
            .register(&wide_register_body())
            .expect("wide table registers");
        for i in 0..20 {
            let push = engine
                .validate_push("AgentStep", &readme_event(7, i))
                .expect("valid event");
            engine.apply(&push, 1_700_000_000_000 + i as i64 * 1_000);
        }
        let row = engine
            .get(
                "SessionWide",
                "session-7",
                None,
                engine::ReadTime::Watermark,
            )
            .expect("row");
        let Value::Map(members) = row else {
            panic!("a row is a map");
        };
        assert!(members.len() >= 50, "{} features", members.len());
        let count = members.iter().find(|(k, _)| k == "count").map(|(_, v)| v);
        assert_eq!(count, Some(&Value::I64(20)));
    }
}
