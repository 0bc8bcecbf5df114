//! The TCP frame codec: `[u32 length BE][u16 op BE][u8 content_type][payload]`.
//!
//! `length` counts op + content type + payload (so at least 3). Requests and responses share the
//! layout. Decoding is check-before-parse: the length prefix is validated against the maximum
//! *before* anything is reserved, and a frame is cut out of the buffer only once all of it is
//! there. A length below 3 or above `max_payload + 3` is a fatal error (the connection closes).
//! See `docs/design/protocol.md`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes before the payload: length (4) + op (2) + content type (1).
pub const FRAME_HEADER_BYTES: usize = 7;
/// The part of the header that `length` counts: op (2) + content type (1).
pub const FRAME_LENGTH_MIN: u32 = 3;

/// One decoded frame. `payload` shares the connection's read buffer (no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub op: u16,
    pub content_type: u8,
    pub payload: Bytes,
}

/// A framing error. Both are fatal: the byte stream can no longer be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// `length > max_payload + 3`: `{"code":"frame_too_large",...}`, then close.
    TooLarge { declared: u32, limit: u64 },
    /// `length < 3`: `{"code":"frame_error"}`, then close.
    LengthUnderflow { declared: u32 },
}

/// Cuts the next whole frame off the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete (after reserving room for the rest of it,
/// which is bounded by `max_payload`). Never panics, whatever the bytes.
pub fn decode(buf: &mut BytesMut, max_payload: usize) -> Result<Option<Frame>, FrameError> {
    let Some(length) = peek_length(buf) else {
        return Ok(None);
    };
    let limit = max_payload as u64 + u64::from(FRAME_LENGTH_MIN);
    if length < FRAME_LENGTH_MIN {
        return Err(FrameError::LengthUnderflow { declared: length });
    }
    if u64::from(length) > limit {
        return Err(FrameError::TooLarge {
            declared: length,
            limit,
        });
    }
    // In range: `length <= max_payload + 3`, so this cannot overflow or over-allocate.
    let total = 4 + length as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(total);
    frame.advance(4);
    let op = frame.get_u16();
    let content_type = frame.get_u8();
    Ok(Some(Frame {
        op,
        content_type,
        payload: frame.freeze(),
    }))
}

fn peek_length(buf: &[u8]) -> Option<u32> {
    let prefix: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(prefix))
}

/// Appends a whole frame to `out`.
pub fn encode(out: &mut BytesMut, op: u16, content_type: u8, payload: &[u8]) {
    let start = begin(out, op, content_type);
    out.extend_from_slice(payload);
    finish(out, start);
}

/// Starts a frame whose payload will be written straight into `out` (no intermediate buffer);
/// returns the offset to hand to [`finish`].
pub fn begin(out: &mut BytesMut, op: u16, content_type: u8) -> usize {
    let start = out.len();
    out.put_u32(0);
    out.put_u16(op);
    out.put_u8(content_type);
    start
}

/// Patches the length prefix of the frame started at `start` once its payload is written.
pub fn finish(out: &mut BytesMut, start: usize) {
    let length = out.len() - start - 4;
    let length = u32::try_from(length).expect("frame payload is bounded far below u32::MAX");
    out[start..start + 4].copy_from_slice(&length.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 4 * 1024 * 1024;

    #[test]
    fn empty_ping_round_trips() {
        let mut out = BytesMut::new();
        encode(&mut out, 0x0000, 0x01, b"");
        assert_eq!(&out[..], &[0, 0, 0, 3, 0, 0, 1]);
        let frame = decode(&mut out, MAX).unwrap().unwrap();
        assert_eq!(frame.op, 0);
        assert_eq!(frame.content_type, 1);
        assert!(frame.payload.is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut whole = BytesMut::new();
        encode(&mut whole, 0x0010, 0x01, b"{\"a\":1}");
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut part, MAX), Ok(None), "cut at {cut}");
            assert_eq!(
                part.len(),
                cut,
                "nothing consumed before the frame is whole"
            );
        }
    }

    #[test]
    fn two_frames_back_to_back() {
        let mut buf = BytesMut::new();
        encode(&mut buf, 0x0000, 0x01, b"");
        encode(&mut buf, 0x0020, 0x02, b"\x80");
        let first = decode(&mut buf, MAX).unwrap().unwrap();
        let second = decode(&mut buf, MAX).unwrap().unwrap();
        assert_eq!((first.op, second.op), (0x0000, 0x0020));
        assert_eq!(&second.payload[..], b"\x80");
        assert_eq!(decode(&mut buf, MAX), Ok(None));
    }

    #[test]
    fn length_below_three_is_fatal() {
        for length in 0u32..3 {
            let mut buf = BytesMut::from(&length.to_be_bytes()[..]);
            assert_eq!(
                decode(&mut buf, MAX),
                Err(FrameError::LengthUnderflow { declared: length })
            );
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reserving() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let capacity = buf.capacity();
        assert_eq!(
            decode(&mut buf, MAX),
            Err(FrameError::TooLarge {
                declared: u32::MAX,
                limit: MAX as u64 + 3
            })
        );
        assert_eq!(buf.capacity(), capacity);
        // Exactly at the limit is fine (and waits for the payload).
        let mut at_limit = BytesMut::from(&((MAX as u32) + 3).to_be_bytes()[..]);
        assert_eq!(decode(&mut at_limit, MAX), Ok(None));
        let mut over = BytesMut::from(&((MAX as u32) + 4).to_be_bytes()[..]);
        assert!(matches!(
            decode(&mut over, MAX),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn begin_finish_patches_the_length() {
        let mut out = BytesMut::new();
        out.extend_from_slice(b"junk");
        let start = begin(&mut out, 0xFFFF, 0x01);
        out.extend_from_slice(b"{}");
        finish(&mut out, start);
        assert_eq!(&out[4..], &[0, 0, 0, 5, 0xFF, 0xFF, 1, b'{', b'}']);
    }
}
