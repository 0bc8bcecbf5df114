//! In-process integration tests of the server crate: a real store and all three listeners on
//! port 0, driven with raw bytes. Grouped by what can go wrong.

mod admin;
mod concurrency;
mod http_api;
mod http_malformed;
mod support;
mod tcp;
