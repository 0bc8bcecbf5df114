//! Writing HTTP/1.1 responses into the connection's output buffer.
//!
//! Data plane (beava's hand-rolled writer): `Content-Type: application/json`, `Content-Length`,
//! `X-Runtime: hand-rolled`, `Connection: keep-alive` (or `close` when the client asked for it).

use bytes::{BufMut, BytesMut};
use protocol::codec;
use serde::Serialize;

/// `400 {"error":{"code":"http_protocol_error"}}`, sent before closing on malformed input.
pub(crate) const PROTOCOL_ERROR_BODY: &[u8] = br#"{"error":{"code":"http_protocol_error"}}"#;
/// The interim response to `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Appends a data-plane response with `body` (already JSON).
pub(crate) fn write(out: &mut BytesMut, status: u16, close: bool, body: &[u8]) {
    write_with(out, status, close, "", body);
}

/// The header beava adds to the answer to a repeated push (`dedupe_key`), whose body is the
/// first push's, byte for byte.
pub(crate) const IDEMPOTENT_REPLAY_HEADER: &str = "X-Beava-Idempotent-Replay: 1\r\n";

/// [`write`] with `extra_headers` (complete lines) after beava's fixed ones.
pub(crate) fn write_with(
    out: &mut BytesMut,
    status: u16,
    close: bool,
    extra_headers: &str,
    body: &[u8],
) {
    // Spelled out rather than through `write!`: one of these goes out per push, and the
    // formatting machinery was ~1 % of the server's CPU at HTTP 32×8.
    let mut digits = itoa::Buffer::new();
    out.reserve(160 + extra_headers.len() + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(digits.format(status).as_bytes());
    out.put_u8(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
    out.extend_from_slice(digits.format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\nX-Runtime: hand-rolled\r\nConnection: ");
    out.extend_from_slice(if close {
        b"close\r\n"
    } else {
        b"keep-alive\r\n"
    });
    out.extend_from_slice(extra_headers.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Serializes `body` as JSON into `scratch` (reused) and appends the response.
pub(crate) fn write_json<T: Serialize + ?Sized>(
    out: &mut BytesMut,
    scratch: &mut BytesMut,
    status: u16,
    close: bool,
    body: &T,
) {
    scratch.clear();
    codec::write_json(scratch, body);
    write(out, status, close, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_beava_bytes() {
        let mut out = BytesMut::new();
        write(&mut out, 200, false, br#"{"status":"ok"}"#);
        assert_eq!(
            &out[..],
            &b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\
               X-Runtime: hand-rolled\r\nConnection: keep-alive\r\n\r\n{\"status\":\"ok\"}"[..]
        );
        out.clear();
        write_with(&mut out, 404, true, IDEMPOTENT_REPLAY_HEADER, b"{}");
        assert_eq!(
            &out[..],
            &b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
               X-Runtime: hand-rolled\r\nConnection: close\r\nX-Beava-Idempotent-Replay: 1\r\n\r\n{}"[..]
        );
    }
}
