//! Group-commit benchmark on a real directory: appends per second, records per fsync and ack
//! latency, for 1 and 16 blocking producers (each waits for its ack, like HTTP clients), one
//! pipelined producer (a window of in-flight appends, like a pipelined TCP client), and the
//! relaxed mode for contrast.
//!
//! `cargo run --release -p persist --example wal_bench -- [seconds per scenario] [dir]`
//! (defaults: 3 s, a fresh directory under the system temp dir; use a path on the disk you
//! care about — tmpfs makes fsync free). `WAL_BENCH_PREALLOCATE=1` runs with segment
//! preallocation (`Preallocate::Background`, waiting for the first spare before measuring).

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use persist::{
    AckMode, FileDisk, GroupCommitOptions, GroupCommitter, Lsn, Preallocate, Wal, WalOptions,
};

const PAYLOAD_BYTES: usize = 200;

struct Outcome {
    records: u64,
    fsyncs: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction) as usize]
}

fn start(dir: &PathBuf, options: GroupCommitOptions) -> GroupCommitter {
    let _ = std::fs::remove_dir_all(dir);
    let preallocate = if std::env::var("WAL_BENCH_PREALLOCATE").is_ok_and(|v| v == "1") {
        Preallocate::Background
    } else {
        Preallocate::Off
    };
    let (mut wal, _) = Wal::open(
        Arc::new(FileDisk),
        dir,
        WalOptions {
            preallocate,
            ..WalOptions::default()
        },
        Lsn::FIRST,
        |_, _, _| {},
    )
    .expect("open the wal");
    if wal.wait_for_spare() {
        // Adopt the spare now (the first append replaces the empty segment), off the clock.
        wal.append(b"warm-up").expect("append");
        wal.sync().expect("sync");
    }
    GroupCommitter::start(wal, options)
}

fn blocking(
    dir: &PathBuf,
    n_producers: usize,
    duration: Duration,
    options: GroupCommitOptions,
) -> Outcome {
    let committer = start(dir, options);
    let started = Instant::now();
    let producers: Vec<_> = (0..n_producers)
        .map(|_| {
            let handle = committer.handle();
            thread::spawn(move || {
                let mut latencies_us = Vec::new();
                let payload = vec![7u8; PAYLOAD_BYTES];
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    handle.append(payload.clone()).expect("append");
                    latencies_us.push(sent.elapsed().as_micros() as u64);
                }
                latencies_us
            })
        })
        .collect();
    let mut latencies_us: Vec<u64> = producers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let status = committer.handle().status();
    drop(committer);
    latencies_us.sort_unstable();
    Outcome {
        records: status.records_acked,
        fsyncs: status.fsyncs,
        elapsed,
        latencies_us,
    }
}

fn pipelined(dir: &PathBuf, window: usize, duration: Duration) -> Outcome {
    let committer = start(dir, GroupCommitOptions::default());
    let handle = committer.handle();
    let (sender, receiver) = bounded::<Instant>(window);
    let (done_sender, done_receiver) = bounded::<u64>(window);
    let started = Instant::now();
    let payload = vec![7u8; PAYLOAD_BYTES];
    let mut latencies_us = Vec::new();
    let mut in_flight = 0usize;
    while started.elapsed() < duration {
        while in_flight < window {
            let sent = Instant::now();
            sender.send(sent).unwrap();
            let done = done_sender.clone();
            handle.submit(payload.clone(), move |result| {
                result.expect("append");
                let _ = done.send(sent.elapsed().as_micros() as u64);
            });
            in_flight += 1;
        }
        latencies_us.push(done_receiver.recv().unwrap());
        let _ = receiver.recv();
        in_flight -= 1;
    }
    for _ in 0..in_flight {
        latencies_us.push(done_receiver.recv().unwrap());
    }
    let elapsed = started.elapsed();
    let status = handle.status();
    drop(committer);
    latencies_us.sort_unstable();
    Outcome {
        records: status.records_acked,
        fsyncs: status.fsyncs,
        elapsed,
        latencies_us,
    }
}

fn report(name: &str, outcome: &Outcome) {
    let rate = outcome.records as f64 / outcome.elapsed.as_secs_f64();
    let per_fsync = outcome.records as f64 / outcome.fsyncs.max(1) as f64;
    println!(
        "{name:<34} {rate:>10.0} appends/s  {per_fsync:>7.1} records/fsync  {:>6} fsyncs  ack p50 {:>6} us  p99 {:>6} us",
        outcome.fsyncs,
        percentile(&outcome.latencies_us, 0.50),
        percentile(&outcome.latencies_us, 0.99),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let base = args.next().map_or_else(
        || std::env::temp_dir().join(format!("weir-wal-bench-{}", std::process::id())),
        PathBuf::from,
    );
    let duration = Duration::from_secs_f64(seconds);
    let dir = base.join("wal");
    println!(
        "dir {} ({PAYLOAD_BYTES}-byte records, {seconds} s per scenario)",
        dir.display()
    );
    let durable = GroupCommitOptions::default();
    let no_wait = GroupCommitOptions {
        batch_wait_us: 0,
        ..GroupCommitOptions::default()
    };
    let relaxed = GroupCommitOptions {
        ack_mode: AckMode::relaxed(),
        ..GroupCommitOptions::default()
    };
    report(
        "durable, 1 blocking producer",
        &blocking(&dir, 1, duration, durable.clone()),
    );
    report(
        "durable, 16 blocking producers",
        &blocking(&dir, 16, duration, durable),
    );
    report(
        "durable, 1 pipelined (window 256)",
        &pipelined(&dir, 256, duration),
    );
    report(
        "durable wait 0, 1 blocking",
        &blocking(&dir, 1, duration, no_wait.clone()),
    );
    report(
        "durable wait 0, 16 blocking",
        &blocking(&dir, 16, duration, no_wait),
    );
    report(
        "relaxed 20 ms, 1 blocking producer",
        &blocking(&dir, 1, duration, relaxed),
    );
    let _ = std::fs::remove_dir_all(&base);
}
