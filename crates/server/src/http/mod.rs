//! The HTTP/1.1 data plane (hand-rolled on `httparse`, as beava's): parsing, routes, responses.

pub(crate) mod connection;
pub(crate) mod date;
pub(crate) mod parse;
pub(crate) mod response;
pub(crate) mod routes;
