//! Side-by-side load generator: starts weir and/or beava 0.0.6, registers the README
//! `SessionReflexes` table (or, with `--workload wide`, the 53-feature `SessionWide` table),
//! pushes `AgentStep` events over HTTP/1.1 or framed TCP (msgpack) with N connections × D in
//! flight, optionally probes `get` (or `batch_get` of `--batch-size` keys) latency while pushes
//! continue, and reports
//! per server: pushes/s, ack latency, server CPU per million events (/proc), RSS, and for weir the
//! events per fsync. Repeats runs and prints medians plus the weir/beava ratios as markdown.
//!
//! ```text
//! cargo run --release -p bench --bin loadgen -- --server all --transport http:32x1,tcp:8x256 \
//!     --keys 100000 --preload --duration 10 --warmup 2 --repeat 3
//! ```
//!
//! See `--help` and docs/BENCHMARKS.md.

mod drive;
mod report;
// Shared with the incident binary (`src/bin/incident.rs`), which uses more of it.
#[allow(dead_code)]
mod server;
mod workload;

use clap::Parser;
use drive::{PushConn, Shared, Transport, MEASURE, STOP};
use report::{Row, TransportCfg};
use server::{Bins, Kind, Server};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{Dist, KeyGen, Workload};

#[derive(Parser, Debug)]
#[command(
    about = "Side-by-side load generator for weir and beava 0.0.6 (README SessionReflexes table, or the 53-feature SessionWide table)"
)]
struct Args {
    /// Servers, comma-separated: weir (durable acks), weir-relaxed, weir-candidate (the
    /// `--candidate-bin` build, durable acks), beava; `both` = weir,beava;
    /// `all` = weir,weir-relaxed,beava.
    #[arg(long, default_value = "both")]
    server: String,
    /// weir binary (build it with `cargo build --release -p weir`).
    #[arg(long, default_value = "target/release/weir")]
    weir_bin: PathBuf,
    /// A second weir build to compare with `--weir-bin` in the same run (`--server
    /// weir,weir-candidate`): runs interleave, and the summary gives candidate / weir run by run.
    #[arg(long)]
    candidate_bin: Option<PathBuf>,
    /// beava 0.0.6 server binary.
    #[arg(long, default_value = "/work/.venv-oracle/bin/beava")]
    beava_bin: PathBuf,
    /// Push transports, comma-separated: `http[:CONNSxDEPTH]`, `tcp[:CONNSxDEPTH]`
    /// (defaults http:32x1 — keep-alive, no pipelining — and tcp:8x256).
    #[arg(long, default_value = "tcp")]
    transport: String,
    /// Table fed by the pushed `AgentStep` events: readme (`SessionReflexes`, 8 features) or
    /// wide (`SessionWide`, 53 features across the operator families).
    #[arg(long, default_value = "readme")]
    workload: String,
    /// Number of distinct entities (session ids).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Key distribution: uniform, zipf[:s] (default s=0.99), seq (round-robin, loads every key).
    #[arg(long, default_value = "uniform")]
    dist: String,
    /// Push one event for every key (TCP msgpack, 8×256) before the warm-up, so every entity
    /// exists and every `get` hits.
    #[arg(long)]
    preload: bool,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop the measurement after this many acked pushes instead (the duration still caps it:
    /// give a long one, e.g. to load every key before reading RSS per key).
    #[arg(long)]
    events: Option<u64>,
    /// Warm-up seconds (load runs, nothing is recorded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Total pushes per second (fixed rate); 0 = as fast as the connections allow.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Connections probing `get` (one request in flight each) while pushes continue; 0 = none.
    #[arg(long, default_value_t = 0)]
    gets: usize,
    /// Total `get`s per second over the probe connections; 0 = closed loop, as fast as answered.
    #[arg(long, default_value_t = 1000.0)]
    get_rate: f64,
    /// Keys per read probe request: 0 = `get` of one row; N = `batch_get` of N rows (random
    /// keys) per request.
    #[arg(long, default_value_t = 0)]
    batch_size: usize,
    /// Where the read probes run: `own` = a thread and runtime of their own, so a probe's answer
    /// is read as soon as it arrives; `shared` = among the push connections on the client
    /// runtime (before session 10), where it waits for the push tasks woken before it.
    #[arg(long, default_value = "own")]
    probe_runtime: String,
    /// Transport of the `get` probes: http or tcp (msgpack).
    #[arg(long, default_value = "http")]
    get_transport: String,
    /// Repetitions of every (server, transport) configuration; medians are reported.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Client runtime worker threads (the client shares the machine with the server).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Where the per-run data directories go (removed after each run).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Keep the data directories and server logs.
    #[arg(long)]
    keep: bool,
    /// Append every run as a JSON line to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seconds of server CPU sampled while idle (after register, before any push); reported as
    /// "idle cores". 0 = skip.
    #[arg(long, default_value_t = 1.0)]
    idle_probe: f64,
    /// Don't run anything: read rows saved with --json from these files and print the medians
    /// and ratios over all of them (e.g. pooled over several invocations).
    #[arg(long, num_args = 1.., value_name = "JSONL")]
    summarize: Vec<PathBuf>,
    /// Seed of the key generators.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

struct Plan {
    workload: Workload,
    kinds: Vec<Kind>,
    transports: Vec<TransportCfg>,
    dist: Dist,
    get_transport: Transport,
    probes_own_thread: bool,
}

fn parse_transports(s: &str) -> Result<Vec<TransportCfg>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, shape) = part.split_once(':').unwrap_or((part, ""));
        let (transport, default) = match name {
            "http" => (Transport::Http, (32, 1)),
            "tcp" => (Transport::Tcp, (8, 256)),
            _ => return Err(format!("unknown transport {name:?} (http, tcp)")),
        };
        let (conns, depth) = if shape.is_empty() {
            default
        } else {
            let (c, d) = shape.split_once('x').unwrap_or((shape, "1"));
            (
                c.parse()
                    .map_err(|_| format!("bad connection count in {part:?}"))?,
                d.parse().map_err(|_| format!("bad depth in {part:?}"))?,
            )
        };
        if conns == 0 || depth == 0 {
            return Err(format!("{part:?}: connections and depth must be >= 1"));
        }
        out.push(TransportCfg {
            transport,
            conns,
            depth,
        });
    }
    if out.is_empty() {
        return Err("no transport selected".into());
    }
    Ok(out)
}

fn main() {
    let args = Args::parse();
    if !args.summarize.is_empty() {
        summarize(&args.summarize);
        return;
    }
    let _machine = match bench::claim_the_machine() {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let plan = match (|| -> Result<Plan, String> {
        Ok(Plan {
            workload: Workload::parse(&args.workload)?,
            kinds: {
                let kinds = Kind::parse_list(&args.server)?;
                if kinds.contains(&Kind::WeirCandidate) && args.candidate_bin.is_none() {
                    return Err("--server weir-candidate needs --candidate-bin".into());
                }
                kinds
            },
            transports: parse_transports(&args.transport)?,
            dist: Dist::parse(&args.dist)?,
            get_transport: match args.get_transport.as_str() {
                "http" => Transport::Http,
                "tcp" => Transport::Tcp,
                other => return Err(format!("unknown get transport {other:?}")),
            },
            probes_own_thread: match args.probe_runtime.as_str() {
                "own" => true,
                "shared" => false,
                other => return Err(format!("unknown probe runtime {other:?} (own|shared)")),
            },
        })
    })() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = server::client_runtime(args.client_threads);
    let root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let bins = Bins {
        weir: &args.weir_bin,
        beava: &args.beava_bin,
        candidate: args.candidate_bin.as_deref(),
    };
    let cdf = match plan.dist {
        Dist::Zipf(s) => Some(workload::zipf_cdf(args.keys, s)),
        _ => None,
    };

    eprintln!(
        "loadgen: {} × {} × {} repetition(s), table {}, {} keys ({}), warm-up {} s, measure {} s{}",
        plan.kinds
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(", "),
        plan.transports
            .iter()
            .map(|t| t.label())
            .collect::<Vec<_>>()
            .join(", "),
        args.repeat,
        plan.workload.table(),
        args.keys,
        plan.dist.label(),
        args.warmup,
        args.duration,
        if args.gets > 0 {
            format!(
                ", {} {} probe(s) over {} at {}/s",
                args.gets,
                if args.batch_size > 0 {
                    format!("batch_get×{}", args.batch_size)
                } else {
                    "get".into()
                },
                plan.get_transport.label(),
                args.get_rate
            )
        } else {
            String::new()
        }
    );
    eprintln!("{}", report::header());

    let mut rows: Vec<Row> = Vec::new();
    let mut failed = false;
    for rep in 0..args.repeat {
        for cfg in &plan.transports {
            for &kind in &plan.kinds {
                let tag = format!("{}-{rep}", kind.label().replace([' ', '.'], "-"));
                match run_one(&rt, &args, &plan, &bins, &root, &tag, kind, *cfg, &cdf, rep) {
                    Ok(row) => {
                        eprintln!("{}", row.markdown());
                        eprintln!("  {} {}", row.kind.label(), row.threads_line());
                        if let Some(path) = &args.json {
                            report::append_json(path, &row, &args_summary(&args));
                        }
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("loadgen: {} over {}: {e}", kind.label(), cfg.label());
                        failed = true;
                    }
                }
            }
        }
    }
    println!(
        "{}",
        report::summary(&rows, &plan.kinds, &plan.transports, args.repeat)
    );
    if failed {
        std::process::exit(1);
    }
}

fn args_summary(args: &Args) -> String {
    format!(
        "workload={} keys={} dist={} preload={} duration={} warmup={} rate={} gets={} batch_size={} get_rate={} get_transport={} probe_runtime={} client_threads={}",
        args.workload,
        args.keys,
        args.dist,
        args.preload,
        args.duration,
        args.warmup,
        args.rate,
        args.gets,
        args.batch_size,
        args.get_rate,
        args.get_transport,
        args.probe_runtime,
        args.client_threads
    )
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    plan: &Plan,
    bins: &Bins<'_>,
    root: &std::path::Path,
    tag: &str,
    kind: Kind,
    cfg: TransportCfg,
    cdf: &Option<Arc<Vec<f64>>>,
    rep: usize,
) -> Result<Row, String> {
    let server = Server::start(kind, bins, root, tag, args.keep)?;
    server.register(plan.workload)?;
    let rss_base = server.rss_bytes();
    let idle_cores = if args.idle_probe > 0.0 {
        let c0 = server.cpu_seconds();
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(args.idle_probe));
        (server.cpu_seconds() - c0) / t.elapsed().as_secs_f64()
    } else {
        f64::NAN
    };

    rt.block_on(async {
        if args.preload {
            preload(&server, args.keys, args.seed).await?;
        }
        let shared = Shared::new();
        let mut pushers = Vec::new();
        for c in 0..cfg.conns {
            let keys = KeyGen::new(
                args.keys,
                plan.dist.clone(),
                cdf.clone(),
                c as u64,
                cfg.conns as u64,
                args.seed.wrapping_add(rep as u64 * 1000),
            );
            let conn = PushConn {
                addr: match cfg.transport {
                    Transport::Http => server.http,
                    Transport::Tcp => server.tcp,
                },
                transport: cfg.transport,
                depth: cfg.depth,
                keys,
                rate: (args.rate > 0.0).then(|| args.rate / cfg.conns as f64),
                limit: None,
                always_measure: false,
            };
            pushers.push(tokio::spawn(drive::push_conn(conn, shared.clone())));
        }
        let mut probes = Vec::new();
        for g in 0..args.gets {
            let keys = KeyGen::new(
                args.keys,
                Dist::Uniform,
                None,
                10_000 + g as u64,
                args.gets as u64,
                args.seed ^ 0xABCD,
            );
            let addr = match plan.get_transport {
                Transport::Http => server.http,
                Transport::Tcp => server.tcp,
            };
            let rate = (args.get_rate > 0.0).then(|| args.get_rate / args.gets as f64);
            probes.push(drive::get_conn(
                addr,
                plan.get_transport,
                drive::ReadProbe {
                    table: plan.workload.table(),
                    batch: args.batch_size,
                },
                keys,
                rate,
                shared.clone(),
            ));
        }
        let getters = drive::Probes::start(probes, plan.probes_own_thread);

        tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
        let cpu0 = server.cpu_seconds();
        let threads0 = server.thread_cpu_seconds();
        let cs0 = server.context_switches();
        let me0 = server::proc_cpu_seconds("/proc/self/stat").unwrap_or(f64::NAN);
        let m0 = server.metrics();
        let t0 = Instant::now();
        shared.phase.store(MEASURE, Ordering::SeqCst);
        let deadline = t0 + Duration::from_secs_f64(args.duration);
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if Instant::now() >= deadline
                || args
                    .events
                    .is_some_and(|n| shared.acked.load(Ordering::Relaxed) >= n)
            {
                break;
            }
            if pushers.iter().any(|p| p.is_finished()) {
                break;
            }
        }
        shared.phase.store(STOP, Ordering::SeqCst);
        let secs = t0.elapsed().as_secs_f64();
        if let Some(n) = args.events {
            let acked = shared.acked.load(Ordering::SeqCst);
            if acked < n {
                eprintln!(
                    "loadgen: {} stopped at {acked} of {n} events (--duration {} s): \
                     figures per key cover only the keys pushed so far",
                    kind.label(),
                    args.duration
                );
            }
        }
        let cpu1 = server.cpu_seconds();
        let threads1 = server.thread_cpu_seconds();
        let cs1 = server.context_switches();
        let me1 = server::proc_cpu_seconds("/proc/self/stat").unwrap_or(f64::NAN);
        let m1 = server.metrics();
        let acked = shared.acked.load(Ordering::SeqCst);
        let rss_end = server.rss_bytes();
        let peak_rss = server.peak_rss_bytes();

        let mut push_lat = Vec::with_capacity(acked as usize);
        let mut errors = 0;
        for p in pushers {
            let s = p.await.map_err(|e| e.to_string())??;
            push_lat.extend_from_slice(&s.lat_ns);
            errors += s.errors;
        }
        let mut get_lat = Vec::new();
        let mut get_misses = 0;
        for s in getters.finish().await? {
            get_lat.extend_from_slice(&s.lat_ns);
            get_misses += s.misses;
        }
        let first_error = shared.first_error.lock().expect("lock").clone();
        Ok(Row::new(report::RowInput {
            kind,
            cfg,
            rep,
            keys: args.keys,
            dist: plan.dist.label(),
            secs,
            acked,
            errors,
            first_error,
            push_lat,
            get_lat,
            get_misses,
            server_cpu: cpu1 - cpu0,
            thread_cpu: report::thread_deltas(&threads0, &threads1),
            client_cpu: me1 - me0,
            machine_cores: std::thread::available_parallelism()
                .map_or(f64::NAN, |n| n.get() as f64),
            idle_cores,
            context_switches: cs1.saturating_sub(cs0),
            rss_base,
            rss_end,
            peak_rss,
            wal: match (m0, m1) {
                (Some(a), Some(b)) => {
                    Some((b.wal_records - a.wal_records, b.wal_fsyncs - a.wal_fsyncs))
                }
                _ => None,
            },
        }))
    })
}

/// One event for every key over 8 TCP msgpack connections × 256 in flight.
async fn preload(server: &Server, keys: u64, seed: u64) -> Result<(), String> {
    drive::load_keys_seq(server.tcp, keys, keys, seed, "preload").await
}

fn summarize(paths: &[PathBuf]) {
    let mut rows = Vec::new();
    for path in paths {
        match report::load_json(path) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("loadgen: {e}");
                std::process::exit(2);
            }
        }
    }
    let mut kinds: Vec<Kind> = Vec::new();
    let mut cfgs: Vec<TransportCfg> = Vec::new();
    for r in &rows {
        if !kinds.contains(&r.kind) {
            kinds.push(r.kind);
        }
        if !cfgs.contains(&r.cfg) {
            cfgs.push(r.cfg);
        }
    }
    kinds.sort_by_key(|k| k.rank());
    let runs = rows
        .iter()
        .filter(|r| r.kind == kinds[0] && r.cfg == cfgs[0])
        .count();
    println!("{}", report::summary(&rows, &kinds, &cfgs, runs));
}
