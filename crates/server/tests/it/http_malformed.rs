//! Malformed, oversized and unusual HTTP input: always a clear answer (400
//! `http_protocol_error` then close, or the right response), never a hang or a crash; plus
//! keep-alive, pipelining, chunked bodies and `Expect: 100-continue`.

use crate::support::*;
use std::io::Write;
use std::time::Duration;

const PROTOCOL_ERROR: &str = r#"{"error":{"code":"http_protocol_error"}}"#;

fn assert_protocol_error(s: &TestServer, bytes: &[u8]) {
    let mut stream = connect(s.http);
    stream.write_all(bytes).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    let (responses, _) = parse_responses(&buf);
    assert_eq!(
        responses.len(),
        1,
        "one answer to {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
    );
    assert_eq!(responses[0].status, 400);
    assert_eq!(responses[0].text(), PROTOCOL_ERROR);
    assert_eq!(responses[0].header("connection").as_deref(), Some("close"));
    assert!(eof, "connection closed after the protocol error");
}

#[test]
fn malformed_requests_get_400_and_close() {
    let s = start();
    assert_protocol_error(&s, b"GARBAGE\r\n\r\n");
    assert_protocol_error(&s, b"GET /health HTTP/1.1\r\nbad header\r\n\r\n");
    assert_protocol_error(&s, b"GET /health HTTP/2.0\r\n\r\n");
    assert_protocol_error(&s, b"POST /ping HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
    assert_protocol_error(&s, b"POST /ping HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    );
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    );
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    );
    assert_protocol_error(&s, b"\x00\x01\x02\x03\r\n\r\n");
}

#[test]
fn limits() {
    let s = start();
    // Header section over 8 KiB, complete or not.
    let mut big = b"GET /health HTTP/1.1\r\nX-A: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9000));
    assert_protocol_error(&s, &big);
    big.extend_from_slice(b"\r\n\r\n");
    assert_protocol_error(&s, &big);
    // 64 headers are fine, 65 are not.
    let headers = |n: usize| {
        let mut r = b"GET /health HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            r.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    };
    assert_eq!(exchange(s.http, &headers(64), 1).0[0].status, 200);
    assert_protocol_error(&s, &headers(65));
    // Declared body over 4 MiB: refused before reading it.
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nContent-Length: 4194305\r\n\r\n",
    );
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    );
    // Chunked body growing over 4 MiB.
    assert_protocol_error(
        &s,
        b"POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n",
    );
    // Exactly 4 MiB is accepted (and is not a valid push: 400 invalid_json_body).
    let mut body = vec![b' '; 4 * 1024 * 1024];
    body[0] = b'x';
    let (r, _) = exchange(
        s.http,
        &request_bytes("POST", "/push", Some(&body), None),
        1,
    );
    assert_eq!(r[0].status, 400);
    assert_eq!(r[0].text(), r#"{"error":{"code":"invalid_json_body"}}"#);
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let s = start();
    s.register_clicks();
    let mut wire = Vec::new();
    wire.extend_from_slice(b"GET /health HTTP/1.1\r\n\r\n");
    for i in 0..20 {
        let body = format!(r#"{{"event":"Click","data":{{"user":"p","amount":{i}}}}}"#);
        wire.extend(request_bytes("POST", "/push", Some(body.as_bytes()), None));
    }
    wire.extend(request_bytes(
        "POST",
        "/get",
        Some(br#"{"table":"UserStats","key":"p"}"#),
        None,
    ));
    wire.extend_from_slice(b"POST /ping HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    wire.extend_from_slice(b"GET /nope HTTP/1.1\r\n\r\n");
    let (responses, eof) = exchange(s.http, &wire, 24);
    assert!(!eof, "keep-alive");
    assert_eq!(responses.len(), 24);
    assert_eq!(responses[0].text(), r#"{"status":"ok"}"#);
    let mut last_lsn = 0;
    for r in &responses[1..21] {
        let lsn = r.json()["ack_lsn"].as_u64().unwrap();
        assert!(lsn > last_lsn, "acks in order");
        last_lsn = lsn;
    }
    // The pipelined read sees every push before it (per-connection order).
    assert_eq!(
        responses[21].json(),
        serde_json::json!({"clicks": 20, "total": 190.0})
    );
    assert_eq!(responses[22].json()["pong"], true);
    assert_eq!(responses[23].status, 404);
}

#[test]
fn pipelined_requests_before_a_malformed_one_are_answered() {
    let s = start();
    let mut stream = connect(s.http);
    stream
        .write_all(b"GET /health HTTP/1.1\r\n\r\nGARBAGE\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
        .unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    let (responses, _) = parse_responses(&buf);
    assert_eq!(
        responses.len(),
        2,
        "nothing after the malformed request is answered"
    );
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[1].status, 400);
    assert!(eof);
}

#[test]
fn chunked_bodies() {
    let s = start();
    s.register_clicks();
    let wire = b"POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                 10;ext=1\r\n{\"event\":\"Click\"\r\n1e\r\n,\"data\":{\"user\":\"c\",\"amount\":1\r\n2\r\n}}\r\n0\r\nX-T: y\r\n\r\n";
    let (r, _) = exchange(s.http, wire, 1);
    assert_eq!(r[0].status, 200, "{}", r[0].text());
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &serde_json::json!({"table": "UserStats", "key": "c"}),
    );
    assert_eq!(row["clicks"], 1);
}

#[test]
fn slow_clients_and_partial_requests() {
    let s = start();
    let mut stream = connect(s.http);
    for byte in b"POST /ping HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" {
        stream.write_all(&[*byte]).unwrap();
    }
    let (buf, _) = read_until(&mut stream, Duration::from_secs(5), |b| {
        parse_responses(b).0.len() == 1
    });
    assert_eq!(parse_responses(&buf).0[0].status, 200);
    // A half-closed client still gets its answer.
    let mut stream = connect(s.http);
    stream.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    assert_eq!(parse_responses(&buf).0.len(), 1);
    assert!(eof);
}

#[test]
fn expect_continue_gets_an_interim_response() {
    let s = start();
    let mut stream = connect(s.http);
    stream
        .write_all(b"POST /ping HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let (buf, _) = read_until(&mut stream, Duration::from_secs(5), |b| {
        b.ends_with(b"\r\n\r\n")
    });
    assert_eq!(buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"{}").unwrap();
    let (buf, _) = read_until(&mut stream, Duration::from_secs(5), |b| {
        parse_responses(b).0.len() == 1
    });
    assert_eq!(parse_responses(&buf).0[0].status, 200);
}

#[test]
fn connection_close_and_http10() {
    let s = start();
    let (r, eof) = exchange(
        s.http,
        b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        1,
    );
    assert_eq!(r[0].header("connection").as_deref(), Some("close"));
    let mut stream = connect(s.http);
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let (buf, closed) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    assert_eq!(parse_responses(&buf).0.len(), 1);
    assert!(closed, "HTTP/1.0 without keep-alive is closed");
    let _ = eof;
}

#[test]
fn deep_http_pipelines_past_the_in_flight_bound() {
    for depth in [1, 128] {
        let s = start_with(|c| c.pipeline_depth = depth, Default::default());
        let wire: Vec<u8> = (0..600)
            .flat_map(|i| {
                if i % 2 == 0 {
                    b"GET /health HTTP/1.1\r\n\r\n".to_vec()
                } else {
                    b"POST /ping HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec()
                }
            })
            .collect();
        let (responses, _) = exchange(s.http, &wire, 600);
        assert_eq!(responses.len(), 600, "depth {depth}");
    }
}
