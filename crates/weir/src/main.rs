//! The `weir` binary: CLI, config, environment, logging, wiring of store and server, signals.
//!
//! Startup output (the contract beava's SDK relies on): a banner and a few plain lines on
//! stdout, then JSON-per-line logs, including `server.http_bound`, `server.tcp_bound` and
//! `server.admin_bound` with the real bound addresses. SIGTERM/SIGINT shut down gracefully.

mod cli;
mod config;
mod logging;
mod signal;

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

const LOG_TARGET: &str = "weir.server";

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
    tracing::info!(target: LOG_TARGET, version = env!("CARGO_PKG_VERSION"), source = %settings.source, "weir starting");

    if settings.memory_only {
        tracing::info!(target: LOG_TARGET, kind = "server.memory_only", "memory-only mode: no WAL, no snapshots, no recovery");
    } else {
        tracing::warn!(
            target: LOG_TARGET,
            kind = "durability.not_implemented",
            wal_dir = %settings.wal_dir.display(),
            snapshot_dir = %settings.snapshot_dir.display(),
            "durability is not implemented yet: state is kept in memory only and is lost on exit"
        );
    }

    let store = store::Store::start(
        store::StoreConfig {
            engine: engine::EngineConfig {
                memory_governance: settings.memory_governance,
            },
            ..store::StoreConfig::default()
        },
        Arc::new(store::SystemClock),
    );
    let server_config = server::ServerConfig {
        http_addr: settings.http_addr,
        tcp_addr: settings.tcp_addr,
        admin_addr: settings.admin_addr,
        tcp_frame_bytes_max: settings.tcp_frame_bytes_max,
        test_mode: settings.test_mode,
        io_threads: settings.io_threads,
        ..server::ServerConfig::default()
    };
    let server = match server::RunningServer::start(server_config, store.handle()) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(target: LOG_TARGET, kind = "server.bind_failed", error = %e, "could not start listeners");
            store.shutdown();
            return fail(&e.to_string());
        }
    };
    tracing::info!(target: LOG_TARGET, kind = "server.http_bound", addr = %server.http_addr(), "HTTP server bound");
    tracing::info!(target: LOG_TARGET, kind = "server.tcp_bound", addr = %server.tcp_addr(), "TCP wire listener bound");
    tracing::info!(target: LOG_TARGET, kind = "server.admin_bound", addr = %server.admin_addr(), "admin listener bound");
    if settings.test_mode {
        tracing::warn!(
            target: LOG_TARGET,
            kind = "server.test_mode_enabled",
            "test_mode ENABLED: reset requests are accepted. Disable for production."
        );
    }

    let signal = match signal::wait_for_termination() {
        Ok(name) => name,
        Err(e) => {
            tracing::error!(target: LOG_TARGET, kind = "server.signal_failed", error = %e, "cannot wait for signals; shutting down");
            "error"
        }
    };
    tracing::info!(target: LOG_TARGET, kind = "server.shutdown_started", signal, "shutting down");
    server.shutdown();
    store.shutdown();
    tracing::info!(target: LOG_TARGET, kind = "server.stopped", "stopped");
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("weir: {message}");
    ExitCode::FAILURE
}
