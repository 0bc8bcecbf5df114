//! The framed TCP data plane (beava's binary protocol).

pub(crate) mod connection;
