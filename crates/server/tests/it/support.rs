//! A real server (store + all three listeners) in-process on port 0, and blocking raw-socket
//! clients that assert at the byte level.

use serde_json::{json, Value as Json};
use server::{RunningServer, ServerConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Store, StoreConfig, StoreHandle, SystemClock};

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub store: Option<Store>,
    pub http: SocketAddr,
    pub tcp: SocketAddr,
    pub admin: SocketAddr,
}

pub fn start() -> TestServer {
    start_with(|_| {}, StoreConfig::default())
}

pub fn start_with(
    configure: impl FnOnce(&mut ServerConfig),
    store_config: StoreConfig,
) -> TestServer {
    let store = Store::start(store_config, Arc::new(SystemClock));
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = ServerConfig {
        http_addr: any,
        tcp_addr: any,
        admin_addr: any,
        test_mode: true,
        shutdown_grace: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    configure(&mut config);
    let server = RunningServer::start(config, store.handle()).expect("server starts");
    TestServer {
        http: server.http_addr(),
        tcp: server.tcp_addr(),
        admin: server.admin_addr(),
        server: Some(server),
        store: Some(store),
    }
}

impl TestServer {
    pub fn store(&self) -> StoreHandle {
        self.store.as_ref().expect("running").handle()
    }

    /// Registers the standard test schema: event `Click{user:str, amount:f64}` and table
    /// `UserStats` keyed by `user` with `clicks=count`, `total=sum(amount)`.
    pub fn register_clicks(&self) {
        let (status, body) = http_json(self.http, "POST", "/register", &clicks_registration());
        assert_eq!(status, 200, "{body}");
    }

    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        if let Some(store) = self.store.take() {
            store.shutdown();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn clicks_registration() -> Json {
    json!({"nodes": [
        {"kind": "event", "name": "Click",
         "schema": {"fields": {"user": "str", "amount": "f64"}, "optional_fields": []}},
        {"kind": "derivation", "name": "UserStats", "output_kind": "table", "upstreams": ["Click"],
         "ops": [{"op": "group_by", "keys": ["user"],
                  "agg": {"clicks": {"op": "count", "params": {}},
                          "total": {"op": "sum", "params": {"field": "amount"}}}}],
         "table_primary_key": ["user"]}
    ]})
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads until `done(buffer)` holds, EOF, or `timeout`. Returns the bytes and whether EOF was
/// seen.
pub fn read_until(
    stream: &mut TcpStream,
    timeout: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while !done(&buf) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (buf, false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return (buf, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (buf, false)
            }
            Err(_) => return (buf, true),
        }
    }
    (buf, false)
}

/// Waits for EOF (the server closed); true if it came within `timeout`.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    read_until(stream, timeout, |_| false).1
}

// ---- HTTP -------------------------------------------------------------------------------

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Splits complete responses (Content-Length framed) off the front of `buf`.
pub fn parse_responses(buf: &[u8]) -> (Vec<Response>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let body_start = end + 4;
        if rest.len() < body_start + length {
            break;
        }
        out.push(Response {
            status,
            head,
            body: rest[body_start..body_start + length].to_vec(),
        });
        at += body_start + length;
    }
    (out, at)
}

/// Sends raw bytes, waits for `n` responses; returns them and whether the server closed.
pub fn exchange(addr: SocketAddr, bytes: &[u8], n: usize) -> (Vec<Response>, bool) {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(10), |b| {
        parse_responses(b).0.len() >= n
    });
    (parse_responses(&buf).0, eof)
}

pub fn request_bytes(
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: Option<&str>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n").into_bytes();
    if let Some(ct) = content_type {
        out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    if let Some(body) = body {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Response {
    let bytes = request_bytes(method, path, body, Some("application/json"));
    let (mut responses, _) = exchange(addr, &bytes, 1);
    assert_eq!(responses.len(), 1, "one response to {method} {path}");
    responses.remove(0)
}

/// POST/GET with a JSON body; returns (status, body as JSON).
pub fn http_json(addr: SocketAddr, method: &str, path: &str, body: &Json) -> (u16, Json) {
    let bytes = serde_json::to_vec(body).unwrap();
    let r = http(addr, method, path, Some(&bytes));
    (r.status, r.json())
}

// ---- TCP frames ---------------------------------------------------------------------------

pub fn frame(op: u16, ct: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 3) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&op.to_be_bytes());
    out.push(ct);
    out.extend_from_slice(payload);
    out
}

pub fn json_frame(op: u16, body: &Json) -> Vec<u8> {
    frame(op, 1, &serde_json::to_vec(body).unwrap())
}

#[derive(Debug, PartialEq)]
pub struct Frame {
    pub op: u16,
    pub ct: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.payload)))
    }
}

pub fn parse_frames(buf: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() >= at + 4 {
        let len = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        if buf.len() < at + 4 + len || len < 3 {
            break;
        }
        let f = &buf[at + 4..at + 4 + len];
        out.push(Frame {
            op: u16::from_be_bytes([f[0], f[1]]),
            ct: f[2],
            payload: f[3..].to_vec(),
        });
        at += 4 + len;
    }
    out
}

/// Sends `bytes` on one connection, waits for `n` frames; returns them and whether it closed.
pub fn tcp_exchange(addr: SocketAddr, bytes: &[u8], n: usize) -> (Vec<Frame>, bool) {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(10), |b| {
        parse_frames(b).len() >= n
    });
    (parse_frames(&buf), eof)
}

pub fn tcp_call(addr: SocketAddr, op: u16, body: &Json) -> Frame {
    let (mut frames, _) = tcp_exchange(addr, &json_frame(op, body), 1);
    assert_eq!(frames.len(), 1);
    frames.remove(0)
}
