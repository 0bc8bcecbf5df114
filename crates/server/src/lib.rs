//! weir's network front: the HTTP/1.1 data plane, the framed TCP data plane and the admin
//! sidecar, wire-compatible with beava 0.0.6.
//!
//! One task per connection drives a FIFO pipeline (`pipeline.rs`): requests are parsed as they
//! arrive, writes go to the store's single writer (batched across connections), reads run in
//! order, responses are written in order. The admin plane has its own thread and runtime and
//! reads only atomics. No per-request tasks or threads.

mod admin;
mod config;
mod context;
mod http;
mod listener;
mod metrics;
mod outcome;
mod pipeline;
mod push;
mod reads;
mod server;
mod shutdown;
mod tcp;

pub use config::ServerConfig;
pub use metrics::ServerMetrics;
pub use server::{AdminServer, RunningServer};
