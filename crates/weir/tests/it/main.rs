//! The built `weir` binary as beava's Python SDK runs it in embed mode: `--config /dev/null`
//! with `BEAVA_*` ports set to 0, bound addresses read from stdout JSON lines within 5 s, and a
//! SIGTERM teardown that must finish within a few seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_weir");

/// Defaults, no data directory, every listener on a free port.
const MEMORY_ONLY_ON_FREE_PORTS: &[&str] = &[
    "--config",
    "/dev/null",
    "--http-addr",
    "127.0.0.1:0",
    "--tcp-addr",
    "127.0.0.1:0",
    "--admin-addr",
    "127.0.0.1:0",
    "--memory-only",
];

struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Spawned {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    for key in [
        "BEAVA_LISTEN_ADDR",
        "BEAVA_TCP_PORT",
        "BEAVA_ADMIN_ADDR",
        "BEAVA_TEST_MODE",
        "RUST_LOG",
    ] {
        cmd.env_remove(key);
        cmd.env_remove(key.replace("BEAVA_", "WEIR_"));
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn weir");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Spawned { child, lines }
}

impl Spawned {
    /// Waits for the JSON log line of `kind`; returns its `addr`.
    fn bound(&self, kind: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if record["kind"] == kind {
                return record["addr"]
                    .as_str()
                    .expect("addr is a string")
                    .to_string();
            }
        }
        panic!("no {kind} line within {within:?}");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "weir did not exit within 5 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping_tcp(addr: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&[0, 0, 0, 3, 0, 0, 1]).unwrap();
    let mut header = [0u8; 7];
    stream.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len - 3];
    stream.read_exact(&mut payload).unwrap();
    assert_eq!(&header[4..6], &[0, 0], "PING answers with op 0x0000");
    payload
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn embed_mode_contract() {
    let dir = std::env::temp_dir().join(format!("weir-it-{}", std::process::id()));
    let (wal, snapshots) = (dir.join("wal"), dir.join("snapshots"));
    let mut server = spawn(
        &["--config", "/dev/null"],
        &[
            ("BEAVA_LISTEN_ADDR", "127.0.0.1:0"),
            ("BEAVA_TCP_PORT", "0"),
            ("BEAVA_ADMIN_ADDR", "127.0.0.1:0"),
            ("BEAVA_DEV_ENDPOINTS", "1"),
            ("BEAVA_WAL_DIR", wal.to_str().unwrap()),
            ("BEAVA_SNAPSHOT_DIR", snapshots.to_str().unwrap()),
            ("BEAVA_TEST_MODE", "1"),
        ],
    );
    let started = Instant::now();
    // The admin plane binds first (before recovery, decision 0007), then the data plane: the
    // two lines embed mode waits for come last, once the recovered state is served.
    let admin = server.bound("server.admin_bound", Duration::from_secs(5));
    let http = server.bound("server.http_bound", Duration::from_secs(5));
    let tcp = server.bound("server.tcp_bound", Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(5));
    for addr in [&http, &tcp, &admin] {
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "real port: {addr}"
        );
    }
    assert_eq!(
        ping_tcp(&tcp),
        br#"{"registry_version":0,"server_version":"0.0.6"}"#
    );
    assert!(http_get(&http, "/health").ends_with(r#"{"status":"ok"}"#));
    assert!(http_get(&admin, "/ready").ends_with(r#"{"status":"ready"}"#));
    let status = server.terminate();
    assert!(status.success(), "clean exit: {status:?}");
    let segments = std::fs::read_dir(&wal)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
                .count()
        })
        .unwrap_or(0);
    assert!(
        segments >= 1,
        "the WAL lives where embed mode points BEAVA_WAL_DIR"
    );
}

#[test]
fn cli_flags_override_the_environment() {
    let mut server = spawn(
        MEMORY_ONLY_ON_FREE_PORTS,
        &[("BEAVA_LISTEN_ADDR", "256.0.0.1:1")],
    );
    let http = server.bound("server.http_bound", Duration::from_secs(5));
    let reply = {
        let mut stream = TcpStream::connect(&http).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"POST /reset HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    };
    assert!(reply.starts_with("HTTP/1.1 403"), "no test mode: {reply}");
    assert!(server.terminate().success());
}

#[test]
fn version_help_and_bad_config() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("weir "));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    for flag in [
        "--config",
        "--http-addr",
        "--tcp-addr",
        "--admin-addr",
        "--data-dir",
        "--memory-only",
        "--test-mode",
    ] {
        assert!(help.contains(flag), "{flag} in --help");
    }
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/weir.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let yaml = std::env::temp_dir().join(format!("weir-bad-{}.yaml", std::process::id()));
    std::fs::write(&yaml, "listen_addr: 127.0.0.1:0\nbogus_key: 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", yaml.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&yaml);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_key"));
}

/// `THP_enabled` from `/proc/<pid>/status` (None where the kernel does not report it).
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim() == "1")
}

#[cfg(target_os = "linux")]
#[test]
fn transparent_huge_pages_are_off_unless_asked_for() {
    let Some(ours) = thp_enabled(std::process::id()) else {
        eprintln!("skipped: this kernel does not report THP_enabled");
        return;
    };
    let mut server = spawn(MEMORY_ONLY_ON_FREE_PORTS, &[]);
    server.bound("server.http_bound", Duration::from_secs(5));
    assert_eq!(thp_enabled(server.child.id()), Some(false));
    assert!(server.terminate().success());

    let mut server = spawn(
        MEMORY_ONLY_ON_FREE_PORTS,
        &[("WEIR_TRANSPARENT_HUGE_PAGES", "1")],
    );
    server.bound("server.http_bound", Duration::from_secs(5));
    assert_eq!(
        thp_enabled(server.child.id()),
        Some(ours),
        "left as the parent had it"
    );
    assert!(server.terminate().success());
}

/// The SDK stops an embedded server with SIGTERM as soon as it is done with it, which can be
/// right after the bound lines it waited for: that must be a graceful exit, never the signal's
/// default action.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_right_after_the_bound_lines_is_a_graceful_exit() {
    use std::os::unix::process::ExitStatusExt;
    for _ in 0..20 {
        let mut server = spawn(MEMORY_ONLY_ON_FREE_PORTS, &[]);
        server.bound("server.tcp_bound", Duration::from_secs(5));
        let pid = rustix::process::Pid::from_raw(server.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        let status = server.child.wait().expect("wait");
        assert!(
            status.success(),
            "{status:?} (signal {:?})",
            status.signal()
        );
    }
}
