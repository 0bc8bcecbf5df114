//! Incident replay (issue 5): does a server stay live while it writes big snapshots?
//!
//! For each server (weir durable and/or beava 0.0.6, run one after the other, each on a fresh
//! data directory with its WAL and snapshots on):
//!
//! 1. **load**: register the README `SessionReflexes` table and push `--events-per-entity`
//!    `AgentStep` events for each of `--entities` sessions (TCP msgpack, 8 connections × 256 in
//!    flight, round-robin keys);
//! 2. **measured phase**: keep pushing (`--transport`, `--rate` total/s or max), probe
//!    `POST /ping` (data plane) and admin `GET /health` every `--probe-interval-ms` with a
//!    `--probe-timeout-ms` timeout, each on its own OS thread and keep-alive connection (off the
//!    push runtime), and sample every `--sample-ms`: acked pushes, RSS of the process tree
//!    (VmRSS, VmHWM, forked children, PSS), snapshot in progress, WAL and snapshot bytes on disk.
//!    The phase lasts at least `--duration` seconds and until `--min-snapshots` snapshots have
//!    completed in it (capped by `--max-duration`);
//! 3. **restarts** (`--restart`): `kill` = SIGKILL right after the measured phase (recovery =
//!    newest snapshot + WAL tail), `term` = SIGTERM (graceful); each time the process is started
//!    again on the same directory and timed from spawn to bound addresses, to the first
//!    `POST /ping` 200, admin `/health` and `/ready` 200 and to `get`s returning the rows read
//!    before (each polled on its own thread).
//!
//! Snapshots are found from the servers' own `snapshot.written` JSON log lines (both print one,
//! with `bytes` and `duration_ms`), widened by what is observed from outside: weir's
//! `weir_snapshot_in_progress` gauge, beava's forked snapshot child.
//!
//! ```text
//! cargo build --release -p weir && cargo build --release -p bench --bin incident
//! target/release/incident --server both --entities 300000 --json crates/bench/results/incident-300k.jsonl
//! target/release/incident --server weir --entities 3500000 --snapshot-interval-ms 25000 --duration 100 \
//!     --json crates/bench/results/incident-3500k-weir.jsonl
//! ```
//!
//! See `--help` and docs/BENCHMARKS.md ("Incident replay").

#[allow(dead_code)]
#[path = "loadgen/drive.rs"]
mod drive;
#[allow(dead_code)]
#[path = "loadgen/server.rs"]
mod server;
#[allow(dead_code)]
#[path = "loadgen/workload.rs"]
mod workload;

use clap::Parser;
use drive::{PushConn, Shared, Transport, MEASURE, STOP};
use serde_json::{json, Value as Json};
use server::{Bins, Kind, Launch, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use workload::{Dist, KeyGen};

/// beava 0.0.6 needs ~16.6 KB of RSS per README entity and forks to snapshot (up to ~2×): more
/// than this does not fit next to the other work on the 24 GiB development machine.
const BEAVA_MAX_ENTITIES: u64 = 300_000;

/// Keys whose rows are compared before and after each restart.
const CHECK_KEYS: u64 = 16;

#[derive(Parser, Debug)]
#[command(
    about = "Incident replay (issue 5): liveness probes, push throughput, memory and disk while \
             weir and/or beava 0.0.6 write snapshots, then restart time-to-ready",
    long_about = None,
    after_help = "Servers run durable with a fresh data dir each (weir --ack-mode durable; beava \
with its WAL and fork snapshots). BEAVA_SNAPSHOT_INTERVAL_MS is set to --snapshot-interval-ms for \
both, but beava 0.0.6 ignores it (it snapshots every 60 s, measured): keep the default 60000 for a \
side-by-side run. beava is refused above 300000 entities (memory). Output: markdown tables on \
stdout, one JSON line per server with --json."
)]
struct Args {
    /// Servers, comma-separated: weir (durable acks), beava; `both` = weir,beava.
    #[arg(long, default_value = "both")]
    server: String,
    /// weir binary (build it with `cargo build --release -p weir`).
    #[arg(long, default_value = "target/release/weir")]
    weir_bin: PathBuf,
    /// beava 0.0.6 server binary.
    #[arg(long, default_value = "/work/.venv-oracle/bin/beava")]
    beava_bin: PathBuf,
    /// README entities (sessions) loaded before the measured phase; beava: at most 300000.
    #[arg(long, default_value_t = 300_000)]
    entities: u64,
    /// Events pushed per entity during the load.
    #[arg(long, default_value_t = 2)]
    events_per_entity: u64,
    /// BEAVA_SNAPSHOT_INTERVAL_MS given to both servers (weir honours it, minimum 100; beava
    /// 0.0.6 ignores it and snapshots every 60 s).
    #[arg(long, default_value_t = 60_000)]
    snapshot_interval_ms: u64,
    /// Minimum measured seconds.
    #[arg(long, default_value_t = 100.0)]
    duration: f64,
    /// The measured phase goes on until this many snapshots completed in it.
    #[arg(long, default_value_t = 3)]
    min_snapshots: usize,
    /// Hard cap of the measured phase, seconds.
    #[arg(long, default_value_t = 420.0)]
    max_duration: f64,
    /// Seconds the measured phase goes on after the `--min-snapshots`-th snapshot ended (so what
    /// follows a snapshot — catch-up, memory release — is seen too).
    #[arg(long, default_value_t = 5.0)]
    tail: f64,
    /// Safety: SIGKILL the server and fail the run if the machine's MemAvailable falls below
    /// this many MB (the box is shared; beava's snapshot fork can double its memory).
    #[arg(long, default_value_t = 3000)]
    min_available_mb: u64,
    /// Total pushes per second during the measured phase; 0 = as fast as the connections allow.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Push transport of the measured phase: `tcp[:CONNSxDEPTH]` (msgpack, default 8x256) or
    /// `http[:CONNSxDEPTH]` (JSON, default 32x1).
    #[arg(long, default_value = "tcp:8x256")]
    transport: String,
    /// Key distribution of the measured pushes over the loaded entities: uniform, zipf[:s], seq.
    #[arg(long, default_value = "uniform")]
    dist: String,
    /// Probe period of `POST /ping` and of admin `GET /health` (each), milliseconds.
    #[arg(long, default_value_t = 250)]
    probe_interval_ms: u64,
    /// Probe timeout (a probe without a complete answer by then counts as a timeout and as this
    /// latency; its connection is replaced), milliseconds.
    #[arg(long, default_value_t = 8_000)]
    probe_timeout_ms: u64,
    /// Sampling period of counters, RSS, snapshot state and disk use, milliseconds.
    #[arg(long, default_value_t = 100)]
    sample_ms: u64,
    /// Period of the PSS samples (`/proc/<pid>/smaps_rollup`, shared copy-on-write pages of a
    /// forked child counted once) while the server has a child process, milliseconds; twice
    /// that otherwise. Each read walks the server's page tables (costly on a big heap).
    #[arg(long, default_value_t = 5_000)]
    pss_ms: u64,
    /// Restarts after the measured phase, in order, comma-separated: `kill` (SIGKILL),
    /// `term` (SIGTERM, graceful); `none` to skip.
    #[arg(long, default_value = "kill,term")]
    restart: String,
    /// Client runtime worker threads for the pushes (the probes have their own threads).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Where the data directories go (removed at the end unless --keep).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Keep the data directories and server logs.
    #[arg(long)]
    keep: bool,
    /// Append one JSON line per server to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write every sample and probe as JSON lines to this file (time series).
    #[arg(long)]
    timeseries: Option<PathBuf>,
    /// Seed of the key generators.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    let _machine = match bench::claim_the_machine() {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("incident: {e}");
            std::process::exit(2);
        }
    };
    let kinds = match Kind::parse_list(&args.server) {
        Ok(k) if k.contains(&Kind::WeirRelaxed) || k.contains(&Kind::WeirCandidate) => {
            eprintln!("incident: only weir and beava here (durable acks)");
            std::process::exit(2);
        }
        Ok(k) => k,
        Err(e) => {
            eprintln!("incident: {e}");
            std::process::exit(2);
        }
    };
    if kinds.contains(&Kind::Beava) && args.entities > BEAVA_MAX_ENTITIES {
        eprintln!(
            "incident: beava 0.0.6 is refused above {BEAVA_MAX_ENTITIES} entities (~16.6 KB RSS \
             each, doubled by its snapshot fork); run weir alone for bigger states"
        );
        std::process::exit(2);
    }
    let restarts: Vec<&str> = args
        .restart
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "none")
        .collect();
    if let Some(bad) = restarts.iter().find(|r| !matches!(**r, "kill" | "term")) {
        eprintln!("incident: unknown restart {bad:?} (kill, term, none)");
        std::process::exit(2);
    }
    let (transport, conns, depth) = match parse_transport(&args.transport) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("incident: {e}");
            std::process::exit(2);
        }
    };
    let dist = match Dist::parse(&args.dist) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("incident: {e}");
            std::process::exit(2);
        }
    };
    let rt = server::client_runtime(args.client_threads);
    let root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let bins = Bins {
        weir: &args.weir_bin,
        beava: &args.beava_bin,
        candidate: None,
    };
    let cfg = RunCfg {
        transport,
        conns,
        depth,
        dist,
        restarts: restarts.iter().map(|s| s.to_string()).collect(),
    };
    let mut reports = Vec::new();
    let mut failed = false;
    for &kind in &kinds {
        eprintln!(
            "incident: {} — {} entities × {} events, snapshot interval {} ms, ≥{} s and ≥{} snapshots measured, pushes {} over {}",
            kind.label(),
            args.entities,
            args.events_per_entity,
            args.snapshot_interval_ms,
            args.duration,
            args.min_snapshots,
            if args.rate > 0.0 { format!("{}/s", args.rate) } else { "max rate".into() },
            args.transport
        );
        match run_one(&rt, &args, &cfg, &bins, &root, kind) {
            Ok(r) => {
                if let Some(path) = &args.json {
                    append_line(path, &r.json);
                }
                reports.push(r);
            }
            Err(e) => {
                eprintln!("incident: {}: {e}", kind.label());
                failed = true;
            }
        }
    }
    println!("{}", tables(&reports, &args));
    if failed {
        std::process::exit(1);
    }
}

struct RunCfg {
    transport: Transport,
    conns: usize,
    depth: usize,
    dist: Dist,
    restarts: Vec<String>,
}

fn parse_transport(s: &str) -> Result<(Transport, usize, usize), String> {
    let (name, shape) = s.split_once(':').unwrap_or((s, ""));
    let (transport, default) = match name {
        "http" => (Transport::Http, (32, 1)),
        "tcp" => (Transport::Tcp, (8, 256)),
        _ => return Err(format!("unknown transport {name:?} (http, tcp)")),
    };
    let (c, d) = if shape.is_empty() {
        default
    } else {
        let (c, d) = shape.split_once('x').unwrap_or((shape, "1"));
        (
            c.parse().map_err(|_| format!("bad connections in {s:?}"))?,
            d.parse().map_err(|_| format!("bad depth in {s:?}"))?,
        )
    };
    if c == 0 || d == 0 {
        return Err(format!("{s:?}: connections and depth must be >= 1"));
    }
    Ok((transport, c, d))
}

// ---------------------------------------------------------------------------------------------
// Observation from outside: /proc, the data directory, the logs, weir's /metrics.

/// One sample of the monitor thread.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// Seconds since the run's time origin.
    t: f64,
    acked: u64,
    /// VmRSS / VmHWM of the server process.
    rss: u64,
    hwm: u64,
    /// VmRSS of the server plus all its descendants (beava's snapshot fork).
    tree_rss: u64,
    children: usize,
    /// PSS of the process tree (shared copy-on-write pages counted once), when sampled.
    tree_pss: Option<u64>,
    /// A snapshot is seen in progress from outside (weir gauge; beava: a forked child).
    snap_seen: bool,
    wal_bytes: u64,
    snap_bytes: u64,
    cpu_s: f64,
}

/// A `snapshot.written` log line.
#[derive(Clone, Debug)]
struct SnapLog {
    /// End time (the log timestamp), seconds since the run's time origin.
    end: f64,
    duration_s: f64,
    bytes: u64,
    fsync_ms: f64,
}

struct Clock0 {
    instant: Instant,
    wall: f64,
}

impl Clock0 {
    fn now() -> Clock0 {
        Clock0 {
            instant: Instant::now(),
            wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
    fn t(&self) -> f64 {
        self.instant.elapsed().as_secs_f64()
    }
    fn at(&self, i: Instant) -> f64 {
        i.saturating_duration_since(self.instant).as_secs_f64()
    }
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// MemAvailable of the machine, bytes.
fn mem_available() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb * 1024)
}

fn pss_bytes(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// All descendants of `pid` (via `/proc/<pid>/task/*/children`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for k in kids
                .split_whitespace()
                .filter_map(|k| k.parse::<u32>().ok())
            {
                if !out.contains(&k) {
                    out.push(k);
                    todo.push(k);
                }
            }
        }
    }
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn dir_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    m.is_file()
                        .then(|| (e.file_name().to_string_lossy().into_owned(), m.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp such as `2026-11-21T12:15:12.924715Z`.
fn parse_utc(ts: &str) -> Option<f64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss)
}

/// Reads the lines appended to a log file since the last call.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogTail {
    fn new(path: PathBuf) -> LogTail {
        LogTail {
            path,
            offset: 0,
            partial: String::new(),
        }
    }

    fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        use std::io::Seek;
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut out = Vec::new();
        while let Some(p) = self.partial.find('\n') {
            out.push(self.partial[..p].to_string());
            self.partial.drain(..=p);
        }
        out
    }
}

fn snap_logs(tail: &mut LogTail, clock: &Clock0, into: &mut Vec<SnapLog>) {
    for line in tail.lines() {
        if !line.starts_with('{') {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Json>(&line) else {
            continue;
        };
        if v["kind"].as_str() != Some("snapshot.written") {
            continue;
        }
        let Some(wall) = v["timestamp"].as_str().and_then(parse_utc) else {
            continue;
        };
        into.push(SnapLog {
            end: wall - clock.wall,
            duration_s: v["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            bytes: v["bytes"].as_u64().unwrap_or(0),
            fsync_ms: v["fsync_ms"].as_f64().unwrap_or(f64::NAN),
        });
    }
}

/// weir's `weir_snapshot_in_progress` gauge.
fn weir_snapshot_in_progress(admin: SocketAddr) -> bool {
    let Ok((200, text)) = http_get_short(admin, "/metrics") else {
        return false;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("weir_snapshot_in_progress "))
        .is_some_and(|v| v.trim() == "1")
}

fn http_get_short(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    server::http_request(addr, "GET", path, b"")
}

struct Monitor {
    stop: Arc<AtomicBool>,
    /// Set (and the server SIGKILLed) when the machine runs short of memory.
    abort: Arc<std::sync::Mutex<Option<String>>>,
    handle: std::thread::JoinHandle<(Vec<Sample>, Vec<SnapLog>)>,
}

fn start_monitor(
    server: &Server,
    kind: Kind,
    clock: Arc<Clock0>,
    shared: Arc<Shared>,
    sample_ms: u64,
    pss_ms: u64,
    min_available: u64,
) -> Monitor {
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(std::sync::Mutex::new(None));
    let pid = server.pid;
    let admin = server.admin;
    let data = server.data_dir();
    let mut tails = [
        LogTail::new(server.out_path.clone()),
        LogTail::new(server.err_path.clone()),
    ];
    let handle = {
        let stop = stop.clone();
        let abort = abort.clone();
        std::thread::Builder::new()
            .name("incident-monitor".into())
            .spawn(move || {
                let mut samples = Vec::new();
                let mut logs = Vec::new();
                let period = Duration::from_millis(sample_ms.max(10));
                let start = Instant::now();
                let mut k: u32 = 0;
                let mut last_pss = Instant::now() - Duration::from_secs(10);
                let mut last_disk = Instant::now() - Duration::from_secs(10);
                let (mut wal_bytes, mut snap_bytes) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let available = mem_available();
                    if available < min_available {
                        let _ = std::process::Command::new("kill")
                            .args(["-KILL", &pid.to_string()])
                            .status();
                        *abort.lock().expect("lock") = Some(format!(
                            "MemAvailable {} MB < {} MB: server SIGKILLed",
                            available / 1_000_000,
                            min_available / 1_000_000
                        ));
                        break;
                    }
                    let kids = descendants(pid);
                    let mut tree_rss = status_kb(pid, "VmRSS:");
                    let rss = tree_rss;
                    for &c in &kids {
                        tree_rss += status_kb(c, "VmRSS:");
                    }
                    // PSS (smaps_rollup) walks the page tables under the target's mmap lock:
                    // ~0.1-0.5 s of kernel CPU per read of a 4 GB process. Sparingly.
                    let pss_every = if kids.is_empty() {
                        pss_ms.saturating_mul(2)
                    } else {
                        pss_ms
                    };
                    let tree_pss =
                        (last_pss.elapsed() >= Duration::from_millis(pss_every)).then(|| {
                            last_pss = Instant::now();
                            pss_bytes(pid) + kids.iter().map(|&c| pss_bytes(c)).sum::<u64>()
                        });
                    if last_disk.elapsed() >= Duration::from_millis(500) {
                        last_disk = Instant::now();
                        wal_bytes = dir_bytes(&data.join("wal"));
                        snap_bytes = dir_bytes(&data.join("snapshots"));
                    }
                    let snap_seen = match kind {
                        Kind::Beava => !kids.is_empty(),
                        _ => admin.is_some_and(weir_snapshot_in_progress),
                    };
                    for tail in &mut tails {
                        snap_logs(tail, &clock, &mut logs);
                    }
                    samples.push(Sample {
                        t: clock.t(),
                        acked: shared.acked.load(Ordering::Relaxed),
                        rss,
                        hwm: status_kb(pid, "VmHWM:"),
                        tree_rss,
                        children: kids.len(),
                        tree_pss,
                        snap_seen,
                        wal_bytes,
                        snap_bytes,
                        cpu_s: server::proc_cpu_seconds(&format!("/proc/{pid}/stat"))
                            .unwrap_or(f64::NAN),
                    });
                    let due = start + period * k;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                for tail in &mut tails {
                    snap_logs(tail, &clock, &mut logs);
                }
                (samples, logs)
            })
            .expect("spawn monitor")
    };
    Monitor {
        stop,
        abort,
        handle,
    }
}

// ---------------------------------------------------------------------------------------------
// Probes: one OS thread per probe, one keep-alive connection, a fixed schedule.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Timeout,
    Error,
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    t: f64,
    ms: f64,
    outcome: Outcome,
}

fn probe_once(
    conn: &mut Option<TcpStream>,
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
) -> Outcome {
    let remaining = |d: Instant| d.saturating_duration_since(Instant::now());
    if conn.is_none() {
        match TcpStream::connect_timeout(&addr, remaining(deadline).max(Duration::from_millis(1))) {
            Ok(s) => {
                s.set_nodelay(true).ok();
                *conn = Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Outcome::Timeout,
            Err(_) => return Outcome::Error,
        }
    }
    let s = conn.as_mut().expect("connected");
    if s.write_all(request).is_err() {
        *conn = None;
        return Outcome::Error;
    }
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        match workload::parse_http(&buf) {
            Ok(Some(a)) => {
                return if a.ok { Outcome::Ok } else { Outcome::Error };
            }
            Ok(None) => {}
            Err(_) => {
                *conn = None;
                return Outcome::Error;
            }
        }
        let left = remaining(deadline);
        if left.is_zero() {
            *conn = None;
            return Outcome::Timeout;
        }
        s.set_read_timeout(Some(left)).ok();
        match s.read(&mut chunk) {
            Ok(0) => {
                *conn = None;
                return Outcome::Error;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                *conn = None;
                return Outcome::Timeout;
            }
            Err(_) => {
                *conn = None;
                return Outcome::Error;
            }
        }
    }
}

fn start_probe(
    name: &str,
    addr: SocketAddr,
    request: Vec<u8>,
    interval: Duration,
    timeout: Duration,
    clock: Arc<Clock0>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Probe>> {
    std::thread::Builder::new()
        .name(format!("probe-{name}"))
        .spawn(move || {
            let mut out = Vec::new();
            let mut conn = None;
            let start = Instant::now();
            let mut k: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = start + interval * k;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let t0 = Instant::now();
                let outcome = probe_once(&mut conn, addr, &request, t0 + timeout);
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                out.push(Probe {
                    t: clock.at(t0),
                    ms,
                    outcome,
                });
                // Like a health checker: a slot missed while waiting is skipped, not made up.
                let elapsed = start.elapsed().as_secs_f64();
                k = ((elapsed / interval.as_secs_f64()).floor() as u32 + 1).max(k + 1);
            }
            out
        })
        .expect("spawn probe")
}

// ---------------------------------------------------------------------------------------------
// One server.

struct Report {
    kind: Kind,
    json: Json,
}

/// The lifetime features of a row (windowed ones move with the clock across a restart).
fn stable_row(row: &Json) -> Json {
    json!({
        "steps": row["steps"],
        "last_action": row["last_action"],
        "risky_streak": row["risky_streak"],
    })
}

fn read_rows(http: SocketAddr) -> Result<Vec<Json>, String> {
    (0..CHECK_KEYS)
        .map(|k| {
            let body = format!(r#"{{"table":"{}","key":"session-{k}"}}"#, workload::TABLE);
            let (status, text) = server::http_request(http, "POST", "/get", body.as_bytes())?;
            if status != 200 {
                return Err(format!("get session-{k}: {status} {text}"));
            }
            let row: Json = serde_json::from_str(&text).map_err(|e| format!("get: {e}"))?;
            Ok(stable_row(&row))
        })
        .collect()
}

fn run_one(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    cfg: &RunCfg,
    bins: &Bins<'_>,
    root: &Path,
    kind: Kind,
) -> Result<Report, String> {
    let dir = root.join(format!(
        "weir-incident-{}-{}",
        std::process::id(),
        kind.label().replace([' ', '.'], "-")
    ));
    let env = vec![(
        "BEAVA_SNAPSHOT_INTERVAL_MS".to_string(),
        args.snapshot_interval_ms.to_string(),
    )];
    let launch = |fresh: bool, tag: &str| Launch {
        kind,
        bins,
        dir: dir.clone(),
        fresh,
        env: env.clone(),
        log_tag: tag.to_string(),
        keep_dir: true,
    };
    let clock = Arc::new(Clock0::now());
    let mut server = Server::launch(&launch(true, ""))?;
    let cleanup = Cleanup {
        dir: dir.clone(),
        keep: args.keep,
    };
    server.register(workload::Workload::Readme)?;
    let shared = Shared::new();
    let monitor = start_monitor(
        &server,
        kind,
        clock.clone(),
        shared.clone(),
        args.sample_ms,
        args.pss_ms,
        args.min_available_mb * 1_000_000,
    );
    let monitor_abort = monitor.abort.clone();

    // 1. Load.
    let load_events = args.entities * args.events_per_entity;
    let load_t0 = clock.t();
    let loaded = rt.block_on(load(&server, args.entities, load_events, args.seed));
    if let Some(e) = monitor_abort.lock().expect("lock").clone() {
        return Err(e);
    }
    loaded?;
    let load_t1 = clock.t();
    eprintln!(
        "incident: {} loaded {} events in {:.1} s ({:.0}/s), RSS {:.0} MB",
        kind.label(),
        load_events,
        load_t1 - load_t0,
        load_events as f64 / (load_t1 - load_t0),
        server.rss_bytes() as f64 / 1e6
    );

    // 2. Measured phase.
    let stop_probes = Arc::new(AtomicBool::new(false));
    let interval = Duration::from_millis(args.probe_interval_ms);
    let timeout = Duration::from_millis(args.probe_timeout_ms);
    let ping = start_probe(
        "ping",
        server.http,
        b"POST /ping HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            .to_vec(),
        interval,
        timeout,
        clock.clone(),
        stop_probes.clone(),
    );
    let admin = server.admin.ok_or("no admin address")?;
    let health = start_probe(
        "health",
        admin,
        b"GET /health HTTP/1.1\r\nHost: probe\r\n\r\n".to_vec(),
        interval,
        timeout,
        clock.clone(),
        stop_probes.clone(),
    );
    let cdf = match cfg.dist {
        Dist::Zipf(s) => Some(workload::zipf_cdf(args.entities, s)),
        _ => None,
    };
    let cpu0 = server.cpu_seconds();
    let measure_t0 = clock.t();
    shared.phase.store(MEASURE, Ordering::SeqCst);
    let push_result: Result<(Vec<u64>, u64, Option<String>), String> = rt.block_on(async {
        let mut pushers = Vec::new();
        for c in 0..cfg.conns {
            let conn = PushConn {
                addr: match cfg.transport {
                    Transport::Http => server.http,
                    Transport::Tcp => server.tcp,
                },
                transport: cfg.transport,
                depth: cfg.depth,
                keys: KeyGen::new(
                    args.entities,
                    cfg.dist.clone(),
                    cdf.clone(),
                    c as u64,
                    cfg.conns as u64,
                    args.seed ^ 0x5EED,
                ),
                rate: (args.rate > 0.0).then(|| args.rate / cfg.conns as f64),
                limit: None,
                always_measure: false,
            };
            pushers.push(tokio::spawn(drive::push_conn(conn, shared.clone())));
        }
        let mut last_report = clock.t();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = clock.t();
            let elapsed = now - measure_t0;
            let ends = snapshot_ends(&server, &clock, measure_t0);
            let done = ends.len();
            // The phase ends `tail` seconds after the min_snapshots-th snapshot ended.
            let enough = args.min_snapshots == 0
                || ends
                    .get(args.min_snapshots - 1)
                    .is_some_and(|&end| now - end >= args.tail);
            if now - last_report >= 15.0 {
                last_report = now;
                eprintln!(
                    "incident: {} {:.0} s measured, {} snapshot(s) done, {} acked",
                    kind.label(),
                    elapsed,
                    done,
                    shared.acked.load(Ordering::Relaxed)
                );
            }
            if let Some(e) = monitor_abort.lock().expect("lock").clone() {
                shared.phase.store(STOP, Ordering::SeqCst);
                return Err(e);
            }
            if (elapsed >= args.duration && enough)
                || elapsed >= args.max_duration
                || pushers.iter().any(|p| p.is_finished())
            {
                break;
            }
        }
        shared.phase.store(STOP, Ordering::SeqCst);
        let mut lat = Vec::new();
        let mut errors = 0;
        for p in pushers {
            let s = p.await.map_err(|e| e.to_string())??;
            lat.extend_from_slice(&s.lat_ns);
            errors += s.errors;
        }
        let first = shared.first_error.lock().expect("lock").clone();
        Ok((lat, errors, first))
    });
    let measure_t1 = clock.t();
    let cpu1 = server.cpu_seconds();
    // Let one more sample see the final counter, then stop probing and sampling.
    std::thread::sleep(Duration::from_millis(args.sample_ms * 2));
    stop_probes.store(true, Ordering::Relaxed);
    monitor.stop.store(true, Ordering::Relaxed);
    let ping = ping.join().map_err(|_| "ping probe panicked")?;
    let health = health.join().map_err(|_| "health probe panicked")?;
    let (samples, logs) = monitor.handle.join().map_err(|_| "monitor panicked")?;
    let (push_lat, push_errors, first_error) = push_result?;

    let data = server.data_dir();
    let wal_end = dir_bytes(&data.join("wal"));
    let wal_files = dir_files(&data.join("wal"));
    let snap_files = dir_files(&data.join("snapshots"));
    let snap_dir_end = dir_bytes(&data.join("snapshots"));

    let analysis = analyse(
        &samples,
        &logs,
        &ping,
        &health,
        measure_t0,
        measure_t1,
        load_t1 - load_t0,
    );

    // 3. Restarts.
    let mut restarts = Vec::new();
    for (i, how) in cfg.restarts.iter().enumerate() {
        std::thread::sleep(Duration::from_secs(1)); // beava flushes its WAL on a 20 ms tick
        let before = read_rows(server.http)?;
        let rss_before = server.rss_bytes();
        let (sig, label) = match how.as_str() {
            "kill" => ("KILL", "SIGKILL"),
            _ => ("TERM", "SIGTERM"),
        };
        let t_sig = Instant::now();
        server.signal(sig)?;
        let exit = server.wait_exit(Duration::from_secs(300));
        let stop_s = t_sig.elapsed().as_secs_f64();
        if exit.is_none() {
            return Err(format!("{label}: still running after 300 s"));
        }
        drop(server);
        let wal_at_restart = dir_bytes(&data.join("wal"));
        let snaps_at_restart = dir_files(&data.join("snapshots"));
        server = Server::launch(&launch(false, &format!("restart{}-", i + 1)))?;
        let t0 = server.spawned_at;
        let bound_s = server.bound_after.as_secs_f64();
        let admin = server.admin.ok_or("no admin address")?;
        // Each readiness signal is polled on its own thread: a request that hangs (a server
        // that accepts connections before it has recovered) must not delay the others.
        let deadline = t0 + Duration::from_secs(300);
        let http = server.http;
        let poll = |f: &(dyn Fn() -> bool + Sync)| -> Option<f64> {
            while Instant::now() < deadline {
                if f() {
                    return Some(t0.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        };
        let after_rows = Mutex::new(None);
        let (ping_s, health_s, ready_s, rows_s) = std::thread::scope(|sc| {
            let ping = sc.spawn(|| {
                poll(&|| {
                    matches!(
                        server::http_request(http, "POST", "/ping", b"{}"),
                        Ok((200, _))
                    )
                })
            });
            let health =
                sc.spawn(|| poll(&|| matches!(http_get_short(admin, "/health"), Ok((200, _)))));
            let ready =
                sc.spawn(|| poll(&|| matches!(http_get_short(admin, "/ready"), Ok((200, _)))));
            let rows = sc.spawn(|| {
                poll(&|| match read_rows(http) {
                    Ok(r) => {
                        *after_rows.lock().expect("lock") = Some(r);
                        true
                    }
                    Err(_) => false,
                })
            });
            (
                ping.join().ok().flatten(),
                health.join().ok().flatten(),
                ready.join().ok().flatten(),
                rows.join().ok().flatten(),
            )
        });
        let after = after_rows.into_inner().expect("lock");
        let rows_match = after.as_ref() == Some(&before);
        if !rows_match {
            eprintln!(
                "incident: {} after {label}: rows differ\n  before {}\n  after  {}",
                kind.label(),
                Json::from(before.clone()),
                after.map_or(Json::Null, Json::from)
            );
        }
        let recovery_log: Vec<Json> = [&server.out_path, &server.err_path]
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| serde_json::from_str::<Json>(&l).ok())
            .filter(|v| {
                v["kind"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("recovery.") || k == "wal.recovered")
            })
            .collect();
        let r = json!({
            "how": label,
            "recovery_log": recovery_log,
            "stop_s": stop_s,
            "wal_bytes": wal_at_restart,
            "snapshots": snaps_at_restart.iter().map(|(n, b)| json!([n, b])).collect::<Vec<_>>(),
            "bound_s": bound_s,
            "ping_s": ping_s,
            "health_s": health_s,
            "ready_s": ready_s,
            "rows_s": rows_s,
            "rows_match": rows_match,
            "rss_before": rss_before,
            "rss_after": server.rss_bytes(),
            "hwm_after": status_kb(server.pid, "VmHWM:"),
        });
        eprintln!("incident: {} restart after {label}: {r}", kind.label());
        restarts.push(r);
    }
    drop(server);
    drop(cleanup);

    if let Some(path) = &args.timeseries {
        for s in &samples {
            append_line(
                path,
                &json!({"server": kind.label(), "sample": {
                    "t": s.t, "acked": s.acked, "rss": s.rss, "hwm": s.hwm, "tree_rss": s.tree_rss,
                    "children": s.children, "tree_pss": s.tree_pss, "snap_seen": s.snap_seen,
                    "wal_bytes": s.wal_bytes, "snap_bytes": s.snap_bytes, "cpu_s": s.cpu_s}}),
            );
        }
        for (name, probes) in [("ping", &ping), ("health", &health)] {
            for p in probes.iter() {
                append_line(
                    path,
                    &json!({"server": kind.label(), "probe": name, "t": p.t, "ms": p.ms,
                            "outcome": format!("{:?}", p.outcome)}),
                );
            }
        }
    }

    let measured = measure_t1 - measure_t0;
    let json = json!({
        "server": kind.label(),
        "entities": args.entities,
        "events_per_entity": args.events_per_entity,
        "snapshot_interval_ms": args.snapshot_interval_ms,
        "rate": args.rate,
        "transport": args.transport,
        "dist": args.dist,
        "probe_interval_ms": args.probe_interval_ms,
        "probe_timeout_ms": args.probe_timeout_ms,
        "load_s": load_t1 - load_t0,
        "load_events_per_s": load_events as f64 / (load_t1 - load_t0),
        "measured_s": measured,
        "acked": shared.acked.load(Ordering::Relaxed),
        "push_errors": push_errors,
        "push_first_error": first_error,
        "push_ack_ms": pcts(&push_lat.iter().map(|&n| n as f64 / 1e6).collect::<Vec<_>>()),
        "server_cores": (cpu1 - cpu0) / measured,
        "wal_bytes_end": wal_end,
        "snapshot_dir_bytes_end": snap_dir_end,
        "wal_files_end": wal_files.iter().map(|(n, b)| json!([n, b])).collect::<Vec<_>>(),
        "snapshot_files_end": snap_files.iter().map(|(n, b)| json!([n, b])).collect::<Vec<_>>(),
        "analysis": analysis,
        "restarts": restarts,
        "time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    });
    Ok(Report { kind, json })
}

/// Removes the run directory at the end (unless --keep).
struct Cleanup {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// End times (seconds on `clock`, ascending) of the snapshots that started at or after `since`,
/// from the server's log lines.
fn snapshot_ends(server: &Server, clock: &Clock0, since: f64) -> Vec<f64> {
    let mut logs = Vec::new();
    for path in [&server.out_path, &server.err_path] {
        snap_logs(&mut LogTail::new(path.clone()), clock, &mut logs);
    }
    let mut ends: Vec<f64> = logs
        .iter()
        .filter(|l| l.end - l.duration_s >= since)
        .map(|l| l.end)
        .collect();
    ends.sort_by(f64::total_cmp);
    ends
}

/// Every key gets `events / entities` events, round-robin over 8 TCP msgpack connections × 256.
async fn load(server: &Server, entities: u64, events: u64, seed: u64) -> Result<(), String> {
    drive::load_keys_seq(server.tcp, entities, events, seed, "load").await
}

// ---------------------------------------------------------------------------------------------
// Analysis.

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn pcts(v: &[f64]) -> Json {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    json!({
        "n": s.len(),
        "p50": pct(&s, 0.5),
        "p99": pct(&s, 0.99),
        "p999": pct(&s, 0.999),
        "max": s.last().copied().unwrap_or(f64::NAN),
    })
}

/// Snapshot windows: each `snapshot.written` line gives `[end - duration, end]`; windows seen
/// from outside (weir's gauge, beava's fork child) are merged with the ones they overlap.
fn windows(samples: &[Sample], logs: &[SnapLog], sample_s: f64) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = logs.iter().map(|l| (l.end - l.duration_s, l.end)).collect();
    let mut open: Option<f64> = None;
    for (i, s) in samples.iter().enumerate() {
        match (s.snap_seen, open) {
            (true, None) => open = Some(s.t - sample_s.min(s.t)),
            (false, Some(a)) => {
                spans.push((a, s.t));
                open = None;
            }
            _ => {}
        }
        if i + 1 == samples.len() {
            if let Some(a) = open {
                spans.push((a, s.t));
            }
        }
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

fn inside(w: &[(f64, f64)], t: f64) -> bool {
    w.iter().any(|&(a, b)| t >= a && t <= b)
}

fn probe_stats(probes: &[Probe], w: &[(f64, f64)], t0: f64, t1: f64) -> Json {
    let in_phase: Vec<&Probe> = probes.iter().filter(|p| p.t >= t0 && p.t <= t1).collect();
    let all: Vec<f64> = in_phase.iter().map(|p| p.ms).collect();
    let during: Vec<f64> = in_phase
        .iter()
        .filter(|p| inside(w, p.t) || inside(w, p.t + p.ms / 1e3))
        .map(|p| p.ms)
        .collect();
    json!({
        "all": pcts(&all),
        "during_snapshots": pcts(&during),
        "timeouts": in_phase.iter().filter(|p| p.outcome == Outcome::Timeout).count(),
        "errors": in_phase.iter().filter(|p| p.outcome == Outcome::Error).count(),
    })
}

#[allow(clippy::too_many_arguments)]
fn analyse(
    samples: &[Sample],
    logs: &[SnapLog],
    ping: &[Probe],
    health: &[Probe],
    t0: f64,
    t1: f64,
    load_s: f64,
) -> Json {
    let sample_s = if samples.len() > 1 {
        (samples[samples.len() - 1].t - samples[0].t) / (samples.len() - 1) as f64
    } else {
        0.1
    };
    let w = windows(samples, logs, sample_s);
    let w_measured: Vec<(f64, f64)> = w
        .iter()
        .copied()
        .filter(|&(a, b)| b >= t0 && a <= t1)
        .collect();
    // Push throughput per sample interval, by where its midpoint falls. The first second of the
    // phase (connections ramping up) is left out.
    let (mut in_n, mut in_t, mut out_n, mut out_t) = (0u64, 0.0, 0u64, 0.0);
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.t < t0 + 1.0 || b.t > t1 {
            continue;
        }
        let n = b.acked.saturating_sub(a.acked);
        let dt = b.t - a.t;
        if inside(&w, (a.t + b.t) / 2.0) {
            in_n += n;
            in_t += dt;
        } else {
            out_n += n;
            out_t += dt;
        }
    }
    let rate_out = out_n as f64 / out_t;
    let rate_in = in_n as f64 / in_t;
    // Memory: tree RSS in the measured phase, outside vs inside snapshot windows.
    let phase: Vec<&Sample> = samples.iter().filter(|s| s.t >= t0 && s.t <= t1).collect();
    let max_by = |f: &dyn Fn(&Sample) -> Option<u64>, during: bool| -> u64 {
        phase
            .iter()
            .filter(|s| inside(&w, s.t) == during)
            .filter_map(|s| f(s))
            .max()
            .unwrap_or(0)
    };
    let steady_rss = max_by(&|s| Some(s.tree_rss), false);
    let peak_rss = max_by(&|s| Some(s.tree_rss), true);
    let steady_pss = max_by(&|s| s.tree_pss, false);
    let peak_pss = max_by(&|s| s.tree_pss, true);
    let rss_start = phase.first().map_or(0, |s| s.tree_rss);
    // Per snapshot: the last sample before its window vs the peak from its start to 1 s after
    // its end (tree RSS, and PSS where sampled).
    let per_snapshot: Vec<Json> = w_measured
        .iter()
        .filter_map(|&(a, b)| {
            let before = samples.iter().rev().find(|s| s.t < a)?;
            let pss_before = samples
                .iter()
                .rev()
                .filter(|s| s.t < a)
                .find_map(|s| s.tree_pss)
                .unwrap_or(0);
            let during = samples.iter().filter(|s| s.t >= a && s.t <= b + 1.0);
            let (mut peak, mut peak_pss) = (0, 0);
            for s in during {
                peak = peak.max(s.tree_rss);
                peak_pss = peak_pss.max(s.tree_pss.unwrap_or(0));
            }
            Some(json!({
                "start_s": a - t0, "end_s": b - t0,
                "rss_before": before.tree_rss, "rss_peak": peak,
                "rss_ratio": peak as f64 / before.tree_rss as f64,
                "pss_before": pss_before, "pss_peak": peak_pss,
                "pss_ratio": peak_pss as f64 / pss_before as f64,
            }))
        })
        .collect();
    let max_ratio = |key: &str| {
        per_snapshot
            .iter()
            .filter_map(|x| x[key].as_f64())
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::max)
    };
    let measured_logs: Vec<&SnapLog> = logs
        .iter()
        .filter(|l| l.end - l.duration_s >= t0 && l.end <= t1 + 1.0)
        .collect();
    let load_logs = logs.iter().filter(|l| l.end < t0).count();
    json!({
        "snapshot_windows": w_measured.iter().map(|&(a, b)| json!([a - t0, b - t0])).collect::<Vec<_>>(),
        "snapshots": measured_logs.iter().map(|l| json!({
            "start_s": l.end - l.duration_s - t0, "duration_s": l.duration_s,
            "bytes": l.bytes, "fsync_ms": l.fsync_ms})).collect::<Vec<_>>(),
        "snapshots_during_load": load_logs,
        "load_s": load_s,
        "ping": probe_stats(ping, &w, t0, t1),
        "health": probe_stats(health, &w, t0, t1),
        "pushes_per_s_outside": rate_out,
        "pushes_per_s_during": rate_in,
        "push_ratio": rate_in / rate_out,
        "seconds_outside": out_t,
        "seconds_during": in_t,
        "rss_measure_start": rss_start,
        "memory_per_snapshot": per_snapshot,
        "rss_ratio_max_per_snapshot": max_ratio("rss_ratio"),
        "pss_ratio_max_per_snapshot": max_ratio("pss_ratio"),
        "rss_steady_max": steady_rss,
        "rss_peak_during": peak_rss,
        "rss_ratio": peak_rss as f64 / steady_rss as f64,
        "pss_steady_max": steady_pss,
        "pss_peak_during": peak_pss,
        "pss_ratio": peak_pss as f64 / steady_pss as f64,
        "hwm_end": phase.last().map_or(0, |s| s.hwm),
        "max_children": phase.iter().map(|s| s.children).max().unwrap_or(0),
        "wal_bytes_max": phase.iter().map(|s| s.wal_bytes).max().unwrap_or(0),
        "snapshot_dir_bytes_max": phase.iter().map(|s| s.snap_bytes).max().unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------------
// Output.

fn append_line(path: &Path, v: &Json) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    writeln!(f, "{v}").expect("write json line");
}

fn mb(b: u64) -> String {
    format!("{:.0}", b as f64 / 1e6)
}

fn f(v: &Json, digits: usize) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "—".into(),
    }
}

fn tables(reports: &[Report], args: &Args) -> String {
    let mut o = String::new();
    let push = if args.rate > 0.0 {
        format!("{}/s", args.rate)
    } else {
        "max rate".into()
    };
    o += &format!(
        "\n### Incident replay: {} entities × {} events, snapshot interval {} ms, pushes {} over {}\n\n",
        args.entities, args.events_per_entity, args.snapshot_interval_ms, push, args.transport
    );
    o += "| server | probe | n | p50 ms | p99 ms | max ms | timeouts | errors | p99 / max during snapshots ms |\n|---|---|---|---|---|---|---|---|---|\n";
    for r in reports {
        let a = &r.json["analysis"];
        for (name, key) in [("`POST /ping`", "ping"), ("admin `GET /health`", "health")] {
            let p = &a[key];
            o += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} (n={}) |\n",
                r.kind.label(),
                name,
                p["all"]["n"],
                f(&p["all"]["p50"], 2),
                f(&p["all"]["p99"], 2),
                f(&p["all"]["max"], 1),
                p["timeouts"],
                p["errors"],
                f(&p["during_snapshots"]["p99"], 2),
                f(&p["during_snapshots"]["max"], 1),
                p["during_snapshots"]["n"],
            );
        }
    }
    o += "\n| server | measured s | pushes/s outside | pushes/s during snapshots | during/outside | push ack p50 / p99 / max ms | server cores |\n|---|---|---|---|---|---|---|\n";
    for r in reports {
        let j = &r.json;
        let a = &j["analysis"];
        o += &format!(
            "| {} | {} | {} | {} | {} | {} / {} / {} | {} |\n",
            r.kind.label(),
            f(&j["measured_s"], 0),
            f(&a["pushes_per_s_outside"], 0),
            f(&a["pushes_per_s_during"], 0),
            f(&a["push_ratio"], 3),
            f(&j["push_ack_ms"]["p50"], 1),
            f(&j["push_ack_ms"]["p99"], 1),
            f(&j["push_ack_ms"]["max"], 0),
            f(&j["server_cores"], 2),
        );
    }
    o += "\n| server | RSS at start MB | RSS before → peak during each snapshot MB (process tree) | max peak/before | PSS before → peak MB | max PSS peak/before | steady max RSS outside snapshots MB | VmHWM at end MB |\n|---|---|---|---|---|---|---|---|\n";
    for r in reports {
        let a = &r.json["analysis"];
        let per = a["memory_per_snapshot"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pairs = |b: &str, p: &str| {
            per.iter()
                .map(|x| {
                    format!(
                        "{}→{}",
                        mb(x[b].as_u64().unwrap_or(0)),
                        mb(x[p].as_u64().unwrap_or(0))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        o += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.kind.label(),
            mb(a["rss_measure_start"].as_u64().unwrap_or(0)),
            pairs("rss_before", "rss_peak"),
            f(&a["rss_ratio_max_per_snapshot"], 2),
            pairs("pss_before", "pss_peak"),
            f(&a["pss_ratio_max_per_snapshot"], 2),
            mb(a["rss_steady_max"].as_u64().unwrap_or(0)),
            mb(a["hwm_end"].as_u64().unwrap_or(0)),
        );
    }
    o += "\n| server | snapshots measured (+ during load) | durations s | sizes MB | WAL on disk at end MB (max seen) | snapshot dir at end MB (max seen) | load s (events/s) |\n|---|---|---|---|---|---|---|\n";
    for r in reports {
        let j = &r.json;
        let a = &j["analysis"];
        let snaps = a["snapshots"].as_array().cloned().unwrap_or_default();
        o += &format!(
            "| {} | {} (+{}) | {} | {} | {} ({}) | {} ({}) | {} ({}) |\n",
            r.kind.label(),
            snaps.len(),
            a["snapshots_during_load"],
            snaps
                .iter()
                .map(|s| f(&s["duration_s"], 2))
                .collect::<Vec<_>>()
                .join(", "),
            snaps
                .iter()
                .map(|s| mb(s["bytes"].as_u64().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", "),
            mb(j["wal_bytes_end"].as_u64().unwrap_or(0)),
            mb(a["wal_bytes_max"].as_u64().unwrap_or(0)),
            mb(j["snapshot_dir_bytes_end"].as_u64().unwrap_or(0)),
            mb(a["snapshot_dir_bytes_max"].as_u64().unwrap_or(0)),
            f(&j["load_s"], 1),
            f(&j["load_events_per_s"], 0),
        );
    }
    o += "\n| server | restart | stop s | WAL at restart MB | bound s | first `/ping` 200 s | admin `/health` 200 s | admin `/ready` 200 s | rows back s | rows match | RSS after MB (HWM) |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in reports {
        for x in r.json["restarts"].as_array().cloned().unwrap_or_default() {
            o += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) |\n",
                r.kind.label(),
                x["how"].as_str().unwrap_or(""),
                f(&x["stop_s"], 2),
                mb(x["wal_bytes"].as_u64().unwrap_or(0)),
                f(&x["bound_s"], 2),
                f(&x["ping_s"], 2),
                f(&x["health_s"], 2),
                f(&x["ready_s"], 2),
                f(&x["rows_s"], 2),
                x["rows_match"],
                mb(x["rss_after"].as_u64().unwrap_or(0)),
                mb(x["hwm_after"].as_u64().unwrap_or(0)),
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_log_timestamps() {
        let t = parse_utc("1970-01-02T00:00:01.5Z").unwrap();
        assert!((t - 86_401.5).abs() < 1e-9);
        let t = parse_utc("2026-11-21T12:15:12.924715Z").unwrap();
        // 2026-11-21 is day 20 778 since the epoch.
        assert!((t - (20_778.0 * 86_400.0 + 12.0 * 3600.0 + 15.0 * 60.0 + 12.924715)).abs() < 1e-6);
    }

    #[test]
    fn windows_merge_log_and_observed_spans() {
        let samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                t: i as f64,
                snap_seen: (3..=5).contains(&i),
                ..Sample::default()
            })
            .collect();
        let logs = vec![SnapLog {
            end: 5.5,
            duration_s: 1.0,
            bytes: 1,
            fsync_ms: 0.0,
        }];
        let w = windows(&samples, &logs, 1.0);
        assert_eq!(w, vec![(2.0, 6.0)]);
        assert!(inside(&w, 4.0) && !inside(&w, 7.0));
    }
}
