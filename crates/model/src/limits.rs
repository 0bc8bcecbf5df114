//! Every bound weir enforces, in one place, with their relations asserted.

/// HTTP request body cap (beava: 4 MiB, hard-coded).
pub const HTTP_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// HTTP header section cap (beava: 8 KiB) and header count cap (beava: 64).
pub const HTTP_HEADER_BYTES_MAX: usize = 8 * 1024;
pub const HTTP_HEADERS_MAX: usize = 64;
/// Default TCP frame payload cap (beava: `tcp.max_frame_bytes`, 4 MiB).
pub const TCP_FRAME_BYTES_DEFAULT: usize = 4 * 1024 * 1024;

/// Nesting depth of a decoded JSON/msgpack value (pushed `json` fields, params).
pub const VALUE_DEPTH_MAX: usize = 64;
/// Longest pushed string, in bytes. Larger strings are refused with `value_too_large`.
pub const STRING_BYTES_MAX: usize = 64 * 1024;
/// Most members of one pushed object or array.
pub const COLLECTION_LEN_MAX: usize = 10_000;

/// Expression nesting depth (beava: 512).
pub const EXPR_DEPTH_MAX: usize = 512;
/// Longest expression source, in bytes.
pub const EXPR_SOURCE_BYTES_MAX: usize = 64 * 1024;

/// Window sub-buckets (beava: 64).
pub const WINDOW_BUCKETS: usize = 64;
/// Largest `n` for buffer ops and `k` for `top_k` (beava: 1024).
pub const OP_N_MAX: usize = 1024;

/// Registry bounds: nodes per payload, features per table, name length (beava: 128 chars).
pub const REGISTER_NODES_MAX: usize = 10_000;
pub const NAME_CHARS_MAX: usize = 128;

/// Requests in one `batch_get` (beava has no cap; weir bounds it).
pub const BATCH_GET_REQUESTS_MAX: usize = 10_000;
/// Legacy TCP MGET/GET_MULTI keys x features cap (beava: 10 000).
pub const MULTI_GET_CELLS_MAX: usize = 10_000;

const _: () = assert!(STRING_BYTES_MAX < HTTP_BODY_BYTES_MAX);
const _: () = assert!(EXPR_SOURCE_BYTES_MAX < HTTP_BODY_BYTES_MAX);
const _: () = assert!(TCP_FRAME_BYTES_DEFAULT == HTTP_BODY_BYTES_MAX);
