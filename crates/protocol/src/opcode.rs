//! TCP opcodes and content types (beava-compat §2.2), as beava 0.0.6 implements them.

/// `[u16 op]` values. Requests and responses share the numbering; some are response-only.
pub mod op {
    pub const PING: u16 = 0x0000;
    pub const REGISTER: u16 = 0x0001;
    pub const PUSH: u16 = 0x0010;
    /// Reserved by beava; answered with `op_not_implemented`.
    pub const PUSH_SYNC: u16 = 0x0011;
    /// Reserved by beava; answered with `unknown_op`.
    pub const PUSH_MANY: u16 = 0x0012;
    pub const GET: u16 = 0x0020;
    /// Legacy `{feature, keys}`.
    pub const MGET: u16 = 0x0021;
    /// Legacy `{keys, features}`.
    pub const GET_MULTI: u16 = 0x0022;
    /// Response-only: successful reads, reset.
    pub const GET_RESPONSE: u16 = 0x0023;
    pub const BATCH_GET: u16 = 0x0024;
    pub const RESET: u16 = 0x0040;
    /// Response-only: every error frame.
    pub const ERROR_RESPONSE: u16 = 0xFFFF;
}

/// A request opcode the server acts on; anything else is `Unknown` (answered with `unknown_op`,
/// connection kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOp {
    Ping,
    Register,
    Push,
    PushSync,
    Get,
    MGet,
    GetMulti,
    BatchGet,
    Reset,
    Unknown(u16),
}

impl RequestOp {
    pub fn from_u16(code: u16) -> RequestOp {
        match code {
            op::PING => RequestOp::Ping,
            op::REGISTER => RequestOp::Register,
            op::PUSH => RequestOp::Push,
            op::PUSH_SYNC => RequestOp::PushSync,
            op::GET => RequestOp::Get,
            op::MGET => RequestOp::MGet,
            op::GET_MULTI => RequestOp::GetMulti,
            op::BATCH_GET => RequestOp::BatchGet,
            op::RESET => RequestOp::Reset,
            other => RequestOp::Unknown(other),
        }
    }
}

/// `[u8 content_type]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Msgpack,
}

impl ContentType {
    pub const JSON_BYTE: u8 = 0x01;
    pub const MSGPACK_BYTE: u8 = 0x02;

    pub fn from_byte(byte: u8) -> Option<ContentType> {
        match byte {
            Self::JSON_BYTE => Some(ContentType::Json),
            Self::MSGPACK_BYTE => Some(ContentType::Msgpack),
            _ => None,
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ContentType::Json => Self::JSON_BYTE,
            ContentType::Msgpack => Self::MSGPACK_BYTE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ops_round_trip_their_codes() {
        for (code, want) in [
            (0x0000, RequestOp::Ping),
            (0x0001, RequestOp::Register),
            (0x0010, RequestOp::Push),
            (0x0011, RequestOp::PushSync),
            (0x0020, RequestOp::Get),
            (0x0021, RequestOp::MGet),
            (0x0022, RequestOp::GetMulti),
            (0x0024, RequestOp::BatchGet),
            (0x0040, RequestOp::Reset),
        ] {
            assert_eq!(RequestOp::from_u16(code), want);
        }
        // Response-only and reserved codes are not requests.
        for code in [0x0012, 0x0023, 0x0030, 0x0031, 0xFFFF, 0x00AA] {
            assert_eq!(RequestOp::from_u16(code), RequestOp::Unknown(code));
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(ContentType::from_byte(1), Some(ContentType::Json));
        assert_eq!(ContentType::from_byte(2), Some(ContentType::Msgpack));
        assert_eq!(ContentType::from_byte(0), None);
        assert_eq!(ContentType::from_byte(9), None);
        assert_eq!(ContentType::Msgpack.byte(), 2);
    }
}
