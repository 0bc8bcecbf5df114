//! Configuration: the YAML file (beava's schema, `deny_unknown_fields`), the `BEAVA_*`
//! environment (each also readable as `WEIR_*`, which wins), and the CLI, resolved with the
//! precedence CLI > environment > YAML > defaults.

use crate::cli::Cli;
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Largest accepted `tcp.max_frame_bytes` (the frame length field is a u32; past this a
/// single connection could hold too much memory).
const TCP_FRAME_BYTES_CEILING: usize = 256 * 1024 * 1024;

/// The YAML file. Every key optional; unknown keys are an error (as in beava).
#[derive(Deserialize, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub listen_addr: Option<String>,
    pub log_level: Option<String>,
    pub admin_addr: Option<String>,
    pub tcp: TcpSection,
    pub durability: DurabilitySection,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TcpSection {
    /// Parsed and ignored: the TCP listener is always bound (as in beava 0.0.6).
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub max_frame_bytes: Option<usize>,
}

/// beava's durability keys. Only the directories are used today; the rest is validated and kept
/// for the WAL.
#[derive(Deserialize, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DurabilitySection {
    pub wal_dir: Option<PathBuf>,
    pub wal_fsync_interval_ms: Option<u64>,
    pub wal_fsync_bytes: Option<u64>,
    pub wal_segment_bytes: Option<u64>,
    /// weir: zero-fill WAL segments ahead of use (default true; decision 0009).
    pub wal_preallocate: Option<bool>,
    pub dedupe_sweep_interval_secs: Option<u64>,
    pub snapshot_dir: Option<PathBuf>,
    pub snapshot_interval_ms: Option<u64>,
    /// weir: WAL bytes logged since the last snapshot that make the next one due.
    pub snapshot_wal_bytes: Option<u64>,
    pub snapshot_retain_count: Option<u32>,
    pub wal_sync_mode: Option<String>,
}

/// Reads and parses the YAML file; an empty (or comment-only) file means defaults.
pub fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading config {}: {e}", path.display()))?;
    parse_file(&text).map_err(|e| format!("config {}: {e}", path.display()))
}

pub fn parse_file(text: &str) -> Result<FileConfig, String> {
    let config: Option<FileConfig> = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let config = config.unwrap_or_default();
    if let Some(mode) = &config.durability.wal_sync_mode {
        if mode != "periodic" && mode != "per-event" {
            return Err(format!(
                "durability.wal_sync_mode must be \"periodic\" or \"per-event\", got {mode:?}"
            ));
        }
    }
    Ok(config)
}

/// Where values come from; `Env` is a function so tests can supply their own.
pub struct Sources<'a> {
    pub cli: &'a Cli,
    pub file: FileConfig,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The resolved settings the binary runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub http_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub tcp_frame_bytes_max: usize,
    pub log_level: String,
    pub wal_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    pub memory_only: bool,
    pub ack_mode: store::AckMode,
    pub wal_segment_bytes: u64,
    /// Preallocate WAL segments (zero-filled by a background thread; decision 0009).
    pub wal_preallocate: bool,
    /// Time between snapshots (ms).
    pub snapshot_interval_ms: u64,
    /// WAL bytes since the last snapshot that make the next one due.
    pub snapshot_wal_bytes: u64,
    pub test_mode: bool,
    pub memory_governance: bool,
    /// Threads of the data plane's runtime (`BEAVA_IO_THREADS`; default [`default_io_threads`]).
    pub io_threads: usize,
    /// Let the kernel back the heap with transparent huge pages (`WEIR_TRANSPARENT_HUGE_PAGES`;
    /// default off: the first write to a huge page zeroes 2 MiB at once, decision 0030).
    pub transparent_huge_pages: bool,
    /// Human summary for the banner ("defaults", "--config x + env [..] + CLI [..]").
    pub source: String,
}

/// The process environment, `WEIR_<NAME>` before `BEAVA_<NAME>`; empty values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    [format!("WEIR_{name}"), format!("BEAVA_{name}")]
        .into_iter()
        .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{what}: {text:?} is not a socket address: {e}"))?
        .next()
        .ok_or_else(|| format!("{what}: {text:?} resolves to no address"))
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn falsy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "0" | "false" | "no" | "off"
    )
}

/// Bounds of the snapshot interval: 100 ms (tests) to 24 h.
const SNAPSHOT_INTERVAL_MS_MIN: u64 = 100;
const SNAPSHOT_INTERVAL_MS_MAX: u64 = 24 * 3600 * 1000;

/// Longest relaxed-mode loss window weir allows (durability.md §1.3).
const RELAXED_SYNC_INTERVAL_MS_MAX: u64 = 20;

pub fn resolve(sources: Sources<'_>) -> Result<Settings, String> {
    let Sources { cli, file, env } = sources;
    let mut from_env: Vec<&str> = Vec::new();
    let mut from_cli: Vec<&str> = Vec::new();
    let mut env_var = |name: &'static str| {
        let value = env(name);
        if value.is_some() {
            from_env.push(name);
        }
        value
    };

    let http_addr = match (cli.http_addr, env_var("LISTEN_ADDR"), &file.listen_addr) {
        (Some(addr), _, _) => {
            from_cli.push("--http-addr");
            addr
        }
        (None, Some(text), _) => parse_addr("BEAVA_LISTEN_ADDR", &text)?,
        (None, None, Some(text)) => parse_addr("listen_addr", text)?,
        (None, None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };

    let tcp_addr = match cli.tcp_addr {
        Some(addr) => {
            from_cli.push("--tcp-addr");
            addr
        }
        None => {
            let host = env_var("TCP_HOST")
                .or_else(|| file.tcp.host.clone())
                .unwrap_or_else(|| "127.0.0.1".into());
            let port = match env_var("TCP_PORT") {
                Some(text) => text
                    .trim()
                    .parse::<u16>()
                    .map_err(|e| format!("BEAVA_TCP_PORT: {text:?}: {e}"))?,
                None => file.tcp.port.unwrap_or(8081),
            };
            parse_addr("tcp host/port", &format!("{host}:{port}"))?
        }
    };
    if let Some(text) = env_var("TCP_ENABLED") {
        if !truthy(&text) && !falsy(&text) {
            return Err(format!("BEAVA_TCP_ENABLED: {text:?} is not a boolean"));
        }
    }

    let admin_addr = match (cli.admin_addr, env_var("ADMIN_ADDR"), &file.admin_addr) {
        (Some(addr), _, _) => {
            from_cli.push("--admin-addr");
            addr
        }
        (None, Some(text), _) => parse_addr("BEAVA_ADMIN_ADDR", &text)?,
        (None, None, Some(text)) => parse_addr("admin_addr", text)?,
        (None, None, None) => SocketAddr::from(([127, 0, 0, 1], 8090)),
    };

    let tcp_frame_bytes_max = match env_var("TCP_MAX_FRAME_BYTES") {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("BEAVA_TCP_MAX_FRAME_BYTES: {text:?}: {e}"))?,
        None => file
            .tcp
            .max_frame_bytes
            .unwrap_or(model::limits::TCP_FRAME_BYTES_DEFAULT),
    };
    if tcp_frame_bytes_max == 0 || tcp_frame_bytes_max > TCP_FRAME_BYTES_CEILING {
        return Err(format!(
            "tcp max_frame_bytes must be in 1..={TCP_FRAME_BYTES_CEILING}, got {tcp_frame_bytes_max}"
        ));
    }

    let log_level = env_var("LOG_LEVEL")
        .or_else(|| file.log_level.clone())
        .unwrap_or_else(|| "info".into())
        .to_ascii_lowercase();
    if !["trace", "debug", "info", "warn", "error"].contains(&log_level.as_str()) {
        return Err(format!(
            "log level must be one of trace|debug|info|warn|error, got {log_level:?}"
        ));
    }

    let (wal_dir, snapshot_dir) = match &cli.data_dir {
        Some(dir) => {
            from_cli.push("--data-dir");
            (dir.join("wal"), dir.join("snapshots"))
        }
        None => {
            let default = Path::new("./weir-data");
            let wal = env_var("WAL_DIR")
                .map(PathBuf::from)
                .or_else(|| file.durability.wal_dir.clone())
                .unwrap_or_else(|| default.join("wal"));
            let snapshots = env_var("SNAPSHOT_DIR")
                .map(PathBuf::from)
                .or_else(|| file.durability.snapshot_dir.clone())
                .unwrap_or_else(|| default.join("snapshots"));
            (wal, snapshots)
        }
    };
    if cli.memory_only {
        from_cli.push("--memory-only");
    }
    let ack_mode_text = match &cli.ack_mode {
        Some(mode) => {
            from_cli.push("--ack-mode");
            Some(mode.clone())
        }
        None => env_var("ACK_MODE"),
    };
    let ack_mode = match ack_mode_text.as_deref().map(str::trim) {
        None | Some("durable") => store::AckMode::Durable,
        Some("relaxed") => {
            let interval_ms = match env_var("WAL_FSYNC_INTERVAL_MS") {
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .map_err(|e| format!("BEAVA_WAL_FSYNC_INTERVAL_MS: {text:?}: {e}"))?,
                None => file.durability.wal_fsync_interval_ms.unwrap_or(10),
            };
            if !(1..=RELAXED_SYNC_INTERVAL_MS_MAX).contains(&interval_ms) {
                return Err(format!(
                    "wal fsync interval must be in 1..={RELAXED_SYNC_INTERVAL_MS_MAX} ms, got {interval_ms}"
                ));
            }
            store::AckMode::Relaxed {
                sync_interval_ms: interval_ms,
            }
        }
        Some(other) => {
            return Err(format!(
                "ack mode must be \"durable\" or \"relaxed\", got {other:?}"
            ))
        }
    };
    let wal_segment_bytes = match env_var("WAL_SEGMENT_BYTES") {
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("BEAVA_WAL_SEGMENT_BYTES: {text:?}: {e}"))?,
        None => file
            .durability
            .wal_segment_bytes
            .unwrap_or(persist::SEGMENT_BYTES_TARGET_DEFAULT),
    };
    if !(persist::SEGMENT_BYTES_TARGET_MIN..=persist::SEGMENT_BYTES_TARGET_MAX)
        .contains(&wal_segment_bytes)
    {
        return Err(format!(
            "wal segment bytes must be in {}..={}, got {wal_segment_bytes}",
            persist::SEGMENT_BYTES_TARGET_MIN,
            persist::SEGMENT_BYTES_TARGET_MAX
        ));
    }

    let wal_preallocate = match env_var("WAL_PREALLOCATE") {
        Some(text) if truthy(&text) => true,
        Some(text) if falsy(&text) => false,
        Some(text) => return Err(format!("WEIR_WAL_PREALLOCATE: {text:?} is not a boolean")),
        None => file.durability.wal_preallocate.unwrap_or(true),
    };

    let snapshot_interval_ms = match env_var("SNAPSHOT_INTERVAL_MS") {
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("BEAVA_SNAPSHOT_INTERVAL_MS: {text:?}: {e}"))?,
        None => file
            .durability
            .snapshot_interval_ms
            .unwrap_or(store::SNAPSHOT_INTERVAL_DEFAULT.as_millis() as u64),
    };
    if !(SNAPSHOT_INTERVAL_MS_MIN..=SNAPSHOT_INTERVAL_MS_MAX).contains(&snapshot_interval_ms) {
        return Err(format!(
            "snapshot interval must be in {SNAPSHOT_INTERVAL_MS_MIN}..={SNAPSHOT_INTERVAL_MS_MAX} ms, got {snapshot_interval_ms}"
        ));
    }
    let snapshot_wal_bytes = match env_var("SNAPSHOT_WAL_BYTES") {
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("BEAVA_SNAPSHOT_WAL_BYTES: {text:?}: {e}"))?,
        None => file
            .durability
            .snapshot_wal_bytes
            .unwrap_or(store::SNAPSHOT_WAL_BYTES_DEFAULT),
    };
    if snapshot_wal_bytes < persist::SEGMENT_BYTES_TARGET_MIN {
        return Err(format!(
            "snapshot wal bytes must be at least {}, got {snapshot_wal_bytes}",
            persist::SEGMENT_BYTES_TARGET_MIN
        ));
    }
    // `durability.snapshot_retain_count` (beava) is accepted and ignored: weir always keeps the
    // newest 2 snapshots, and deletes WAL only below the older one (decision 0006).

    let test_mode = if cli.test_mode {
        from_cli.push("--test-mode");
        true
    } else {
        env_var("TEST_MODE").is_some_and(|v| truthy(&v))
    };
    let memory_governance = !env_var("MEMORY_GOV_ENFORCE").is_some_and(|v| falsy(&v));
    let io_threads = match env_var("IO_THREADS") {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("BEAVA_IO_THREADS: {text:?}: {e}"))?
            .clamp(1, 64),
        None => default_io_threads(std::thread::available_parallelism().map_or(2, |n| n.get())),
    };
    let transparent_huge_pages = env_var("TRANSPARENT_HUGE_PAGES").is_some_and(|v| truthy(&v));

    let mut source = match &cli.config {
        Some(path) => format!("--config {}", path.display()),
        None => "defaults".to_string(),
    };
    if !from_env.is_empty() {
        source.push_str(&format!(" + env [{}]", from_env.join(", ")));
    }
    if !from_cli.is_empty() {
        source.push_str(&format!(" + CLI [{}]", from_cli.join(", ")));
    }

    Ok(Settings {
        http_addr,
        tcp_addr,
        admin_addr,
        tcp_frame_bytes_max,
        log_level,
        wal_dir,
        snapshot_dir,
        memory_only: cli.memory_only,
        ack_mode,
        wal_segment_bytes,
        wal_preallocate,
        snapshot_interval_ms,
        snapshot_wal_bytes,
        test_mode,
        memory_governance,
        io_threads,
        transparent_huge_pages,
        source,
    })
}

/// I/O threads for a machine of `cores`: one on up to 3 cores (the writer and the apply lanes
/// want the others; a second I/O thread on 2 cores cost 5–17 % more CPU per push at every
/// transport, decision 0027), a quarter of the cores from 8 on, and 2 in between.
pub fn default_io_threads(cores: usize) -> usize {
    if cores <= 3 {
        1
    } else {
        (cores / 4).max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(cli: &Cli, yaml: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| {
            env.get(&format!("WEIR_{name}"))
                .or_else(|| env.get(&format!("BEAVA_{name}")))
                .cloned()
        };
        resolve(Sources {
            cli,
            file: parse_file(yaml)?,
            env: &lookup,
        })
    }

    #[test]
    fn empty_file_means_defaults() {
        for yaml in ["", "\n", "# only a comment\n"] {
            assert_eq!(parse_file(yaml).unwrap(), FileConfig::default());
        }
        let s = resolve_with(&Cli::default(), "", &[]).unwrap();
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.tcp_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(s.admin_addr.to_string(), "127.0.0.1:8090");
        assert_eq!(s.tcp_frame_bytes_max, 4 * 1024 * 1024);
        assert_eq!(s.wal_dir, Path::new("./weir-data/wal"));
        assert!(!s.test_mode);
        assert!(s.memory_governance);
        assert_eq!(s.log_level, "info");
    }

    #[test]
    fn unknown_yaml_keys_are_refused() {
        assert!(parse_file("listen_addr: 127.0.0.1:1\nbogus: 1\n").is_err());
        assert!(parse_file("tcp:\n  bogus: 1\n").is_err());
        assert!(parse_file("durability:\n  wal_sync_mode: sometimes\n").is_err());
    }

    #[test]
    fn embed_mode_environment() {
        // Exactly what the beava SDK's embed mode sets.
        let s = resolve_with(
            &Cli::default(),
            "",
            &[
                ("BEAVA_LISTEN_ADDR", "127.0.0.1:0"),
                ("BEAVA_TCP_PORT", "0"),
                ("BEAVA_ADMIN_ADDR", "127.0.0.1:0"),
                ("BEAVA_DEV_ENDPOINTS", "1"),
                ("BEAVA_WAL_DIR", "/tmp/x/wal"),
                ("BEAVA_SNAPSHOT_DIR", "/tmp/x/snapshots"),
                ("BEAVA_TEST_MODE", "1"),
            ],
        )
        .unwrap();
        assert_eq!(s.http_addr.port(), 0);
        assert_eq!(s.tcp_addr.to_string(), "127.0.0.1:0");
        assert_eq!(s.admin_addr.port(), 0);
        assert_eq!(s.wal_dir, Path::new("/tmp/x/wal"));
        assert_eq!(s.snapshot_dir, Path::new("/tmp/x/snapshots"));
        assert!(s.test_mode);
    }

    #[test]
    fn precedence_cli_env_yaml_default() {
        let yaml = "listen_addr: 127.0.0.1:1001\nadmin_addr: 127.0.0.1:1002\ntcp:\n  port: 1003\n  max_frame_bytes: 1024\nlog_level: warn\n";
        let s = resolve_with(&Cli::default(), yaml, &[]).unwrap();
        assert_eq!(s.http_addr.port(), 1001);
        assert_eq!(s.tcp_addr.port(), 1003);
        assert_eq!(s.tcp_frame_bytes_max, 1024);
        assert_eq!(s.log_level, "warn");

        let env = [
            ("BEAVA_LISTEN_ADDR", "127.0.0.1:2001"),
            ("BEAVA_TCP_PORT", "2003"),
            ("BEAVA_TCP_MAX_FRAME_BYTES", "2048"),
            ("BEAVA_LOG_LEVEL", "debug"),
        ];
        let s = resolve_with(&Cli::default(), yaml, &env).unwrap();
        assert_eq!(s.http_addr.port(), 2001);
        assert_eq!(s.admin_addr.port(), 1002);
        assert_eq!(s.tcp_addr.port(), 2003);
        assert_eq!(s.tcp_frame_bytes_max, 2048);
        assert_eq!(s.log_level, "debug");

        // WEIR_ wins over BEAVA_.
        let s = resolve_with(
            &Cli::default(),
            yaml,
            &[
                ("BEAVA_LISTEN_ADDR", "127.0.0.1:2001"),
                ("WEIR_LISTEN_ADDR", "127.0.0.1:3001"),
            ],
        )
        .unwrap();
        assert_eq!(s.http_addr.port(), 3001);

        let cli = Cli {
            http_addr: Some("127.0.0.1:4001".parse().unwrap()),
            tcp_addr: Some("127.0.0.1:4003".parse().unwrap()),
            data_dir: Some(PathBuf::from("/data")),
            test_mode: true,
            ..Cli::default()
        };
        let s = resolve_with(&cli, yaml, &env).unwrap();
        assert_eq!(s.http_addr.port(), 4001);
        assert_eq!(s.tcp_addr.port(), 4003);
        assert_eq!(s.wal_dir, Path::new("/data/wal"));
        assert_eq!(s.snapshot_dir, Path::new("/data/snapshots"));
        assert!(s.test_mode);
        assert!(s
            .source
            .contains("CLI [--http-addr, --tcp-addr, --data-dir, --test-mode]"));
    }

    #[test]
    fn bad_values_are_refused() {
        let cli = Cli::default();
        assert!(resolve_with(&cli, "", &[("BEAVA_LISTEN_ADDR", "nope")]).is_err());
        assert!(resolve_with(&cli, "", &[("BEAVA_TCP_PORT", "70000")]).is_err());
        assert!(resolve_with(&cli, "", &[("BEAVA_TCP_MAX_FRAME_BYTES", "0")]).is_err());
        assert!(resolve_with(&cli, "", &[("BEAVA_LOG_LEVEL", "loud")]).is_err());
        assert!(resolve_with(&cli, "listen_addr: x\n", &[]).is_err());
    }

    #[test]
    fn switches() {
        let cli = Cli::default();
        let s = resolve_with(&cli, "", &[("BEAVA_MEMORY_GOV_ENFORCE", "0")]).unwrap();
        assert!(!s.memory_governance);
        let s = resolve_with(&cli, "", &[("BEAVA_TEST_MODE", "0")]).unwrap();
        assert!(!s.test_mode);
        let s = resolve_with(&cli, "", &[("BEAVA_IO_THREADS", "3")]).unwrap();
        assert_eq!(s.io_threads, 3);
        assert!(!resolve_with(&cli, "", &[]).unwrap().transparent_huge_pages);
        let s = resolve_with(&cli, "", &[("WEIR_TRANSPARENT_HUGE_PAGES", "1")]).unwrap();
        assert!(s.transparent_huge_pages);
    }

    #[test]
    fn io_threads_by_cores() {
        let by_cores: Vec<usize> = [1, 2, 3, 4, 7, 8, 16, 64]
            .into_iter()
            .map(default_io_threads)
            .collect();
        assert_eq!(by_cores, [1, 1, 1, 2, 2, 2, 4, 16]);
    }

    #[test]
    fn snapshot_cadence() {
        let cli = Cli::default();
        let s = resolve_with(&cli, "", &[]).unwrap();
        assert_eq!(s.snapshot_interval_ms, 300_000);
        assert_eq!(s.snapshot_wal_bytes, 256 * 1024 * 1024);
        let yaml = "durability:\n  snapshot_interval_ms: 60000\n  snapshot_wal_bytes: 1048576\n";
        let s = resolve_with(&cli, yaml, &[]).unwrap();
        assert_eq!(s.snapshot_interval_ms, 60_000);
        assert_eq!(s.snapshot_wal_bytes, 1_048_576);
        let s = resolve_with(&cli, yaml, &[("BEAVA_SNAPSHOT_INTERVAL_MS", "200")]).unwrap();
        assert_eq!(s.snapshot_interval_ms, 200);
        assert!(resolve_with(&cli, "", &[("BEAVA_SNAPSHOT_INTERVAL_MS", "5")]).is_err());
        assert!(resolve_with(&cli, "", &[("BEAVA_SNAPSHOT_WAL_BYTES", "10")]).is_err());
        assert!(resolve_with(&cli, "durability:\n  snapshot_retain_count: 5\n", &[]).is_ok());
        assert!(resolve_with(&cli, "durability:\n  snapshot_retain_count: 2\n", &[]).is_ok());
    }
}
