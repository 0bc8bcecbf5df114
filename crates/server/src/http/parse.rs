//! Incremental HTTP/1.1 request parsing on top of `httparse`: the head, then the body framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (no framing ⇒ empty body).
//!
//! Limits (beava's): a head of at most 8 KiB and 64 headers, a body of at most 4 MiB. Anything
//! malformed or over a limit is a [`ParseError`]; the connection answers
//! `400 {"error":{"code":"http_protocol_error"}}` and closes. The parser consumes input as it
//! goes, so a large body arriving in many reads is scanned once.

use bytes::{Buf, Bytes, BytesMut};
use compact_str::CompactString;
use model::limits::{HTTP_BODY_BYTES_MAX, HTTP_HEADERS_MAX, HTTP_HEADER_BYTES_MAX};

/// Longest chunk-size line (hex size plus extensions) accepted in a chunked body.
const CHUNK_LINE_BYTES_MAX: usize = 1024;

/// The parts of a request head the server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// As sent (beava echoes it in 405 bodies, e.g. `"get"`).
    pub method: CompactString,
    /// The request target as sent, query included (echoed in 404/405 bodies).
    pub target: CompactString,
    /// HTTP/1.0 (the response status line stays `HTTP/1.1`, as beava's).
    pub http10: bool,
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub close: bool,
    /// Media type (before `;`) is `application/json`, case-insensitively.
    pub json_content_type: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// A complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head: Head,
    pub body: Bytes,
}

/// Why the byte stream is not a valid request (all answered with `http_protocol_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    Malformed,
    HeadTooLarge,
    TooManyHeaders,
    BodyTooLarge,
    BadContentLength,
    UnsupportedTransferEncoding,
    BadChunk,
}

/// One parsing step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Request(Request),
    /// The head asked for `100 Continue` and the body is not there yet: send the interim
    /// response (in order), then keep reading.
    Continue,
    Incomplete,
}

#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked(Chunked),
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        framing: Framing,
        continue_sent: bool,
    },
}

/// Per-connection parser state.
#[derive(Debug)]
pub struct Parser {
    state: State,
}

impl Default for Parser {
    fn default() -> Self {
        Parser { state: State::Head }
    }
}

impl Parser {
    /// Advances over `input`, consuming what it has parsed.
    pub fn step(&mut self, input: &mut BytesMut) -> Result<Step, ParseError> {
        if let State::Head = self.state {
            let Some((head, framing)) = parse_head(input)? else {
                return Ok(Step::Incomplete);
            };
            self.state = State::Body {
                head,
                framing,
                continue_sent: false,
            };
        }
        let State::Body {
            head,
            framing,
            continue_sent,
        } = &mut self.state
        else {
            unreachable!("head parsed above");
        };
        let body = match framing {
            Framing::Length(length) => {
                if input.len() < *length {
                    input.reserve(*length - input.len());
                    None
                } else {
                    Some(input.split_to(*length).freeze())
                }
            }
            Framing::Chunked(chunked) => chunked.decode(input)?,
        };
        match body {
            Some(body) => {
                let State::Body { head, .. } = std::mem::replace(&mut self.state, State::Head)
                else {
                    unreachable!("in body state");
                };
                Ok(Step::Request(Request { head, body }))
            }
            None if head.expect_continue && !*continue_sent => {
                *continue_sent = true;
                Ok(Step::Continue)
            }
            None => Ok(Step::Incomplete),
        }
    }

    /// Bytes are buffered for a request that is not complete yet.
    pub fn in_request(&self, input: &BytesMut) -> bool {
        !input.is_empty() || matches!(self.state, State::Body { .. })
    }
}

fn parse_head(input: &mut BytesMut) -> Result<Option<(Head, Framing)>, ParseError> {
    // Uninitialized: zeroing 64 headers (2 KiB) per request showed in profiles.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; HTTP_HEADERS_MAX];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(input, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if input.len() > HTTP_HEADER_BYTES_MAX {
                return Err(ParseError::HeadTooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(_) => return Err(ParseError::Malformed),
    };
    if head_len > HTTP_HEADER_BYTES_MAX {
        return Err(ParseError::HeadTooLarge);
    }
    let http10 = req.version == Some(0);
    let mut close = false;
    let mut keep_alive = false;
    let mut json_content_type = false;
    let mut expect_continue = false;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for header in req.headers.iter() {
        let name = header.name;
        // Checked only for the headers read below.
        let value = || std::str::from_utf8(header.value).map_err(|_| ParseError::Malformed);
        if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(header.value)?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(ParseError::BadContentLength);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            let last = value()?.rsplit(',').next().unwrap_or("").trim();
            chunked = last.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = value()?.split(';').next().unwrap_or("").trim();
            json_content_type = media.eq_ignore_ascii_case("application/json");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value()?.split(',') {
                let token = token.trim();
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value()?.trim().eq_ignore_ascii_case("100-continue");
        }
    }
    let framing = if transfer_encoding {
        if !chunked {
            return Err(ParseError::UnsupportedTransferEncoding);
        }
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        Framing::Chunked(Chunked::default())
    } else {
        let length = content_length.unwrap_or(0);
        if length > HTTP_BODY_BYTES_MAX {
            return Err(ParseError::BodyTooLarge);
        }
        Framing::Length(length)
    };
    let head = Head {
        method: CompactString::from(req.method.unwrap_or_default()),
        target: CompactString::from(req.path.unwrap_or_default()),
        http10,
        close: close || (http10 && !keep_alive),
        json_content_type,
        expect_continue,
    };
    input.advance(head_len);
    Ok(Some((head, framing)))
}

fn parse_content_length(value: &[u8]) -> Result<usize, ParseError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadContentLength);
    }
    // More than 4 MiB is refused anyway; avoid overflow on absurd values.
    if digits.len() > 12 {
        return Err(ParseError::BodyTooLarge);
    }
    let mut length = 0usize;
    for d in digits {
        length = length * 10 + usize::from(d - b'0');
    }
    Ok(length)
}

/// Incremental chunked-body decoder.
#[derive(Debug, Default)]
struct Chunked {
    body: BytesMut,
    state: ChunkState,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailers,
}

impl Chunked {
    /// Consumes what it can; returns the body once the last chunk and trailers are in.
    fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Bytes>, ParseError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let (consumed, size) = match httparse::parse_chunk_size(input) {
                        Ok(httparse::Status::Complete(done)) => done,
                        Ok(httparse::Status::Partial) => {
                            if input.len() > CHUNK_LINE_BYTES_MAX {
                                return Err(ParseError::BadChunk);
                            }
                            return Ok(None);
                        }
                        Err(_) => return Err(ParseError::BadChunk),
                    };
                    let size = usize::try_from(size).map_err(|_| ParseError::BodyTooLarge)?;
                    if size > HTTP_BODY_BYTES_MAX - self.body.len() {
                        return Err(ParseError::BodyTooLarge);
                    }
                    input.advance(consumed);
                    if size == 0 {
                        self.state = ChunkState::Trailers;
                    } else {
                        self.body.reserve(size);
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = remaining.min(input.len());
                    self.body.extend_from_slice(&input[..take]);
                    input.advance(take);
                    self.state = if take == remaining {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - take)
                    };
                }
                ChunkState::DataEnd => {
                    if input.len() < 2 {
                        return Ok(None);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(ParseError::BadChunk);
                    }
                    input.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
                        if self.trailer_bytes + input.len() > HTTP_HEADER_BYTES_MAX {
                            return Err(ParseError::HeadTooLarge);
                        }
                        return Ok(None);
                    };
                    self.trailer_bytes += end + 2;
                    if self.trailer_bytes > HTTP_HEADER_BYTES_MAX {
                        return Err(ParseError::HeadTooLarge);
                    }
                    input.advance(end + 2);
                    if end == 0 {
                        return Ok(Some(std::mem::take(&mut self.body).freeze()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Vec<Request>, ParseError> {
        let mut parser = Parser::default();
        let mut input = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match parser.step(&mut input)? {
                Step::Request(r) => out.push(r),
                Step::Continue => {}
                Step::Incomplete => return Ok(out),
            }
        }
    }

    /// Feeds `bytes` one byte at a time: the same requests come out as when fed at once.
    fn parse_bytewise(bytes: &[u8]) -> Result<Vec<Request>, ParseError> {
        let mut parser = Parser::default();
        let mut input = BytesMut::new();
        let mut out = Vec::new();
        for b in bytes {
            input.extend_from_slice(&[*b]);
            loop {
                match parser.step(&mut input)? {
                    Step::Request(r) => out.push(r),
                    Step::Continue => {}
                    Step::Incomplete => break,
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn simple_and_pipelined() {
        let wire = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /ping HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
        for requests in [parse_all(wire).unwrap(), parse_bytewise(wire).unwrap()] {
            assert_eq!(requests.len(), 2);
            assert_eq!(requests[0].head.method, "GET");
            assert_eq!(requests[0].head.target, "/health");
            assert!(requests[0].body.is_empty());
            assert_eq!(&requests[1].body[..], b"{}");
            assert!(!requests[1].head.close);
        }
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let wire =
            b"POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n\
                     2;foo=bar\r\n{\"\r\na\r\nevent\":\"A\"\r\n1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n";
        for requests in [parse_all(wire).unwrap(), parse_bytewise(wire).unwrap()] {
            assert_eq!(requests.len(), 1);
            assert_eq!(&requests[0].body[..], br#"{"event":"A"}"#);
        }
    }

    #[test]
    fn malformed_and_oversized() {
        let err = |bytes: &[u8]| parse_all(bytes).unwrap_err();
        assert_eq!(err(b"GARBAGE\r\n\r\n"), ParseError::Malformed);
        assert_eq!(
            err(b"GET /h HTTP/1.1\r\nbad header\r\n\r\n"),
            ParseError::Malformed
        );
        assert_eq!(err(b"GET /h HTTP/2.0\r\n\r\n"), ParseError::Malformed);
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
            ParseError::BadContentLength
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            ParseError::BadContentLength
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
            ParseError::BadContentLength
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nContent-Length: 4194305\r\n\r\n"),
            ParseError::BodyTooLarge
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            ParseError::BodyTooLarge
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ParseError::UnsupportedTransferEncoding
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ParseError::BadChunk
        );
        assert_eq!(
            err(b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX"),
            ParseError::BadChunk
        );
        let mut big = b"GET /h HTTP/1.1\r\nX-A: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(err(&big), ParseError::HeadTooLarge);
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(err(&big), ParseError::HeadTooLarge);
        let mut many = b"GET /h HTTP/1.1\r\n".to_vec();
        for i in 0..65 {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(err(&many), ParseError::TooManyHeaders);
    }

    #[test]
    fn sixty_four_headers_are_fine() {
        let mut wire = b"GET /h HTTP/1.1\r\n".to_vec();
        for i in 0..64 {
            wire.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&wire).unwrap().len(), 1);
    }

    #[test]
    fn chunked_body_over_the_limit_is_refused_early() {
        let wire = b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n";
        assert_eq!(parse_all(wire).unwrap_err(), ParseError::BodyTooLarge);
    }

    #[test]
    fn header_semantics() {
        let one = |bytes: &[u8]| parse_all(bytes).unwrap().remove(0).head;
        let h = one(
            b"POST /register HTTP/1.1\r\nContent-Type: Application/JSON; charset=utf-8\r\n\r\n",
        );
        assert!(h.json_content_type);
        let h = one(b"POST /register HTTP/1.1\r\nContent-Type: text/plain\r\n\r\n");
        assert!(!h.json_content_type);
        assert!(one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").close);
        assert!(one(b"GET / HTTP/1.0\r\n\r\n").close);
        assert!(!one(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").close);
        assert_eq!(one(b"GET /a?b=c HTTP/1.1\r\n\r\n").target, "/a?b=c");
    }

    #[test]
    fn expect_continue_is_signalled_once() {
        let mut parser = Parser::default();
        let mut input = BytesMut::from(
            &b"POST /ping HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"[..],
        );
        assert_eq!(parser.step(&mut input), Ok(Step::Continue));
        assert_eq!(parser.step(&mut input), Ok(Step::Incomplete));
        input.extend_from_slice(b"{}");
        assert!(matches!(parser.step(&mut input), Ok(Step::Request(_))));
        // Body already there: no interim response.
        let mut input = BytesMut::from(
            &b"POST /ping HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"[..],
        );
        assert!(matches!(parser.step(&mut input), Ok(Step::Request(_))));
    }
}
