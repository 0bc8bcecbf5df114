//! Frame codec against committed hex fixtures (`test_data/*.hex`, shared with client tests as
//! cross-language vectors) and a property test: the decoder never panics, never over-reserves,
//! and never loses or invents bytes, whatever it is fed.

use bytes::BytesMut;
use model::Value;
use proptest::prelude::*;
use protocol::frame::{self, FrameError};
use protocol::response::{PushAck, TcpPong, WIRE_SERVER_VERSION};
use protocol::{codec, op, ContentType, ErrorBody};

const MAX: usize = 4 * 1024 * 1024;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/test_data/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    hex.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn decode_one(bytes: &[u8]) -> frame::Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = frame::decode(&mut buf, MAX).unwrap().unwrap();
    assert!(buf.is_empty(), "fixture holds exactly one frame");
    frame
}

fn encode_body(op: u16, content_type: ContentType, body: &impl serde::Serialize) -> Vec<u8> {
    let mut out = BytesMut::new();
    let start = frame::begin(&mut out, op, content_type.byte());
    codec::write_body(&mut out, content_type, body);
    frame::finish(&mut out, start);
    out.to_vec()
}

#[test]
fn request_fixtures_decode() {
    let ping = decode_one(&fixture("ping_request"));
    assert_eq!((ping.op, ping.content_type), (op::PING, 1));
    assert!(ping.payload.is_empty());

    let push = decode_one(&fixture("push_request_json"));
    assert_eq!(push.op, op::PUSH);
    let envelope =
        protocol::push_envelope::decode_tcp_push(ContentType::Json, &push.payload).unwrap();
    assert_eq!(envelope.event, "Click");

    let push = decode_one(&fixture("push_request_msgpack"));
    let envelope =
        protocol::push_envelope::decode_tcp_push(ContentType::Msgpack, &push.payload).unwrap();
    assert_eq!(
        envelope.fields,
        Value::Map(vec![
            ("user".into(), Value::str("t1")),
            ("amount".into(), Value::I64(1))
        ])
    );

    let get = decode_one(&fixture("get_request_msgpack"));
    let req: protocol::read_request::HttpGetReq =
        codec::decode(ContentType::Msgpack, &get.payload).unwrap();
    assert_eq!((req.table.as_str(), req.key.as_str()), ("UserStats", "t1"));
}

#[test]
fn response_fixtures_encode_byte_for_byte() {
    assert_eq!(
        encode_body(
            op::PING,
            ContentType::Json,
            &TcpPong {
                registry_version: 1,
                server_version: WIRE_SERVER_VERSION
            }
        ),
        fixture("ping_response")
    );
    assert_eq!(
        encode_body(
            op::PUSH,
            ContentType::Json,
            &PushAck {
                ack_lsn: 1,
                idempotent_replay: false,
                registry_version: 1
            }
        ),
        fixture("push_ack")
    );
    let row = Value::Map(vec![
        ("clicks".into(), Value::I64(2)),
        ("total".into(), Value::F64(3.0)),
    ]);
    assert_eq!(
        encode_body(op::GET_RESPONSE, ContentType::Msgpack, &row),
        fixture("get_response_msgpack")
    );
    assert_eq!(
        encode_body(
            op::ERROR_RESPONSE,
            ContentType::Json,
            &ErrorBody::Message {
                code: "unknown_op",
                message: "opcode 0x00aa is not recognised by this server",
                op: Some(0xaa)
            }
        ),
        fixture("unknown_op_error")
    );
    assert_eq!(
        encode_body(
            op::ERROR_RESPONSE,
            ContentType::Json,
            &ErrorBody::FrameTooLarge {
                declared: 4194308,
                limit: 4194307,
                message: "declared frame length 4194308 exceeds limit 4194307"
            }
        ),
        fixture("frame_too_large_error")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes fed in arbitrary chunks: no panic; every decoded frame is well-formed;
    /// capacity never grows past one maximal frame; an error is final.
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                            chunk in 1usize..64,
                            max in 0usize..256) {
        let mut buf = BytesMut::new();
        let mut consumed = 0usize;
        'feed: for piece in bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match frame::decode(&mut buf, max) {
                    Ok(Some(f)) => {
                        prop_assert!(f.payload.len() <= max);
                        consumed += 7 + f.payload.len();
                    }
                    Ok(None) => break,
                    Err(FrameError::TooLarge { declared, limit }) => {
                        prop_assert!(u64::from(declared) > limit);
                        break 'feed;
                    }
                    Err(FrameError::LengthUnderflow { declared }) => {
                        prop_assert!(declared < 3);
                        break 'feed;
                    }
                }
                prop_assert!(buf.capacity() <= 4 + 3 + max + 512 + 64);
            }
        }
        prop_assert!(consumed <= bytes.len());
    }

    /// Whatever is encoded decodes to the same frame, however it is split.
    #[test]
    fn encode_decode_round_trip(op in any::<u16>(), ct in any::<u8>(),
                                payload in proptest::collection::vec(any::<u8>(), 0..300),
                                split in 0usize..310) {
        let mut wire = BytesMut::new();
        frame::encode(&mut wire, op, ct, &payload);
        let split = split.min(wire.len());
        let mut buf = BytesMut::from(&wire[..split]);
        let early = frame::decode(&mut buf, 300).unwrap();
        if split < wire.len() {
            prop_assert!(early.is_none());
            buf.extend_from_slice(&wire[split..]);
        }
        let decoded = match early { Some(f) => f, None => frame::decode(&mut buf, 300).unwrap().unwrap() };
        prop_assert_eq!(decoded.op, op);
        prop_assert_eq!(decoded.content_type, ct);
        prop_assert_eq!(&decoded.payload[..], &payload[..]);
    }
}
