//! Starting and stopping the server under test, and what is read from the outside: /proc CPU and
//! RSS, weir's admin `/metrics`, and the README table registration.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server, in which mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// weir with durable acks (the default: ack after fdatasync).
    Weir,
    /// weir `--ack-mode relaxed`.
    WeirRelaxed,
    /// A second weir build (`--candidate-bin`), durable acks: A/B of two builds in one run.
    WeirCandidate,
    /// beava 0.0.6 (acks before its WAL is fsynced).
    Beava,
}

impl Kind {
    pub fn parse_list(s: &str) -> Result<Vec<Kind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: &[Kind] = match part {
                "weir" | "weir-durable" => &[Kind::Weir],
                "weir-relaxed" | "relaxed" => &[Kind::WeirRelaxed],
                "weir-candidate" | "candidate" => &[Kind::WeirCandidate],
                "beava" => &[Kind::Beava],
                "both" => &[Kind::Weir, Kind::Beava],
                "all" => &[Kind::Weir, Kind::WeirRelaxed, Kind::Beava],
                _ => {
                    return Err(format!(
                        "unknown server {part:?} (weir, weir-relaxed, weir-candidate, beava, both, all)"
                    ))
                }
            };
            for k in add {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
        }
        if out.is_empty() {
            return Err("no server selected".into());
        }
        Ok(out)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Weir => "weir durable",
            Kind::WeirRelaxed => "weir relaxed",
            Kind::WeirCandidate => "weir candidate",
            Kind::Beava => "beava 0.0.6",
        }
    }

    /// Order in tables: weir first, beava last.
    pub fn rank(self) -> u8 {
        match self {
            Kind::Weir => 0,
            Kind::WeirCandidate => 1,
            Kind::WeirRelaxed => 2,
            Kind::Beava => 3,
        }
    }

    pub fn is_weir(self) -> bool {
        matches!(self, Kind::Weir | Kind::WeirRelaxed | Kind::WeirCandidate)
    }
}

/// A running server process with a fresh data directory; killed and cleaned up on drop.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub http: SocketAddr,
    pub tcp: SocketAddr,
    /// weir: parsed from `server.admin_bound`; beava: the port chosen for `BEAVA_ADMIN_ADDR`.
    pub admin: Option<SocketAddr>,
    dir: PathBuf,
    /// Leave the directory on drop (set it to keep the data for a restart).
    pub keep_dir: bool,
    pub out_path: PathBuf,
    pub err_path: PathBuf,
    /// When the process was spawned, and how long until it printed its bound addresses.
    pub spawned_at: Instant,
    pub bound_after: Duration,
}

/// How to start a server: see [`Server::launch`].
pub struct Launch<'a> {
    pub kind: Kind,
    pub bins: &'a Bins<'a>,
    pub dir: PathBuf,
    pub fresh: bool,
    /// Extra environment (after the inherited BEAVA_* / WEIR_* variables are removed).
    pub env: Vec<(String, String)>,
    /// Prefix of the log file names (distinguishes restarts on one directory).
    pub log_tag: String,
    pub keep_dir: bool,
}

/// The client's runtime: `threads` workers (the client shares the machine with the server).
pub fn client_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub struct Bins<'a> {
    pub weir: &'a Path,
    pub beava: &'a Path,
    /// The second weir build of an A/B (`Kind::WeirCandidate`).
    pub candidate: Option<&'a Path>,
}

impl Server {
    pub fn start(
        kind: Kind,
        bins: &Bins<'_>,
        root: &Path,
        tag: &str,
        keep_dir: bool,
    ) -> Result<Server, String> {
        let dir = root.join(format!("weir-loadgen-{}-{tag}", std::process::id()));
        Server::launch(&Launch {
            kind,
            bins,
            dir,
            fresh: true,
            env: Vec::new(),
            log_tag: String::new(),
            keep_dir,
        })
    }

    /// Starts a server on `launch.dir` (data in `<dir>/data`, logs in `<dir>/{tag}stdout.log` and
    /// `<dir>/{tag}stderr.log`) and waits until it has printed its bound addresses. With
    /// `fresh` the directory is wiped first; without, the server recovers what is there.
    /// beava prints no admin address: it gets a free port chosen here.
    pub fn launch(launch: &Launch<'_>) -> Result<Server, String> {
        let kind = launch.kind;
        let dir = launch.dir.clone();
        if launch.fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let data = dir.join("data");
        let out_path = dir.join(format!("{}stdout.log", launch.log_tag));
        let err_path = dir.join(format!("{}stderr.log", launch.log_tag));
        let stdout = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let stderr = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;

        let mut cmd = match kind {
            Kind::Weir | Kind::WeirRelaxed => Command::new(launch.bins.weir),
            Kind::WeirCandidate => Command::new(
                launch
                    .bins
                    .candidate
                    .ok_or("weir-candidate needs --candidate-bin")?,
            ),
            Kind::Beava => Command::new(launch.bins.beava),
        };
        // A clean environment for the server: no inherited BEAVA_* / WEIR_* overrides.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("BEAVA_") || k.starts_with("WEIR_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        cmd.args(["--config", "/dev/null"])
            .args(["--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data);
        let mut beava_admin = None;
        match kind {
            Kind::Beava => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(|e| format!("no free port for beava's admin: {e}"))?;
                beava_admin = Some(port);
                cmd.env("BEAVA_ADMIN_ADDR", port.to_string());
            }
            Kind::Weir | Kind::WeirCandidate => {
                cmd.args(["--admin-addr", "127.0.0.1:0", "--ack-mode", "durable"]);
            }
            Kind::WeirRelaxed => {
                cmd.args(["--admin-addr", "127.0.0.1:0", "--ack-mode", "relaxed"]);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            http: ([0, 0, 0, 0], 0).into(),
            tcp: ([0, 0, 0, 0], 0).into(),
            admin: None,
            dir,
            keep_dir: launch.keep_dir,
            out_path: out_path.clone(),
            err_path: err_path.clone(),
            spawned_at,
            bound_after: Duration::ZERO,
        };

        let deadline = Instant::now() + Duration::from_secs(600);
        let (mut http, mut tcp, mut admin) = (None, None, beava_admin);
        loop {
            for path in [&out_path, &err_path] {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with('{')) {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    let addr = v["addr"]
                        .as_str()
                        .and_then(|a| a.parse::<SocketAddr>().ok());
                    match v["kind"].as_str() {
                        Some("server.http_bound") => http = http.or(addr),
                        Some("server.tcp_bound") => tcp = tcp.or(addr),
                        Some("server.admin_bound") => admin = admin.or(addr),
                        _ => {}
                    }
                }
            }
            if let (Some(h), Some(t), Some(a)) = (http, tcp, admin) {
                server.http = h;
                server.tcp = t;
                server.admin = Some(a);
                server.bound_after = spawned_at.elapsed();
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let err = std::fs::read_to_string(&err_path).unwrap_or_default();
                return Err(format!("{} exited with {status}: {err}", kind.label()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not print its bound addresses",
                    kind.label()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The data directory (`--data-dir`): `wal/` and `snapshots/` for both servers.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Sends a signal (`kill -<sig> <pid>`) to this server only.
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -{sig} {} failed", self.pid));
        }
        Ok(())
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// utime + stime of the whole process, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(&format!("/proc/{}/stat", self.pid)).unwrap_or(f64::NAN)
    }

    /// utime + stime in seconds of every live thread of the server, summed by thread name
    /// (`comm`: weir's threads are named for their role; beava's tokio workers share one name).
    pub fn thread_cpu_seconds(&self) -> Vec<(String, f64)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return Vec::new();
        };
        let mut by_name: Vec<(String, f64)> = Vec::new();
        for task in tasks.flatten() {
            let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
                continue;
            };
            let Some(cpu) = proc_cpu_seconds(&task.path().join("stat").to_string_lossy()) else {
                continue;
            };
            let name = comm.trim().to_string();
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += cpu,
                None => by_name.push((name, cpu)),
            }
        }
        by_name
    }

    /// Voluntary + involuntary context switches of every live thread of the server.
    pub fn context_switches(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return 0;
        };
        tasks
            .flatten()
            .map(|t| {
                let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }

    /// VmRSS in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// VmHWM (the highest RSS since the process started) in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    fn status_bytes(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// One Prometheus counter from weir's admin `/metrics`.
    pub fn metrics(&self) -> Option<Metrics> {
        let admin = self.admin?;
        let text = http_request(admin, "GET", "/metrics", b"").ok()?.1;
        let get = |name: &str| -> Option<f64> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        };
        Some(Metrics {
            wal_fsyncs: get("weir_wal_fsyncs_total")?,
            // Mutations logged: one LSN each (weir before decision 0024 had one record each).
            wal_records: get("weir_wal_lsns_total").or_else(|| get("weir_wal_records_total"))?,
        })
    }

    /// Registers the workload's table over HTTP.
    pub fn register(&self, workload: crate::workload::Workload) -> Result<(), String> {
        let body = serde_json::to_vec(&workload.register_body()).expect("json");
        let (status, text) = http_request(self.http, "POST", "/register", &body)?;
        if status != 200 {
            return Err(format!("register answered {status}: {text}"));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Metrics {
    pub wal_fsyncs: f64,
    pub wal_records: f64,
}

/// Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux).
pub fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` file, in seconds.
pub fn proc_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

/// A blocking one-shot HTTP/1.1 request (`Connection: close`), for setup and scraping.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        // Stop once a Content-Length-delimited answer is complete (some servers keep the socket).
        if let Ok(Some(a)) = crate::workload::parse_http(&buf) {
            buf.truncate(a.len);
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(format!("incomplete HTTP answer from {addr}{path}")),
    };
    let status = resp.code.unwrap_or(0);
    Ok((status, String::from_utf8_lossy(&buf[head..]).into_owned()))
}
