//! The connections: pipelined pushers (a writer and a reader task per connection, at most `depth`
//! requests in flight) and closed-loop `get` probes.

use crate::workload::{self, Answer, Dist, KeyGen};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

pub const WARMUP: u8 = 0;
pub const MEASURE: u8 = 1;
pub const STOP: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    Tcp,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Http => "HTTP/1.1 JSON",
            Transport::Tcp => "TCP msgpack",
        }
    }

    fn parse(self, buf: &[u8]) -> Result<Option<Answer>, String> {
        match self {
            Transport::Http => workload::parse_http(buf),
            Transport::Tcp => workload::parse_frame(buf),
        }
    }

    fn body_of(self, answer: &[u8]) -> String {
        let body = match self {
            Transport::Http => answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(answer, |p| &answer[p + 4..]),
            Transport::Tcp => workload::frame_payload(answer),
        };
        String::from_utf8_lossy(body).into_owned()
    }
}

/// State shared by the driver and every connection.
pub struct Shared {
    pub phase: AtomicU8,
    /// Successful answers received during the measurement phase.
    pub acked: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            phase: AtomicU8::new(WARMUP),
            acked: AtomicU64::new(0),
            first_error: Mutex::new(None),
        })
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    fn note_error(&self, what: String) {
        let mut e = self.first_error.lock().expect("lock");
        if e.is_none() {
            *e = Some(what);
        }
    }
}

/// What one connection observed during the measurement phase.
#[derive(Default)]
pub struct ConnStats {
    /// Latency of every successful answer, nanoseconds.
    pub lat_ns: Vec<u64>,
    /// Answers that were not a success (any phase).
    pub errors: u64,
    /// `get` answers that were a 404 / error frame (key not loaded yet), measurement phase.
    pub misses: u64,
}

pub struct PushConn {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub depth: usize,
    pub keys: KeyGen,
    /// Pushes per second for this connection (None: as fast as the pipeline allows).
    pub rate: Option<f64>,
    /// Send exactly this many pushes, then finish once all are answered (preload).
    pub limit: Option<u64>,
    /// Count answers toward `Shared::acked` / latencies regardless of the phase (preload).
    pub always_measure: bool,
}

/// Runs one pipelined push connection until the phase is STOP (or `limit` pushes are answered).
pub async fn push_conn(conn: PushConn, shared: Arc<Shared>) -> Result<ConnStats, String> {
    let stream = TcpStream::connect(conn.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", conn.addr))?;
    stream.set_nodelay(true).ok();
    let (mut rd, mut wr) = stream.into_split();
    let depth = conn.depth.max(1);
    let credits = Arc::new(Semaphore::new(depth));
    let sent_at: Arc<Mutex<VecDeque<Instant>>> =
        Arc::new(Mutex::new(VecDeque::with_capacity(depth)));
    let transport = conn.transport;
    let limit = conn.limit;

    let writer = {
        let credits = credits.clone();
        let sent_at = sent_at.clone();
        let shared = shared.clone();
        let mut keys = conn.keys;
        let rate = conn.rate;
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut body = Vec::with_capacity(512);
            let start = Instant::now();
            let mut sent: u64 = 0;
            loop {
                if shared.phase() == STOP {
                    return Ok::<(), String>(());
                }
                if limit.is_some_and(|l| sent >= l) {
                    // Keep the write half open until the reader is done: dropping it sends a
                    // FIN, and beava 0.0.6 drops the connection (and its pending answers) on EOF.
                    while let Ok(p) = credits.acquire().await {
                        p.forget();
                    }
                    return Ok(());
                }
                let Ok(permit) = credits.acquire().await else {
                    return Ok(());
                };
                permit.forget();
                let mut n: u64 = 1;
                while (n as usize) < depth {
                    match credits.try_acquire() {
                        Ok(p) => {
                            p.forget();
                            n += 1;
                        }
                        Err(_) => break,
                    }
                }
                if let Some(l) = limit {
                    n = n.min(l - sent);
                }
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64(sent as f64 / r);
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let allowed = (start.elapsed().as_secs_f64() * r) as u64 + 1;
                    let allowed = allowed.saturating_sub(sent).max(1);
                    if allowed < n {
                        credits.add_permits((n - allowed) as usize);
                        n = allowed;
                    }
                }
                buf.clear();
                for _ in 0..n {
                    let key = keys.next_key();
                    match transport {
                        Transport::Http => workload::http_push(&mut buf, &mut body, key, sent),
                        Transport::Tcp => workload::tcp_push(&mut buf, key, sent),
                    }
                    sent += 1;
                }
                {
                    let now = Instant::now();
                    let mut q = sent_at.lock().expect("lock");
                    for _ in 0..n {
                        q.push_back(now);
                    }
                }
                wr.write_all(&buf)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            }
        })
    };

    let mut stats = ConnStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut answered: u64 = 0;
    let result: Result<(), String> = async {
        loop {
            if limit.is_some_and(|l| answered >= l) {
                return Ok(());
            }
            if shared.phase() == STOP {
                return Ok(());
            }
            match tokio::time::timeout(Duration::from_millis(100), rd.read_buf(&mut buf)).await {
                Err(_) => continue,
                Ok(Ok(0)) => return Err("server closed the connection".to_string()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
            let now = Instant::now();
            let measuring = conn.always_measure || shared.phase() == MEASURE;
            let mut pos = 0;
            let mut n = 0usize;
            let mut oks = 0u64;
            let mut q = sent_at.lock().expect("lock");
            while let Some(a) = transport.parse(&buf[pos..])? {
                let t = q
                    .pop_front()
                    .ok_or("an answer arrived for a request that was not sent")?;
                if a.ok {
                    if measuring {
                        stats.lat_ns.push((now - t).as_nanos() as u64);
                        oks += 1;
                    }
                } else {
                    stats.errors += 1;
                    shared.note_error(transport.body_of(&buf[pos..pos + a.len]));
                }
                pos += a.len;
                n += 1;
            }
            drop(q);
            if oks > 0 {
                shared.acked.fetch_add(oks, Ordering::Relaxed);
            }
            answered += n as u64;
            buf.drain(..pos);
            credits.add_permits(n);
        }
    }
    .await;
    credits.close();
    match result {
        Ok(()) => {
            // The writer may be waiting on the (now closed) semaphore or a socket write.
            let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
            Ok(stats)
        }
        Err(e) => {
            writer.abort();
            if shared.phase() == STOP {
                Ok(stats)
            } else {
                Err(e)
            }
        }
    }
}

/// What a read probe asks for: one row (`get`), or `batch` rows in one `batch_get`.
#[derive(Clone, Copy, Debug)]
pub struct ReadProbe {
    pub table: &'static str,
    /// 0 = `get`; otherwise keys per `batch_get`.
    pub batch: usize,
}

/// The read probes of a run, running on the client runtime or on a thread of their own.
pub enum Probes {
    Shared(Vec<tokio::task::JoinHandle<Result<ConnStats, String>>>),
    OwnThread(std::thread::JoinHandle<Result<Vec<ConnStats>, String>>),
}

impl Probes {
    /// Starts `probes`; call from inside the client runtime.
    pub fn start<F>(probes: Vec<F>, own_thread: bool) -> Probes
    where
        F: std::future::Future<Output = Result<ConnStats, String>> + Send + 'static,
    {
        if !own_thread {
            return Probes::Shared(probes.into_iter().map(tokio::spawn).collect());
        }
        let thread = std::thread::Builder::new()
            .name("loadgen-probes".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("probe runtime: {e}"))?;
                rt.block_on(async {
                    let handles: Vec<_> = probes.into_iter().map(tokio::spawn).collect();
                    let mut stats = Vec::with_capacity(handles.len());
                    for h in handles {
                        stats.push(h.await.map_err(|e| e.to_string())??);
                    }
                    Ok(stats)
                })
            })
            .expect("spawn the probe thread");
        Probes::OwnThread(thread)
    }

    /// Waits for every probe (they stop when the phase is STOP).
    pub async fn finish(self) -> Result<Vec<ConnStats>, String> {
        match self {
            Probes::Shared(handles) => {
                let mut stats = Vec::with_capacity(handles.len());
                for h in handles {
                    stats.push(h.await.map_err(|e| e.to_string())??);
                }
                Ok(stats)
            }
            Probes::OwnThread(thread) => tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|_| "the probe thread panicked".to_string())?,
        }
    }
}

/// Closed-loop read probe: one request in flight, optionally paced to `rate` per second.
pub async fn get_conn(
    addr: SocketAddr,
    transport: Transport,
    probe: ReadProbe,
    mut keys: KeyGen,
    rate: Option<f64>,
    shared: Arc<Shared>,
) -> Result<ConnStats, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    let mut stats = ConnStats::default();
    let mut out = Vec::with_capacity(256);
    let mut body = Vec::with_capacity(128);
    let mut batch_keys: Vec<u64> = Vec::with_capacity(probe.batch);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    let mut sent: u64 = 0;
    while shared.phase() != STOP {
        if let Some(r) = rate {
            let due = start + Duration::from_secs_f64(sent as f64 / r);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        out.clear();
        if probe.batch == 0 {
            let key = keys.next_key();
            match transport {
                Transport::Http => workload::http_get(&mut out, &mut body, probe.table, key),
                Transport::Tcp => workload::tcp_get(&mut out, probe.table, key),
            }
        } else {
            batch_keys.clear();
            batch_keys.extend((0..probe.batch).map(|_| keys.next_key()));
            match transport {
                Transport::Http => {
                    workload::http_batch_get(&mut out, &mut body, probe.table, &batch_keys)
                }
                Transport::Tcp => workload::tcp_batch_get(&mut out, probe.table, &batch_keys),
            }
        }
        let t0 = Instant::now();
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))?;
        sent += 1;
        let answer = loop {
            if let Some(a) = transport.parse(&buf)? {
                break a;
            }
            match tokio::time::timeout(Duration::from_secs(10), stream.read_buf(&mut buf)).await {
                Err(_) => return Err("get: no answer within 10 s".into()),
                Ok(Ok(0)) => return Err("server closed the get connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        };
        let lat = t0.elapsed().as_nanos() as u64;
        if shared.phase() == MEASURE {
            stats.lat_ns.push(lat);
            if !answer.ok {
                stats.misses += 1;
            }
        }
        buf.drain(..answer.len);
    }
    Ok(stats)
}

/// Pushes `events` events round-robin over `keys` keys (`session-0..keys`, so every key gets
/// `events / keys`), over 8 TCP msgpack connections × 256 in flight; any refusal is an error.
/// `what` names the phase in error messages.
pub async fn load_keys_seq(
    tcp: SocketAddr,
    keys: u64,
    events: u64,
    seed: u64,
    what: &str,
) -> Result<(), String> {
    let conns: u64 = 8;
    let shared = Shared::new();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let limit = events / conns + u64::from(c < events % conns);
        let conn = PushConn {
            addr: tcp,
            transport: Transport::Tcp,
            depth: 256,
            keys: KeyGen::new(keys, Dist::Seq, None, c, conns, seed),
            rate: None,
            limit: Some(limit),
            always_measure: true,
        };
        tasks.push(tokio::spawn(push_conn(conn, shared.clone())));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{what}: {e}"))?
            .errors;
    }
    if errors > 0 {
        let e = shared.first_error.lock().expect("lock").clone();
        return Err(format!("{what}: {errors} pushes refused, first: {e:?}"));
    }
    Ok(())
}
