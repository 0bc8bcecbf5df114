//! The `weir` binary: CLI, config, environment, logging, wiring of store and server, signals.
//!
//! Startup output (the contract beava's SDK relies on): a banner and a few plain lines on
//! stdout, then JSON-per-line logs, including `server.http_bound`, `server.tcp_bound` and
//! `server.admin_bound` with the real bound addresses. SIGTERM/SIGINT shut down gracefully.
//!
//! Startup order (decision 0007): the admin sidecar binds first (`server.admin_bound`), so that
//! `/health` answers 200 and `/ready` answers 503 with the recovery phase and progress while the
//! snapshot loads and the WAL replays (also logged every 2 s as `recovery.progress`); then the
//! store recovers; only then do the data-plane listeners bind and `server.http_bound` /
//! `server.tcp_bound` follow. beava's embed mode waits for those two lines, so they still mean
//! "the data plane is bound and serves the recovered state".

mod cli;
mod config;
mod logging;
mod signal;
mod wal_tool;

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc: the writer allocates and the I/O threads free (and the other way round) on every
/// push; glibc malloc spent ~19% of the process there (docs/BENCHMARKS.md, profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LOG_TARGET: &str = "weir.server";

/// Exit code when the WAL is damaged beyond a torn tail (distinct from generic failures).
const EXIT_UNREPAIRABLE: u8 = 3;

/// Turns transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`), whatever
/// the system setting and whatever the allocator advises: the first write to a huge page zeroes
/// 2 MiB inside a page fault (5–7 ms measured on a VM), and when that write is the writer's,
/// under the engine's lock, every read and every push waits for it (decision 0030).
fn disable_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::thread::disable_transparent_huge_pages(true).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let file = match &cli.config {
        Some(path) => match config::load_file(path) {
            Ok(file) => file,
            Err(e) => return fail(&e),
        },
        None => config::FileConfig::default(),
    };
    let settings = match config::resolve(config::Sources {
        cli: &cli,
        file,
        env: &config::process_env,
    }) {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };

    if let Some(cli::Command::Wal { action }) = &cli.command {
        return wal_tool::run(action, &settings.wal_dir);
    }
    // Before the heap grows: from here on no page fault hands this process a huge page.
    let huge_pages_disabled = !settings.transparent_huge_pages && disable_transparent_huge_pages();

    println!(
        "weir v{} (beava 0.0.6 wire-compatible)",
        env!("CARGO_PKG_VERSION")
    );
    println!("config source : {}", settings.source);
    println!("HTTP listen   : {}", settings.http_addr);
    println!("Admin listen  : {}", settings.admin_addr);
    println!("TCP listen    : {}", settings.tcp_addr);
    if settings.memory_only {
        println!("Data dir      : none (--memory-only)");
    } else {
        println!("WAL dir       : {}", settings.wal_dir.display());
        println!("Snapshot dir  : {}", settings.snapshot_dir.display());
    }
    println!("Log level     : {}", settings.log_level);
    logging::init(&settings.log_level);
    if !settings.transparent_huge_pages && !huge_pages_disabled {
        tracing::warn!(target: LOG_TARGET, kind = "server.huge_pages_not_disabled", "could not disable transparent huge pages for the process: the writer may stall for milliseconds when the heap grows into a new huge page");
    }
    tracing::info!(target: LOG_TARGET, version = env!("CARGO_PKG_VERSION"), source = %settings.source, "weir starting");

    let wal = if settings.memory_only {
        tracing::info!(target: LOG_TARGET, kind = "server.memory_only", "memory-only mode: no WAL, no snapshots, no recovery");
        None
    } else {
        Some(store::WalConfig {
            disk: Arc::new(persist::FileDisk),
            dir: settings.wal_dir.clone(),
            options: persist::WalOptions {
                segment_bytes_target: settings.wal_segment_bytes,
                preallocate: if settings.wal_preallocate {
                    persist::Preallocate::Background
                } else {
                    persist::Preallocate::Off
                },
                ..persist::WalOptions::default()
            },
            ack: settings.ack_mode,
        })
    };
    let server_config = server::ServerConfig {
        http_addr: settings.http_addr,
        tcp_addr: settings.tcp_addr,
        admin_addr: settings.admin_addr,
        tcp_frame_bytes_max: settings.tcp_frame_bytes_max,
        test_mode: settings.test_mode,
        io_threads: settings.io_threads,
        ..server::ServerConfig::default()
    };
    let opening = store::Store::prepare(
        store::StoreConfig {
            engine: engine::EngineConfig {
                memory_governance: settings.memory_governance,
            },
            snapshots: wal.as_ref().map(|_| store::SnapshotConfig {
                interval: std::time::Duration::from_millis(settings.snapshot_interval_ms),
                wal_bytes: settings.snapshot_wal_bytes,
                ..store::SnapshotConfig::new(settings.snapshot_dir.clone())
            }),
            wal,
            ..store::StoreConfig::default()
        },
        Arc::new(store::SystemClock),
    );
    // The admin plane first: liveness and recovery progress while the state loads.
    let admin = match server::AdminServer::start(&server_config, opening.handle()) {
        Ok(admin) => admin,
        Err(e) => {
            tracing::error!(target: LOG_TARGET, kind = "server.bind_failed", error = %e, "could not start the admin listener");
            return fail(&e.to_string());
        }
    };
    tracing::info!(target: LOG_TARGET, kind = "server.admin_bound", addr = %admin.addr(), "admin listener bound");
    let progress_logger = ProgressLogger::start(Arc::clone(opening.handle().status()));
    let opened = opening.open();
    progress_logger.stop();
    let store = match opened {
        Ok((store, recovery)) => {
            if let Some(recovery) = recovery {
                log_recovery(&settings, &recovery);
            }
            store
        }
        Err(store::OpenError::Unrepairable(error)) => {
            tracing::error!(
                target: LOG_TARGET,
                kind = "wal.unrepairable",
                wal_dir = %settings.wal_dir.display(),
                error = %error,
                "refusing to start: the WAL is damaged beyond a torn tail; nothing was modified. \
                 Inspect with `weir wal verify` / `weir wal dump`; `weir wal salvage` cuts the damaged suffix"
            );
            eprintln!("weir: {error}");
            return ExitCode::from(EXIT_UNREPAIRABLE);
        }
        Err(store::OpenError::SnapshotsUnusable(error)) => {
            tracing::error!(
                target: LOG_TARGET,
                kind = "snapshot.unusable",
                snapshot_dir = %settings.snapshot_dir.display(),
                wal_dir = %settings.wal_dir.display(),
                error = %error,
                "refusing to start: no snapshot verifies and the WAL no longer reaches back far enough; nothing was modified"
            );
            eprintln!("weir: {error}");
            return ExitCode::from(EXIT_UNREPAIRABLE);
        }
        Err(error) => {
            tracing::error!(target: LOG_TARGET, kind = "wal.open_failed", error = %error, "cannot open the WAL");
            return fail(&error.to_string());
        }
    };
    // Before the data plane is announced, so a SIGTERM sent right after the bound lines is a
    // graceful shutdown, not the default action.
    let termination = match signal::Termination::listen() {
        Ok(termination) => termination,
        Err(e) => {
            tracing::error!(target: LOG_TARGET, kind = "server.signal_failed", error = %e, "cannot install signal handlers");
            store.shutdown();
            return fail(&e.to_string());
        }
    };
    let server = match server::RunningServer::start_with_admin(server_config, store.handle(), admin)
    {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(target: LOG_TARGET, kind = "server.bind_failed", error = %e, "could not start listeners");
            store.shutdown();
            return fail(&e.to_string());
        }
    };
    tracing::info!(target: LOG_TARGET, kind = "server.http_bound", addr = %server.http_addr(), "HTTP server bound");
    tracing::info!(target: LOG_TARGET, kind = "server.tcp_bound", addr = %server.tcp_addr(), "TCP wire listener bound");
    if settings.test_mode {
        tracing::warn!(
            target: LOG_TARGET,
            kind = "server.test_mode_enabled",
            "test_mode ENABLED: reset requests are accepted. Disable for production."
        );
    }

    let signal = termination.wait();
    tracing::info!(target: LOG_TARGET, kind = "server.shutdown_started", signal, "shutting down");
    server.shutdown();
    store.shutdown();
    tracing::info!(target: LOG_TARGET, kind = "server.stopped", "stopped");
    ExitCode::SUCCESS
}

fn log_recovery(settings: &config::Settings, recovery: &store::Recovery) {
    if let Some(torn) = &recovery.wal.torn_tail {
        tracing::warn!(
            target: LOG_TARGET,
            kind = "wal.torn_tail_repaired",
            segment = %torn.path.display(),
            offset = torn.offset,
            lsn = torn.lsn.0,
            bytes = torn.bytes,
            quarantine = %recovery.wal.quarantine_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "cut an incomplete trailing WAL record (a crash mid-write); its bytes were quarantined"
        );
    }
    let snap = &recovery.snapshot;
    for (path, reason) in &snap.damaged {
        tracing::warn!(
            target: LOG_TARGET,
            kind = "snapshot.skipped_damaged",
            file = %path.display(),
            reason = %reason,
            "a damaged snapshot was skipped (set aside as *.snap.damaged); recovered from an older one plus a longer WAL replay"
        );
    }
    tracing::info!(
        target: LOG_TARGET,
        kind = "wal.recovered",
        snapshot = %snap.loaded.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
        snapshot_lsn = snap.lsn,
        snapshot_entities = snap.entities,
        snapshot_load_ms = snap.load_duration.as_millis() as u64,
        wal_dir = %settings.wal_dir.display(),
        segments = recovery.wal.n_segments,
        records_replayed = recovery.records_applied,
        records_quarantined = recovery.records_quarantined,
        records_previously_quarantined = recovery.records_previously_quarantined,
        next_lsn = recovery.wal.next_lsn.0,
        duration_ms = recovery.duration.as_millis() as u64,
        "recovered state from the WAL"
    );
}

/// Logs `recovery.progress` every 2 s while the store recovers (the first line only after 2 s,
/// so a quick start logs nothing extra).
struct ProgressLogger {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLogger {
    fn start(status: Arc<store::StoreStatus>) -> ProgressLogger {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("weir-recovery-progress".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(std::time::Duration::from_secs(2))
                {
                    let p = status.recovery_progress();
                    if p.phase == store::RecoveryPhase::Done {
                        return;
                    }
                    let percent = |done: u64, total: u64| {
                        if total == 0 {
                            0.0
                        } else {
                            (done as f64 * 100.0 / total as f64).min(100.0)
                        }
                    };
                    tracing::info!(
                        target: LOG_TARGET,
                        kind = "recovery.progress",
                        phase = p.phase.as_str(),
                        elapsed_ms = p.elapsed_ms,
                        snapshot_bytes_loaded = p.snapshot_bytes_loaded,
                        snapshot_bytes_total = p.snapshot_bytes_total,
                        snapshot_percent = percent(p.snapshot_bytes_loaded, p.snapshot_bytes_total) as u64,
                        wal_records_replayed = p.wal_records_replayed,
                        wal_bytes_replayed = p.wal_bytes_replayed,
                        wal_bytes_total = p.wal_bytes_total,
                        wal_percent = percent(p.wal_bytes_replayed, p.wal_bytes_total) as u64,
                        "recovering"
                    );
                }
            })
            .ok();
        ProgressLogger { stop, thread }
    }

    fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("weir: {message}");
    ExitCode::FAILURE
}
