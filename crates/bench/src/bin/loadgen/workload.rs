//! What goes on the wire: key choice, README `AgentStep` events encoded for HTTP (JSON) and framed
//! TCP (MessagePack), `get` requests, and incremental parsing of the answers.

use std::io::Write;
use std::sync::Arc;

/// The README table (the default workload, and the incident replay's).
pub const TABLE: &str = "SessionReflexes";
pub const EVENT: &str = "AgentStep";

/// Which table the pushed `AgentStep` events feed (the events are the same for both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// README `SessionReflexes`: 8 features.
    Readme,
    /// `SessionWide`: 53 features across the operator families (`bench::wide_register_body`).
    Wide,
}

impl Workload {
    pub fn parse(s: &str) -> Result<Workload, String> {
        match s {
            "readme" => Ok(Workload::Readme),
            "wide" => Ok(Workload::Wide),
            _ => Err(format!("unknown workload {s:?} (readme, wide)")),
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Workload::Readme => TABLE,
            Workload::Wide => "SessionWide",
        }
    }

    pub fn register_body(self) -> serde_json::Value {
        match self {
            Workload::Readme => bench::readme_register_body(),
            Workload::Wide => bench::wide_register_body(),
        }
    }
}

const TOOLS: [&str; 6] = ["search", "browse", "code", "shell", "email", "calendar"];

const OP_PUSH: u16 = 0x0010;
const OP_GET: u16 = 0x0020;
const OP_ROW: u16 = 0x0023;
const OP_BATCH_GET: u16 = 0x0024;
const CT_MSGPACK: u8 = 0x02;

/// Key distribution over `keys` entities.
#[derive(Clone, Debug)]
pub enum Dist {
    Uniform,
    /// Zipf with exponent `s`; rank 0 is the hottest key.
    Zipf(f64),
    /// Round-robin: connection `c` of `n` pushes keys `c, c+n, c+2n, …` (loads every entity).
    Seq,
}

impl Dist {
    pub fn parse(s: &str) -> Result<Dist, String> {
        match s {
            "uniform" => Ok(Dist::Uniform),
            "seq" => Ok(Dist::Seq),
            "zipf" => Ok(Dist::Zipf(0.99)),
            _ => match s.strip_prefix("zipf:") {
                Some(x) => x
                    .parse()
                    .map(Dist::Zipf)
                    .map_err(|e| format!("bad zipf exponent {x:?}: {e}")),
                None => Err(format!(
                    "unknown distribution {s:?} (uniform, zipf[:s], seq)"
                )),
            },
        }
    }

    pub fn label(&self) -> String {
        match self {
            Dist::Uniform => "uniform".into(),
            Dist::Zipf(s) => format!("zipf {s}"),
            Dist::Seq => "seq".into(),
        }
    }
}

/// Cumulative Zipf weights, shared by every connection.
pub fn zipf_cdf(keys: u64, s: f64) -> Arc<Vec<f64>> {
    let mut cdf = Vec::with_capacity(keys as usize);
    let mut total = 0.0;
    for rank in 0..keys {
        total += 1.0 / ((rank + 1) as f64).powf(s);
        cdf.push(total);
    }
    for c in &mut cdf {
        *c /= total;
    }
    Arc::new(cdf)
}

/// Per-connection key generator (xorshift64*, seeded per connection).
pub struct KeyGen {
    state: u64,
    keys: u64,
    dist: Dist,
    cdf: Option<Arc<Vec<f64>>>,
    next_seq: u64,
    stride: u64,
}

impl KeyGen {
    pub fn new(
        keys: u64,
        dist: Dist,
        cdf: Option<Arc<Vec<f64>>>,
        conn: u64,
        conns: u64,
        seed: u64,
    ) -> KeyGen {
        KeyGen {
            state: (seed ^ (conn + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
            keys: keys.max(1),
            dist,
            cdf,
            next_seq: conn,
            stride: conns.max(1),
        }
    }

    pub fn rand(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_key(&mut self) -> u64 {
        match self.dist {
            Dist::Uniform => self.rand() % self.keys,
            Dist::Seq => {
                let k = self.next_seq % self.keys;
                self.next_seq += self.stride;
                k
            }
            Dist::Zipf(_) => {
                let u = (self.rand() >> 11) as f64 / (1u64 << 53) as f64;
                let cdf = self.cdf.as_ref().expect("zipf cdf");
                let rank = cdf.partition_point(|&c| c < u) as u64;
                // Scatter ranks over the key space so hot keys are not neighbours.
                rank.min(self.keys - 1).wrapping_mul(0x9E37_79B9) % self.keys
            }
        }
    }
}

/// The fields of one README event for `session` / step `i` (same shape as `bench::readme_event`).
struct Fields {
    tool: &'static str,
    ok: bool,
    tokens: u64,
    latency_ms: f64,
    risky: bool,
    action: &'static str,
}

fn fields(session: u64, i: u64) -> Fields {
    Fields {
        tool: TOOLS[((session ^ i) % TOOLS.len() as u64) as usize],
        ok: !i.is_multiple_of(5),
        tokens: 100 + (i.wrapping_mul(37).wrapping_add(session)) % 900,
        latency_ms: 50.0 + ((i.wrapping_mul(7919).wrapping_add(session)) % 1000) as f64 / 3.0,
        risky: i.is_multiple_of(7),
        action: if i.is_multiple_of(2) {
            "lookup"
        } else {
            "write"
        },
    }
}

/// Appends one `POST /push` request (HTTP/1.1, keep-alive) to `out`.
pub fn http_push(out: &mut Vec<u8>, body: &mut Vec<u8>, session: u64, i: u64) {
    let f = fields(session, i);
    body.clear();
    write!(
        body,
        r#"{{"event":"{EVENT}","data":{{"session_id":"session-{session}","tool":"{}","ok":{},"tokens":{},"latency_ms":{:?},"risky":{},"action":"{}"}}}}"#,
        f.tool, f.ok, f.tokens, f.latency_ms, f.risky, f.action
    )
    .expect("write to vec");
    http_post(out, "/push", body);
}

/// Appends one `POST /get` of `session`'s row in `table`.
pub fn http_get(out: &mut Vec<u8>, body: &mut Vec<u8>, table: &str, session: u64) {
    body.clear();
    write!(body, r#"{{"table":"{table}","key":"session-{session}"}}"#).expect("write to vec");
    http_post(out, "/get", body);
}

/// Appends one `POST /batch_get` of the rows of `sessions` in `table`.
pub fn http_batch_get(out: &mut Vec<u8>, body: &mut Vec<u8>, table: &str, sessions: &[u64]) {
    body.clear();
    body.extend_from_slice(br#"{"requests":["#);
    for (i, session) in sessions.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write!(body, r#"{{"table":"{table}","key":"session-{session}"}}"#).expect("write to vec");
    }
    body.extend_from_slice(b"]}");
    http_post(out, "/batch_get", body);
}

pub fn http_post(out: &mut Vec<u8>, path: &str, body: &[u8]) {
    write!(
        out,
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write to vec");
    out.extend_from_slice(body);
}

/// Appends one framed-TCP PUSH frame, msgpack `{"event": .., "body": {..}}`.
pub fn tcp_push(out: &mut Vec<u8>, session: u64, i: u64) {
    let f = fields(session, i);
    let start = begin_frame(out, OP_PUSH);
    mp_map(out, 2);
    mp_str(out, "event");
    mp_str(out, EVENT);
    mp_str(out, "body");
    mp_map(out, 7);
    mp_str(out, "session_id");
    mp_session(out, session);
    mp_str(out, "tool");
    mp_str(out, f.tool);
    mp_str(out, "ok");
    out.push(if f.ok { 0xc3 } else { 0xc2 });
    mp_str(out, "tokens");
    mp_uint(out, f.tokens);
    mp_str(out, "latency_ms");
    out.push(0xcb);
    out.extend_from_slice(&f.latency_ms.to_be_bytes());
    mp_str(out, "risky");
    out.push(if f.risky { 0xc3 } else { 0xc2 });
    mp_str(out, "action");
    mp_str(out, f.action);
    end_frame(out, start);
}

/// Appends one framed-TCP GET frame, msgpack `{"table": .., "key": ..}`.
pub fn tcp_get(out: &mut Vec<u8>, table: &str, session: u64) {
    let start = begin_frame(out, OP_GET);
    mp_row_request(out, table, session);
    end_frame(out, start);
}

/// msgpack `{"table": .., "key": "session-N"}`.
fn mp_row_request(out: &mut Vec<u8>, table: &str, session: u64) {
    mp_map(out, 2);
    mp_str(out, "table");
    mp_str(out, table);
    mp_str(out, "key");
    mp_session(out, session);
}

/// Appends one framed-TCP BATCH_GET frame, msgpack `{"requests": [{"table", "key"}, ..]}`.
pub fn tcp_batch_get(out: &mut Vec<u8>, table: &str, sessions: &[u64]) {
    let start = begin_frame(out, OP_BATCH_GET);
    mp_map(out, 1);
    mp_str(out, "requests");
    let n = u32::try_from(sessions.len()).expect("batch size fits u32");
    out.push(0xdd);
    out.extend_from_slice(&n.to_be_bytes());
    for &session in sessions {
        mp_row_request(out, table, session);
    }
    end_frame(out, start);
}

fn begin_frame(out: &mut Vec<u8>, op: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&op.to_be_bytes());
    out.push(CT_MSGPACK);
    start
}

fn end_frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn mp_map(out: &mut Vec<u8>, n: u8) {
    debug_assert!(n < 16);
    out.push(0x80 | n);
}

fn mp_str(out: &mut Vec<u8>, s: &str) {
    mp_str_header(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn mp_str_header(out: &mut Vec<u8>, len: usize) {
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else {
        out.push(0xd9);
        out.push(len as u8);
    }
}

fn mp_session(out: &mut Vec<u8>, session: u64) {
    let mut buf = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    write!(cursor, "session-{session}").expect("fits");
    let n = cursor.position() as usize;
    mp_str_header(out, n);
    out.extend_from_slice(&buf[..n]);
}

fn mp_uint(out: &mut Vec<u8>, v: u64) {
    if v < 128 {
        out.push(v as u8);
    } else if v <= u16::MAX as u64 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// One parsed answer: its length in the buffer and whether it is a success.
pub struct Answer {
    pub len: usize,
    pub ok: bool,
}

/// A complete HTTP/1.1 response at the start of `buf`, if there is one.
pub fn parse_http(buf: &[u8]) -> Result<Option<Answer>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 24];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(head)) => {
            let mut body_len = None;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    let v = std::str::from_utf8(h.value).map_err(|e| e.to_string())?;
                    body_len = Some(v.trim().parse::<usize>().map_err(|e| e.to_string())?);
                }
            }
            let body_len = body_len.ok_or("response without Content-Length")?;
            if buf.len() < head + body_len {
                return Ok(None);
            }
            Ok(Some(Answer {
                len: head + body_len,
                ok: resp.code == Some(200),
            }))
        }
        Err(e) => Err(format!("bad HTTP response: {e}")),
    }
}

/// A complete TCP frame at the start of `buf`, if there is one.
pub fn parse_frame(buf: &[u8]) -> Result<Option<Answer>, String> {
    if buf.len() < 7 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len < 3 {
        return Err(format!("frame length {len} < 3"));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let op = u16::from_be_bytes([buf[4], buf[5]]);
    Ok(Some(Answer {
        len: 4 + len,
        ok: op == OP_PUSH || op == OP_ROW,
    }))
}

/// The payload of a frame (for error messages).
pub fn frame_payload(frame: &[u8]) -> &[u8] {
    frame.get(7..).unwrap_or(&[])
}
