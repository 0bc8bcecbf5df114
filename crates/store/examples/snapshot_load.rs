//! Load-only timing of the newest snapshot in a directory: read + verify, then decode into an
//! engine on `threads` threads, `repeat` times. Also the whole recovery path as a start runs
//! it (`store::load_newest_snapshot`, on all cores).
//!
//! `cargo run -p store --release --example snapshot_cost -- 1000000 /tmp/snap keep`, then
//! `cargo run -p store --release --example snapshot_load -- /tmp/snap [repeat] [threads]`

use engine::{Engine, EngineConfig, RestoreOptions};
use persist::snapshot;
use std::time::Instant;

fn cpu_ms() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 10.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("snapshot dir"));
    let repeat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let threads: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(snapshot::load_threads);
    let disk = persist::FileDisk;
    let file = snapshot::list(&disk, &dir)
        .expect("listing")
        .pop()
        .expect("a snapshot in the directory");
    for _ in 0..repeat {
        let (t, cpu) = (Instant::now(), cpu_ms());
        let loaded = snapshot::load(&disk, &file).expect("verifies");
        let verified = t.elapsed();
        let sections: Vec<(u32, &[u8])> = loaded.sections().collect();
        let engine = Engine::restore(
            EngineConfig::default(),
            &sections,
            RestoreOptions {
                threads,
                progress: None,
            },
        )
        .expect("decodes");
        let elapsed = t.elapsed();
        let cpu = cpu_ms() - cpu;
        println!(
            "format {}, {} sections, {threads} threads: read + verify {verified:.2?}, total {elapsed:.2?} \
             ({:.0} MB/s; CPU {cpu:.0} ms), {} entities",
            loaded.format_version,
            loaded.section_count(),
            loaded.file_bytes() as f64 / 1e6 / elapsed.as_secs_f64(),
            engine.stats().entity_count_resident,
        );
        if std::env::var_os("SNAPSHOT_LOAD_LEAK").is_some() {
            // Profiling the load alone: skip the (slow) drop of a million entities.
            std::mem::forget(engine);
        } else {
            drop(engine);
        }
    }
    if repeat == 0 {
        return;
    }
    let t = Instant::now();
    let (engine, report) =
        store::load_newest_snapshot(&disk, &dir, &EngineConfig::default()).expect("loads");
    println!(
        "store::load_newest_snapshot: {:.2?} ({} entities)",
        t.elapsed(),
        report.entities
    );
    drop(engine);
}
