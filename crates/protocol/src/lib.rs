//! weir's wire formats: TCP frames and opcodes, HTTP/TCP request and response bodies, and the
//! error envelopes, all byte-compatible with beava 0.0.6 (`shared/spec/beava-compat.md` §1–§3).
//!
//! No sockets here. Decoders are bounded and never panic on hostile input: a frame is decoded
//! only once it is fully buffered, and a declared length above the maximum is refused before
//! anything is allocated. Response members are written in alphabetical order, as beava's are.

pub mod codec;
pub mod error_body;
pub mod frame;
mod json_push;
mod msgpack_push;
pub mod opcode;
pub mod push_envelope;
pub mod read_request;
pub mod register_body;
pub mod response;
#[cfg(test)]
mod test_values;

pub use error_body::ErrorBody;
pub use frame::{Frame, FrameError};
pub use msgpack_push::PushNameCache;
pub use opcode::{op, ContentType, RequestOp};
pub use push_envelope::{PushDecodeError, PushEnvelope};
