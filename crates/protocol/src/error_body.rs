//! Error envelopes, shaped per code exactly as beava 0.0.6 shapes them (beava-compat §1.3, §2.2).
//!
//! beava has no single error shape: `{"error":{"code":C}}` for push and query errors (TCP push
//! errors add a top-level `registry_version`), `{"error":{"code","path","reason"},
//! "registry_version"}` for register errors, `{"error":{"code","message",...}}` for the rich TCP
//! errors, and a bare `{"code":"unsupported"}` for an undecodable TCP push envelope. Members are
//! written in alphabetical order, as beava's (sorted) JSON maps are.

use crate::register_body::DiffBody;
use model::RegisterError;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// beava's hint for legacy `POST /get` body shapes.
pub const HTTP_LEGACY_GET_HINT: &str =
    "POST /get expects {table, key, features?}; received legacy \
     {keys, features} shape — see docs/http-api.md#post-get";
/// beava's hint for legacy `OP_GET` payload shapes.
pub const TCP_LEGACY_GET_HINT: &str = "OP_GET expects {table, key, features?}; received legacy \
     {keys, features} or {feature, key} shape — see docs/wire-spec.md#op_get-0x0020";
/// beava's reason for a reset outside test mode.
pub const RESET_DISABLED_REASON: &str = "OP_RESET requires server test_mode (set \
     BEAVA_TEST_MODE=1 or pass Config { test_mode: true } at server construction). See \
     docs/error-codes.md.";

/// One error response body.
#[derive(Clone, Copy, Debug)]
pub enum ErrorBody<'a> {
    /// `{"error":{"code":C}}`, plus top-level `registry_version` when given (TCP push errors).
    Code {
        code: &'a str,
        registry_version: Option<u64>,
    },
    /// `{"error":{"code":C,"reason":R}}` (+ `registry_version`): internal errors and the codes
    /// weir adds (`overloaded`, `integer_out_of_range`, `value_too_large`, ...).
    Reason {
        code: &'a str,
        reason: &'a str,
        registry_version: Option<u64>,
    },
    /// Register failures: `path`+`reason`, or `diff`+`reason` for `force_required`, or only
    /// `reason` for `wal_unavailable`; always with top-level `registry_version`.
    Register {
        error: &'a RegisterError,
        registry_version: u64,
    },
    /// 415 on `/register` without a JSON content type.
    UnsupportedMediaType { registry_version: u64 },
    /// `{"error":{"code":"not_found","path":P}}`.
    NotFound { path: &'a str },
    /// `{"error":{"code":"method_not_allowed","method":M,"path":P}}`.
    MethodNotAllowed { method: &'a str, path: &'a str },
    /// `{"error":{"code":C,"message":M}}` (+ `"op":N`): legacy shapes, unknown/unimplemented ops,
    /// unsupported content types, per-entry batch errors.
    Message {
        code: &'a str,
        message: &'a str,
        op: Option<u16>,
    },
    /// `{"error":{"code":"frame_too_large","declared":D,"limit":L,"message":M}}`.
    FrameTooLarge {
        declared: u32,
        limit: u64,
        message: &'a str,
    },
    /// The TCP push-envelope catch-all: `{"code":"unsupported"}` (no `error` wrapper).
    Unsupported,
}

impl<'a> ErrorBody<'a> {
    pub fn code(code: &'a str) -> Self {
        ErrorBody::Code {
            code,
            registry_version: None,
        }
    }

    pub fn internal(reason: &'a str) -> Self {
        ErrorBody::Reason {
            code: "internal_error",
            reason,
            registry_version: None,
        }
    }

    pub fn message(code: &'a str, message: &'a str) -> Self {
        ErrorBody::Message {
            code,
            message,
            op: None,
        }
    }
}

/// The inner `error` object.
struct Inner<'b, 'a>(&'b ErrorBody<'a>);

impl Serialize for Inner<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match *self.0 {
            ErrorBody::Code { code, .. } => map.serialize_entry("code", code)?,
            ErrorBody::Reason { code, reason, .. } => {
                map.serialize_entry("code", code)?;
                map.serialize_entry("reason", reason)?;
            }
            ErrorBody::Register { error, .. } => {
                map.serialize_entry("code", error.code)?;
                if let Some(diff) = &error.diff {
                    map.serialize_entry("diff", &DiffBody(diff))?;
                } else if error.code != "wal_unavailable" {
                    map.serialize_entry("path", &error.path)?;
                }
                map.serialize_entry("reason", &error.reason)?;
            }
            ErrorBody::UnsupportedMediaType { .. } => {
                map.serialize_entry("code", "unsupported_media_type")?;
                map.serialize_entry("path", "/register")?;
                map.serialize_entry("reason", "expected application/json")?;
            }
            ErrorBody::NotFound { path } => {
                map.serialize_entry("code", "not_found")?;
                map.serialize_entry("path", path)?;
            }
            ErrorBody::MethodNotAllowed { method, path } => {
                map.serialize_entry("code", "method_not_allowed")?;
                map.serialize_entry("method", method)?;
                map.serialize_entry("path", path)?;
            }
            ErrorBody::Message { code, message, op } => {
                map.serialize_entry("code", code)?;
                map.serialize_entry("message", message)?;
                if let Some(op) = op {
                    map.serialize_entry("op", &op)?;
                }
            }
            ErrorBody::FrameTooLarge {
                declared,
                limit,
                message,
            } => {
                map.serialize_entry("code", "frame_too_large")?;
                map.serialize_entry("declared", &declared)?;
                map.serialize_entry("limit", &limit)?;
                map.serialize_entry("message", message)?;
            }
            ErrorBody::Unsupported => unreachable!("no error wrapper"),
        }
        map.end()
    }
}

impl Serialize for ErrorBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let ErrorBody::Unsupported = self {
            map.serialize_entry("code", "unsupported")?;
            return map.end();
        }
        map.serialize_entry("error", &Inner(self))?;
        let version = match *self {
            ErrorBody::Code {
                registry_version, ..
            }
            | ErrorBody::Reason {
                registry_version, ..
            } => registry_version,
            ErrorBody::Register {
                registry_version, ..
            }
            | ErrorBody::UnsupportedMediaType { registry_version } => Some(registry_version),
            _ => None,
        };
        if let Some(version) = version {
            map.serialize_entry("registry_version", &version)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_json_vec;
    use model::{Diff, DiffEntry};

    fn json(body: ErrorBody<'_>) -> String {
        String::from_utf8(to_json_vec(&body)).unwrap()
    }

    // Every expected string below is a body captured from beava 0.0.6.
    #[test]
    fn shapes_match_beava_byte_for_byte() {
        assert_eq!(
            json(ErrorBody::code("event_not_found")),
            r#"{"error":{"code":"event_not_found"}}"#
        );
        assert_eq!(
            json(ErrorBody::Code {
                code: "event_not_found",
                registry_version: Some(2)
            }),
            r#"{"error":{"code":"event_not_found"},"registry_version":2}"#
        );
        assert_eq!(
            json(ErrorBody::internal(
                "missing field `key` at line 1 column 22"
            )),
            r#"{"error":{"code":"internal_error","reason":"missing field `key` at line 1 column 22"}}"#
        );
        assert_eq!(
            json(ErrorBody::NotFound { path: "/nope" }),
            r#"{"error":{"code":"not_found","path":"/nope"}}"#
        );
        assert_eq!(
            json(ErrorBody::MethodNotAllowed {
                method: "GET",
                path: "/push"
            }),
            r#"{"error":{"code":"method_not_allowed","method":"GET","path":"/push"}}"#
        );
        assert_eq!(
            json(ErrorBody::UnsupportedMediaType {
                registry_version: 0
            }),
            r#"{"error":{"code":"unsupported_media_type","path":"/register","reason":"expected application/json"},"registry_version":0}"#
        );
        assert_eq!(
            json(ErrorBody::Message {
                code: "unknown_op",
                message: "opcode 0x00aa is not recognised by this server",
                op: Some(170)
            }),
            r#"{"error":{"code":"unknown_op","message":"opcode 0x00aa is not recognised by this server","op":170}}"#
        );
        assert_eq!(
            json(ErrorBody::FrameTooLarge {
                declared: 4194308,
                limit: 4194307,
                message: "declared frame length 4194308 exceeds limit 4194307"
            }),
            r#"{"error":{"code":"frame_too_large","declared":4194308,"limit":4194307,"message":"declared frame length 4194308 exceeds limit 4194307"}}"#
        );
        assert_eq!(json(ErrorBody::Unsupported), r#"{"code":"unsupported"}"#);
        assert_eq!(
            json(ErrorBody::message(
                "unsupported_request_shape",
                HTTP_LEGACY_GET_HINT
            )),
            "{\"error\":{\"code\":\"unsupported_request_shape\",\"message\":\"POST /get expects \
             {table, key, features?}; received legacy {keys, features} shape — see \
             docs/http-api.md#post-get\"}}"
        );
        assert_eq!(
            json(ErrorBody::Reason {
                code: "reset_disabled_in_production",
                reason: RESET_DISABLED_REASON,
                registry_version: None
            }),
            "{\"error\":{\"code\":\"reset_disabled_in_production\",\"reason\":\"OP_RESET requires \
             server test_mode (set BEAVA_TEST_MODE=1 or pass Config { test_mode: true } at server \
             construction). See docs/error-codes.md.\"}}"
        );
    }

    #[test]
    fn register_errors() {
        let invalid = RegisterError::new(
            "invalid_registration",
            "<body>",
            "missing field `nodes` at line 1 column 2",
        );
        assert_eq!(
            json(ErrorBody::Register {
                error: &invalid,
                registry_version: 0
            }),
            r#"{"error":{"code":"invalid_registration","path":"<body>","reason":"missing field `nodes` at line 1 column 2"},"registry_version":0}"#
        );
        let mut force = RegisterError::new(
            "force_required",
            "",
            "Destructive registry change requires force=true. See diff for details.",
        );
        force.diff = Some(Box::new(Diff {
            additive: vec![],
            destructive: vec![DiffEntry::AggRemoval {
                table: "UserStats".into(),
                agg: "".into(),
            }],
            already_present: vec!["Click".into()],
        }));
        assert_eq!(
            json(ErrorBody::Register {
                error: &force,
                registry_version: 1
            }),
            r#"{"error":{"code":"force_required","diff":{"additive":[],"already_present":["Click"],"destructive":[{"agg":"","kind":"agg_removal","table":"UserStats"}]},"reason":"Destructive registry change requires force=true. See diff for details."},"registry_version":1}"#
        );
        let wal = RegisterError::new("wal_unavailable", "", "disk on fire");
        assert_eq!(
            json(ErrorBody::Register {
                error: &wal,
                registry_version: 3
            }),
            r#"{"error":{"code":"wal_unavailable","reason":"disk on fire"},"registry_version":3}"#
        );
    }
}
