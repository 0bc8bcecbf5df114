//! What a snapshot costs for the README table (`SessionReflexes`, 8 features) with N entities:
//! the writer's stall (taking the view), encode + write + fsync time and file size, the time
//! to load + verify + decode it, the apply cost while a view is alive (copy-on-write), and the
//! memory a full rewrite of every entity costs while a view is held.
//!
//! `cargo run -p store --release --example snapshot_cost -- [entities] [dir] [keep]`
//!
//! With `keep`, the snapshot file is left in `dir` for `snapshot_load` (load-only timing).

use engine::{ChunkLimits, Engine, EngineConfig, RestoreOptions, SECTION_META};
use model::{DecodeLimits, Value, ValueSeed};
use persist::snapshot::{self, SnapshotFile, SnapshotWriter};
use persist::{Disk, FileDisk, Lsn};
use serde::de::DeserializeSeed;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOOLS: [&str; 6] = ["search", "browse", "code", "shell", "email", "calendar"];

fn event(session: u64, i: u64) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json!({
            "session_id": format!("session-{session}"),
            "tool": TOOLS[((session ^ i) % 6) as usize],
            "ok": !i.is_multiple_of(5),
            "tokens": 100 + (i * 37 + session) % 900,
            "latency_ms": 50.0 + ((i * 7919 + session) % 1000) as f64 / 3.0,
            "risky": i.is_multiple_of(7),
            "action": if i.is_multiple_of(2) { "lookup" } else { "write" },
        }))
        .unwrap()
}

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("weir-snapshot-cost"));
    let keep = args.next().as_deref() == Some("keep");
    let _ = std::fs::remove_dir_all(&dir);

    let mut engine = Engine::new(EngineConfig::default());
    engine
        .register(&json!({"nodes":[
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
                "steps":{"op":"count","params":{}}}}]}]}))
        .unwrap();
    let mut now = 1_700_000_000_000i64;
    // Pre-validate one pass of events to time `apply` alone.
    // Returns the pass's total time and its slowest single apply.
    let pass = |engine: &mut Engine, i: u64, now: &mut i64| -> (Duration, Duration) {
        let pushes: Vec<_> = (0..n)
            .map(|s| engine.validate_push("AgentStep", &event(s, i)).unwrap())
            .collect();
        let t = Instant::now();
        let mut slowest = Duration::ZERO;
        for p in &pushes {
            let one = Instant::now();
            engine.apply(p, *now);
            slowest = slowest.max(one.elapsed());
            *now += 1;
        }
        (t.elapsed(), slowest)
    };
    let rss0 = rss();
    pass(&mut engine, 0, &mut now);
    let plain = pass(&mut engine, 1, &mut now);
    let rss_loaded = rss();
    println!("entities                      {n}");
    println!(
        "rss per entity                {:.0} B",
        (rss_loaded - rss0) as f64 / n as f64
    );
    println!(
        "apply, no view alive          {:.0} ns/event, slowest {:.1?}",
        plain.0.as_nanos() as f64 / n as f64,
        plain.1
    );

    // The writer's stall: taking the view (and dropping it untouched), repeated.
    let mut samples: Vec<std::time::Duration> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            let view = engine.snapshot_view();
            let d = t.elapsed();
            drop(view);
            d
        })
        .collect();
    samples.sort();
    println!(
        "snapshot_view x1000           p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        samples[500], samples[990], samples[999]
    );
    let t = Instant::now();
    let view = engine.snapshot_view();
    let capture = t.elapsed();
    println!("snapshot_view (writer stall)  {capture:.2?}");

    // Encode + write + fsync + rename + dir fsync, on another thread, while the writer applies
    // a full pass (every entity touched: the worst case for copy-on-write memory).
    let disk: Arc<dyn Disk> = Arc::new(FileDisk);
    let writer_disk = Arc::clone(&disk);
    let writer_dir = dir.clone();
    let snap_thread = std::thread::spawn(move || {
        let t = Instant::now();
        let mut w = SnapshotWriter::create(writer_disk, &writer_dir, Lsn(1)).unwrap();
        w.begin_section(SECTION_META);
        w.write_all(&view.encode_meta()).unwrap();
        for i in 0..view.table_count() {
            view.encode_table(i, ChunkLimits::default(), &mut |tag, parts| {
                w.begin_section(tag);
                parts.iter().try_for_each(|p| w.write_all(p))
            })
            .unwrap();
        }
        let written = w.finish().unwrap();
        (t.elapsed(), written, view)
    });
    let during = pass(&mut engine, 2, &mut now);
    let (snap_time, written, view) = snap_thread.join().unwrap();
    let rss_with_view = rss();
    drop(view);
    println!(
        "apply during snapshot (COW)   {:.0} ns/event, slowest {:.1?} (first touch of every entity copies it)",
        during.0.as_nanos() as f64 / n as f64,
        during.1
    );
    println!("snapshot encode+write+fsync   {snap_time:.2?}");
    println!("  of which fsyncs             {:.2?}", written.fsync);
    println!(
        "snapshot file                 {:.1} MiB ({:.0} B/entity)",
        written.bytes as f64 / 1048576.0,
        written.bytes as f64 / n as f64
    );
    println!(
        "rss after rewriting every entity with the view alive: +{:.1} MiB over the loaded state (worst case: all entities modified during the snapshot)",
        (rss_with_view.saturating_sub(rss_loaded)) as f64 / 1048576.0
    );
    let after = pass(&mut engine, 3, &mut now);
    println!(
        "apply after the view dropped  {:.0} ns/event, slowest {:.1?}",
        after.0.as_nanos() as f64 / n as f64,
        after.1
    );

    let t = Instant::now();
    let file = SnapshotFile {
        lsn: Lsn(1),
        path: written.path.clone(),
    };
    let loaded = snapshot::load(disk.as_ref(), &file).unwrap();
    let read_verify = t.elapsed();
    let sections: Vec<(u32, &[u8])> = loaded.sections().collect();
    let restored = Engine::restore(
        EngineConfig::default(),
        &sections,
        RestoreOptions {
            threads: snapshot::load_threads(),
            progress: None,
        },
    )
    .unwrap();
    let total = t.elapsed();
    println!("load: read + verify           {read_verify:.2?}");
    println!(
        "load: total incl. decode      {total:.2?} ({:.0} MB/s of snapshot)",
        written.bytes as f64 / 1e6 / total.as_secs_f64()
    );
    assert_eq!(
        restored.stats().entity_count_resident,
        n,
        "restored entity count"
    );
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
