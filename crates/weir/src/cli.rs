//! Command-line flags (beava-compat §8.1; all global, as beava's). CLI values beat environment,
//! which beats the YAML file, which beats the defaults.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// weir: a real-time feature server, wire-compatible with beava 0.0.6.
///
/// Listens on an HTTP/1.1 data plane, a framed TCP data plane and an admin sidecar
/// (/health, /ready, /metrics, /registry). Every flag has a BEAVA_* environment equivalent
/// (and the same name with a WEIR_ prefix, which wins).
///
/// Durability: every push is written to a write-ahead log under the data directory and is
/// acknowledged only after the batch holding it is fdatasync'ed (group commit: concurrent and
/// pipelined pushes share one fsync). On restart the log is replayed. `--ack-mode relaxed`
/// acknowledges after the write to the OS instead and fsyncs at most 20 ms later: a process
/// crash loses nothing, a power loss may lose the last <= 20 ms of acknowledged pushes.
/// A torn last record (crash mid-write) is cut and quarantined at startup; any other damage
/// makes the server refuse to start ("WAL unrepairable", exit code 3) — see `weir wal --help`.
/// WAL segments (64 MiB) are preallocated: a background thread keeps a zero-filled spare ready so
/// commits never grow the file and each fdatasync skips the inode write
/// (WEIR_WAL_PREALLOCATE=0 or YAML durability.wal_preallocate: false to turn it off; costs up
/// to 2 x 64 MiB of disk).
///
/// Startup: the admin sidecar binds first; during recovery /health is 200 and /ready is 503
/// with the phase and progress (snapshot bytes loaded, WAL records replayed); the data plane
/// binds when the recovered state is served.
///
/// Snapshots: the state is snapshotted to <data dir>/snapshots every
/// BEAVA_SNAPSHOT_INTERVAL_MS (default 300000 = 5 min; YAML durability.snapshot_interval_ms) or
/// after BEAVA_SNAPSHOT_WAL_BYTES of WAL (default 268435456 = 256 MiB;
/// durability.snapshot_wal_bytes), whichever comes first, and once more on SIGTERM/SIGINT.
/// A snapshot never pauses ingest (the writer takes an O(tables) point-in-time view; a
/// background thread encodes and fsyncs it). The cadence trades IO for restart time and disk:
/// nothing acknowledged is ever lost between snapshots (the WAL has it), but a restart replays
/// the WAL written since the newest snapshot, and the WAL is only deleted up to the older of the
/// two retained snapshots (a push of a few small fields takes about 40-50 bytes of WAL, so
/// 256 MiB is ~6 million of them, replayed at about a million per second on 2 cores). Shorter
/// intervals mean faster restarts and less WAL on disk, at the cost of writing the whole state
/// (about 100-200 bytes per entity) each time. A damaged newest snapshot falls back to the
/// previous one plus a longer replay.
///
/// Threads: one writer (all pushes, in log order), its apply lanes for long runs, and
/// BEAVA_IO_THREADS threads parsing and answering requests (default 1 on up to 3 cores, else
/// max(2, cores / 4)).
///
/// Memory: transparent huge pages are turned off for the process (a first write to a huge page
/// zeroes 2 MiB inside one page fault, and the writer would hold every read and push for it);
/// WEIR_TRANSPARENT_HUGE_PAGES=1 leaves them as the system has them.
#[derive(Parser, Debug, Default)]
#[command(name = "weir", version = concat!(env!("CARGO_PKG_VERSION"), " (beava 0.0.6 wire-compatible)"))]
pub struct Cli {
    /// YAML config file (beava's schema). An empty file (e.g. /dev/null) means all defaults.
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// HTTP listener [default: 127.0.0.1:8080; env BEAVA_LISTEN_ADDR; port 0 = any free port].
    #[arg(long, global = true, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,

    /// Framed TCP listener [default: 127.0.0.1:8081; env BEAVA_TCP_HOST / BEAVA_TCP_PORT].
    #[arg(long, global = true, value_name = "ADDR")]
    pub tcp_addr: Option<SocketAddr>,

    /// Admin sidecar listener [default: 127.0.0.1:8090; env BEAVA_ADMIN_ADDR].
    #[arg(long, global = true, value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,

    /// Data directory: the WAL goes to <PATH>/wal, snapshots to <PATH>/snapshots
    /// [default: ./weir-data; env BEAVA_WAL_DIR / BEAVA_SNAPSHOT_DIR set them one by one].
    #[arg(long, global = true, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory: no WAL, no snapshots, no recovery.
    #[arg(long, global = true)]
    pub memory_only: bool,

    /// Enable POST /reset and OP_RESET (also BEAVA_TEST_MODE=1). Never in production.
    #[arg(long, global = true)]
    pub test_mode: bool,

    /// When a push is acknowledged: `durable` (after fdatasync; default) or `relaxed` (after
    /// the write to the OS; fdatasync within BEAVA_WAL_FSYNC_INTERVAL_MS, at most 20 ms)
    /// [env WEIR_ACK_MODE].
    #[arg(long, global = true, value_name = "MODE")]
    pub ack_mode: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Offline WAL tools (run them with the server stopped).
    Wal {
        #[command(subcommand)]
        action: WalAction,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum WalAction {
    /// Check the whole log read-only; exit 3 if the server would refuse to start.
    Verify,
    /// Print one line per record (segment, offset, LSN, length, checksum), read-only.
    Dump,
    /// Move the damaged suffix of the log (from the first bad record on) to
    /// <wal dir>/salvaged/ so the server can start with the valid prefix. Destructive by
    /// design: the records moved are no longer replayed.
    Salvage,
}
