//! The framed TCP protocol: every opcode with the response opcode the beava SDK checks, content
//! types, fatal versus non-fatal frame errors, pipelining. Expected bodies are beava 0.0.6's.

use crate::support::*;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

const PING: u16 = 0x0000;
const REGISTER: u16 = 0x0001;
const PUSH: u16 = 0x0010;
const GET: u16 = 0x0020;
const MGET: u16 = 0x0021;
const GET_MULTI: u16 = 0x0022;
const GET_RESPONSE: u16 = 0x0023;
const BATCH_GET: u16 = 0x0024;
const RESET: u16 = 0x0040;
const ERROR: u16 = 0xFFFF;

/// msgpack `{"event":"Click","body":{"user":<user>,"amount":<small int>}}`.
fn msgpack_push(user: &str, amount: u8) -> Vec<u8> {
    assert!(user.len() < 32 && amount < 128);
    let mut out = b"\x82\xa5event\xa5Click\xa4body\x82\xa4user".to_vec();
    out.push(0xa0 | user.len() as u8);
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(b"\xa6amount");
    out.push(amount);
    out
}

#[test]
fn ping_register_push_get_reset() {
    let s = start();
    let f = tcp_call(s.tcp, PING, &json!({}));
    assert_eq!((f.op, f.ct), (PING, 1));
    assert_eq!(
        f.payload,
        br#"{"registry_version":0,"server_version":"0.0.6"}"#
    );
    // PING ignores the content type.
    let (frames, _) = tcp_exchange(s.tcp, &frame(PING, 9, b""), 1);
    assert_eq!(frames[0].op, PING);

    let f = tcp_call(s.tcp, REGISTER, &clicks_registration());
    assert_eq!(f.op, REGISTER);
    assert_eq!(f.json()["registry_version"], 1);

    let f = tcp_call(
        s.tcp,
        PUSH,
        &json!({"event": "Click", "body": {"user": "t1", "amount": 1}, "extra": 1}),
    );
    assert_eq!(f.op, PUSH);
    assert_eq!(f.json()["idempotent_replay"], false);
    let (frames, _) = tcp_exchange(s.tcp, &frame(PUSH, 2, &msgpack_push("t1", 2)), 1);
    assert_eq!(
        frames[0].op,
        PUSH,
        "{:?}",
        String::from_utf8_lossy(&frames[0].payload)
    );
    assert_eq!(frames[0].ct, 1, "push acks are JSON");

    let f = tcp_call(s.tcp, GET, &json!({"table": "UserStats", "key": "t1"}));
    assert_eq!((f.op, f.ct), (GET_RESPONSE, 1));
    assert_eq!(f.payload, br#"{"clicks":2,"total":3.0}"#);
    // msgpack in, msgpack out (beava's exact bytes).
    let (frames, _) = tcp_exchange(
        s.tcp,
        &frame(GET, 2, b"\x82\xa5table\xa9UserStats\xa3key\xa2t1"),
        1,
    );
    assert_eq!((frames[0].op, frames[0].ct), (GET_RESPONSE, 2));
    assert_eq!(
        frames[0].payload,
        b"\x82\xa6clicks\x02\xa5total\xcb@\x08\x00\x00\x00\x00\x00\x00"
    );
    let (frames, _) = tcp_exchange(
        s.tcp,
        &frame(GET, 2, b"\x82\xa5table\xa9UserStats\xa3key\xa2zz"),
        1,
    );
    assert_eq!(frames[0].payload, b"\x80");

    // BATCH_GET always answers JSON.
    let (frames, _) = tcp_exchange(
        s.tcp,
        &frame(
            BATCH_GET,
            2,
            b"\x81\xa8requests\x91\x82\xa5table\xa9UserStats\xa3key\xa2t1",
        ),
        1,
    );
    assert_eq!((frames[0].op, frames[0].ct), (GET_RESPONSE, 1));
    assert_eq!(
        frames[0].json(),
        json!({"results": [{"clicks": 2, "total": 3.0}]})
    );

    let f = tcp_call(s.tcp, RESET, &json!({}));
    assert_eq!(
        (f.op, f.json()),
        (GET_RESPONSE, json!({"registry_version": 2, "reset": true}))
    );
    let (frames, _) = tcp_exchange(s.tcp, &frame(RESET, 2, b""), 1);
    assert_eq!(frames[0].op, GET_RESPONSE);
}

#[test]
fn error_frames() {
    let s = start();
    s.register_clicks();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (frame(REGISTER, 2, b""), r#"{"error":{"code":"unsupported_content_type","message":"unsupported content_type for register: 0x02"}}"#),
        (frame(REGISTER, 1, b"{}"), r#"{"error":{"code":"invalid_registration","path":"<body>","reason":"missing field `nodes` at line 1 column 2"},"registry_version":1}"#),
        (json_frame(PUSH, &json!({"event": "Nope", "body": {}})), r#"{"error":{"code":"event_not_found"},"registry_version":1}"#),
        (json_frame(PUSH, &json!({"event": "Click", "body": {"user": "t\u{1}", "amount": 1}})), r#"{"error":{"code":"control_character_in_string"},"registry_version":1}"#),
        (json_frame(PUSH, &json!({"event": "Click", "body": [1]})), r#"{"error":{"code":"invalid_event"},"registry_version":1}"#),
        (json_frame(PUSH, &json!({"event": "Click", "data": {}})), r#"{"code":"unsupported"}"#),
        (json_frame(PUSH, &json!(["Click", {}])), r#"{"code":"unsupported"}"#),
        (frame(PUSH, 1, b"garbage"), r#"{"code":"unsupported"}"#),
        (frame(PUSH, 9, b"{}"), r#"{"error":{"code":"unsupported_content_type","message":"unsupported content_type: 0x09"}}"#),
        // PUSH_SYNC decodes like PUSH: an empty envelope is beava's catch-all.
        (frame(0x0011, 1, b""), r#"{"code":"unsupported"}"#),
        (frame(0x0012, 1, b""), r#"{"error":{"code":"unknown_op","message":"opcode 0x0012 is not recognised by this server","op":18}}"#),
        (frame(0x00aa, 9, b""), r#"{"error":{"code":"unknown_op","message":"opcode 0x00aa is not recognised by this server","op":170}}"#),
        (frame(GET_RESPONSE, 1, b""), r#"{"error":{"code":"unknown_op","message":"opcode 0x0023 is not recognised by this server","op":35}}"#),
        (json_frame(GET, &json!({"table": "Nope", "key": "t1"})), r#"{"error":{"code":"unknown_table"}}"#),
        (json_frame(GET, &json!({"table": "UserStats", "key": "a|b"})), r#"{"error":{"code":"key_parse_failure"}}"#),
        (json_frame(GET, &json!({"table": "UserStats", "key": "t1", "features": ["zz"]})), r#"{"error":{"code":"internal_error","reason":"feature_not_found: missing=[\"zz\"] table=UserStats"}}"#),
        (json_frame(GET, &json!({"feature": "clicks", "key": "t1"})), "{\"error\":{\"code\":\"unsupported_request_shape\",\"message\":\"OP_GET expects {table, key, features?}; received legacy {keys, features} or {feature, key} shape — see docs/wire-spec.md#op_get-0x0020\"}}"),
        (frame(GET, 1, b""), r#"{"error":{"code":"internal_error","reason":"EOF while parsing a value at line 1 column 0"}}"#),
        (frame(BATCH_GET, 1, b"garbage"), r#"{"error":{"code":"internal_error","reason":"expected value at line 1 column 1"}}"#),
    ];
    // One connection for all of them: none of these errors closes it.
    let mut wire = Vec::new();
    for (bytes, _) in &cases {
        wire.extend_from_slice(bytes);
    }
    wire.extend(frame(PING, 1, b""));
    let (frames, eof) = tcp_exchange(s.tcp, &wire, cases.len() + 1);
    assert!(!eof);
    assert_eq!(frames.len(), cases.len() + 1);
    for (frame, (_, expected)) in frames.iter().zip(&cases) {
        assert_eq!((frame.op, frame.ct), (ERROR, 1), "{expected}");
        assert_eq!(String::from_utf8_lossy(&frame.payload), *expected);
    }
    assert_eq!(frames.last().unwrap().op, PING);
}

#[test]
fn push_sync_is_acked_with_its_own_opcode_after_the_write() {
    let s = start();
    s.register_clicks();
    let ack = tcp_call(
        s.tcp,
        0x0011,
        &json!({"event": "Click", "body": {"user": "t9", "amount": 2.0}}),
    );
    assert_eq!(ack.op, 0x0011, "PUSH_SYNC is answered with op 0x0011");
    let body: serde_json::Value = serde_json::from_slice(&ack.payload).unwrap();
    assert_eq!(body["idempotent_replay"], json!(false));
    assert!(body["ack_lsn"].as_u64().is_some());
    let row = tcp_call(s.tcp, GET, &json!({"table": "UserStats", "key": "t9"}));
    let row: serde_json::Value = serde_json::from_slice(&row.payload).unwrap();
    assert!(row.as_object().is_some_and(|r| !r.is_empty()), "{row}");
}

#[test]
fn legacy_multi_key_reads() {
    let s = start();
    s.register_clicks();
    tcp_call(
        s.tcp,
        PUSH,
        &json!({"event": "Click", "body": {"user": "t1", "amount": 1.5}}),
    );
    let f = tcp_call(
        s.tcp,
        MGET,
        &json!({"feature": "clicks", "keys": ["t1", "zz", "t1"]}),
    );
    assert_eq!(
        (f.op, f.payload.as_slice()),
        (GET_RESPONSE, &br#"{"t1":{"clicks":1}}"#[..])
    );
    let f = tcp_call(
        s.tcp,
        GET_MULTI,
        &json!({"features": ["clicks", "total"], "keys": ["t1", "zz"]}),
    );
    assert_eq!(f.payload, br#"{"t1":{"clicks":1,"total":1.5}}"#);
    let f = tcp_call(
        s.tcp,
        GET_MULTI,
        &json!({"features": ["clicks", "nope"], "keys": ["t1"]}),
    );
    assert_eq!(
        f.payload,
        br#"{"error":{"code":"internal_error","reason":"feature_not_found: missing=[\"nope\"]"}}"#
    );
    let f = tcp_call(
        s.tcp,
        GET_MULTI,
        &json!({"features": vec!["clicks"; 101], "keys": vec!["t1"; 100]}),
    );
    assert_eq!(
        f.payload,
        br#"{"error":{"code":"internal_error","reason":"batch_too_large: cells=10100 cap=10000"}}"#
    );
}

#[test]
fn fatal_frame_errors_answer_then_close() {
    let s = start();
    // Declared length over the maximum: refused from the prefix alone, then closed.
    let mut stream = connect(s.tcp);
    stream
        .write_all(&(4 * 1024 * 1024 + 4u32).to_be_bytes())
        .unwrap();
    stream.write_all(b"\x00\x00\x01").unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    let frames = parse_frames(&buf);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&frames[0].payload),
        r#"{"error":{"code":"frame_too_large","declared":4194308,"limit":4194307,"message":"declared frame length 4194308 exceeds limit 4194307"}}"#
    );
    assert!(eof);
    let mut stream = connect(s.tcp);
    stream.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    assert_eq!(
        parse_frames(&buf)[0].json()["error"]["declared"],
        4294967295u64
    );
    assert!(eof);

    // Length below 3: frame_error, then closed; frames before it are answered first.
    let mut stream = connect(s.tcp);
    let mut wire = frame(PING, 1, b"");
    wire.extend_from_slice(&2u32.to_be_bytes());
    wire.extend_from_slice(b"\x00\x00");
    wire.extend(frame(PING, 1, b""));
    stream.write_all(&wire).unwrap();
    let (buf, eof) = read_until(&mut stream, Duration::from_secs(5), |_| false);
    let frames = parse_frames(&buf);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].op, PING);
    assert_eq!(frames[1].op, ERROR);
    assert_eq!(
        frames[1].payload,
        br#"{"error":{"code":"frame_error"},"registry_version":0}"#
    );
    assert!(eof);
}

#[test]
fn configured_frame_limit() {
    let s = start_with(|c| c.tcp_frame_bytes_max = 16, Default::default());
    let (frames, _) = tcp_exchange(s.tcp, &frame(PING, 1, &[b' '; 16]), 1);
    assert_eq!(frames[0].op, PING);
    let (frames, _) = tcp_exchange(s.tcp, &frame(PING, 1, &[b' '; 17]), 1);
    assert_eq!(frames[0].json()["error"]["code"], "frame_too_large");
    assert_eq!(frames[0].json()["error"]["limit"], 19);
}

#[test]
fn pipelined_pushes_then_read_see_each_other() {
    let s = start();
    s.register_clicks();
    let mut wire = Vec::new();
    for i in 0..200u32 {
        wire.extend(json_frame(
            PUSH,
            &json!({"event": "Click", "body": {"user": "pipe", "amount": i}}),
        ));
    }
    wire.extend(json_frame(
        GET,
        &json!({"table": "UserStats", "key": "pipe"}),
    ));
    let (frames, _) = tcp_exchange(s.tcp, &wire, 201);
    assert_eq!(frames.len(), 201);
    let lsns: Vec<u64> = frames[..200]
        .iter()
        .map(|f| {
            assert_eq!(f.op, PUSH);
            f.json()["ack_lsn"].as_u64().unwrap()
        })
        .collect();
    assert!(lsns.windows(2).all(|w| w[0] < w[1]), "acks in order");
    assert_eq!(frames[200].json(), json!({"clicks": 200, "total": 19900.0}));
}

#[test]
fn a_read_does_not_see_a_later_pipelined_push() {
    let s = start();
    s.register_clicks();
    let mut wire = Vec::new();
    for _ in 0..50 {
        wire.extend(json_frame(
            GET,
            &json!({"table": "UserStats", "key": "order"}),
        ));
        wire.extend(json_frame(
            PUSH,
            &json!({"event": "Click", "body": {"user": "order", "amount": 1}}),
        ));
    }
    let (frames, _) = tcp_exchange(s.tcp, &wire, 100);
    for (i, pair) in frames.chunks(2).enumerate() {
        let row = pair[0].json();
        let seen = row.get("clicks").and_then(|c| c.as_u64()).unwrap_or(0);
        assert_eq!(seen, i as u64, "read {i} sees exactly the pushes before it");
        assert_eq!(pair[1].op, PUSH);
    }
}

#[test]
fn deep_pipelines_past_the_in_flight_bound() {
    // More requests than the per-connection bound, all already buffered: the connection must
    // keep parsing them as the queue drains (regression: it waited for bytes that never came).
    for depth in [1, 4, 128] {
        let s = start_with(|c| c.pipeline_depth = depth, Default::default());
        s.register_clicks();
        let mut wire = Vec::new();
        for i in 0..1000u32 {
            wire.extend(match i % 3 {
                0 => frame(PING, 1, b""),
                1 => json_frame(GET, &json!({"table": "UserStats", "key": "deep"})),
                _ => json_frame(
                    PUSH,
                    &json!({"event": "Click", "body": {"user": "deep", "amount": 1}}),
                ),
            });
        }
        let (frames, _) = tcp_exchange(s.tcp, &wire, 1000);
        assert_eq!(frames.len(), 1000, "depth {depth}");
        let last_get = frames[997].json();
        assert_eq!(last_get["clicks"], 332, "depth {depth}");
    }
}
