//! Success bodies shared by HTTP and TCP (beava-compat §1.2, §2.2, §3). Members alphabetical.

use model::Value;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// The `server_version` weir reports on the wire (the beava version it is compatible with).
pub const WIRE_SERVER_VERSION: &str = "0.0.6";

/// `POST /ping` ⇒ `{"pong":true,"registry_version":n}`.
#[derive(Serialize, Debug)]
pub struct HttpPong {
    pub pong: bool,
    pub registry_version: u64,
}

/// TCP PING ⇒ op 0x0000 `{"registry_version":n,"server_version":"0.0.6"}`.
#[derive(Serialize, Debug)]
pub struct TcpPong {
    pub registry_version: u64,
    pub server_version: &'static str,
}

/// Push acknowledgement (HTTP 200, TCP op 0x0010).
#[derive(Serialize, Debug)]
pub struct PushAck {
    pub ack_lsn: u64,
    pub idempotent_replay: bool,
    pub registry_version: u64,
}

impl PushAck {
    /// Appends the JSON body, byte for byte what `serde_json` writes for it: one of these
    /// goes out per push, and the generic serializer (escaping the three member names every
    /// time) was ~1 % of the server's CPU at TCP max rate.
    pub fn write_json(&self, out: &mut bytes::BytesMut) {
        let mut digits = itoa::Buffer::new();
        out.extend_from_slice(b"{\"ack_lsn\":");
        out.extend_from_slice(digits.format(self.ack_lsn).as_bytes());
        out.extend_from_slice(if self.idempotent_replay {
            b",\"idempotent_replay\":true,\"registry_version\":"
        } else {
            b",\"idempotent_replay\":false,\"registry_version\":"
        });
        out.extend_from_slice(digits.format(self.registry_version).as_bytes());
        out.extend_from_slice(b"}");
    }
}

/// Reset ⇒ `{"registry_version":n,"reset":true}`.
#[derive(Serialize, Debug)]
pub struct ResetAck {
    pub registry_version: u64,
    pub reset: bool,
}

/// `/health` ⇒ `{"status":"ok"}`, `/ready` ⇒ `{"status":"ready"}`.
#[derive(Serialize, Debug)]
pub struct Status {
    pub status: &'static str,
}

/// Admin `/registry` ⇒ `{"node_count":n,"version":v}`.
#[derive(Serialize, Debug)]
pub struct RegistrySummary {
    pub node_count: u64,
    pub version: u64,
}

/// Legacy `GET /get/:feature/:key` ⇒ `{"value":v}`.
#[derive(Serialize, Debug)]
pub struct LegacyValue<'a> {
    pub value: &'a Value,
}

/// One `batch_get` result: the row, or a per-entry error in its place.
#[derive(Debug, PartialEq)]
pub enum BatchEntry {
    Row(Value),
    /// `{"error":{"code":C,"message":M}}`.
    Error {
        code: &'static str,
        message: String,
    },
}

/// `{"results":[...]}`.
#[derive(Debug)]
pub struct BatchResults<'a>(pub &'a [BatchEntry]);

impl Serialize for BatchResults<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Body<'b> {
            results: Entries<'b>,
        }
        Body {
            results: Entries(self.0),
        }
        .serialize(s)
    }
}

struct Entries<'a>(&'a [BatchEntry]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            match entry {
                BatchEntry::Row(row) => seq.serialize_element(row)?,
                BatchEntry::Error { code, message } => {
                    seq.serialize_element(&crate::error_body::ErrorBody::message(code, message))?
                }
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_json_vec;

    fn json<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_json_vec(v)).unwrap()
    }

    #[test]
    fn bodies_match_beava() {
        assert_eq!(
            json(&HttpPong {
                pong: true,
                registry_version: 0
            }),
            r#"{"pong":true,"registry_version":0}"#
        );
        assert_eq!(
            json(&TcpPong {
                registry_version: 1,
                server_version: WIRE_SERVER_VERSION
            }),
            r#"{"registry_version":1,"server_version":"0.0.6"}"#
        );
        assert_eq!(
            json(&PushAck {
                ack_lsn: 60,
                idempotent_replay: false,
                registry_version: 1
            }),
            r#"{"ack_lsn":60,"idempotent_replay":false,"registry_version":1}"#
        );
        assert_eq!(
            json(&ResetAck {
                registry_version: 2,
                reset: true
            }),
            r#"{"registry_version":2,"reset":true}"#
        );
        assert_eq!(
            json(&RegistrySummary {
                node_count: 0,
                version: 0
            }),
            r#"{"node_count":0,"version":0}"#
        );
    }

    #[test]
    fn batch_results_put_errors_in_place() {
        let entries = vec![
            BatchEntry::Row(Value::Map(vec![("clicks".into(), Value::I64(2))])),
            BatchEntry::Error {
                code: "unknown_table",
                message: "table 'Nope' is not a registered aggregation".into(),
            },
            BatchEntry::Row(Value::Map(vec![])),
        ];
        assert_eq!(
            json(&BatchResults(&entries)),
            r#"{"results":[{"clicks":2},{"error":{"code":"unknown_table","message":"table 'Nope' is not a registered aggregation"}},{}]}"#
        );
    }
}

#[cfg(test)]
mod push_ack_tests {
    use super::PushAck;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn write_json_is_what_serde_json_writes(
            ack_lsn in prop_oneof![any::<u64>(), 0u64..1000, Just(u64::MAX)],
            idempotent_replay: bool,
            registry_version in prop_oneof![any::<u64>(), 0u64..10],
        ) {
            let ack = PushAck { ack_lsn, idempotent_replay, registry_version };
            let mut out = bytes::BytesMut::from(&b"prefix"[..]);
            ack.write_json(&mut out);
            let mut expected = b"prefix".to_vec();
            expected.extend(serde_json::to_vec(&ack).unwrap());
            prop_assert_eq!(&out[..], &expected[..]);
        }
    }
}
