//! Server options (the binary fills them from CLI, environment and YAML).

use model::limits::TCP_FRAME_BYTES_DEFAULT;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// HTTP/1.1 data plane (beava default `127.0.0.1:8080`; port 0 ⇒ ephemeral).
    pub http_addr: SocketAddr,
    /// Framed TCP data plane (beava default `127.0.0.1:8081`).
    pub tcp_addr: SocketAddr,
    /// Admin sidecar (beava default `127.0.0.1:8090`).
    pub admin_addr: SocketAddr,
    /// Largest TCP frame payload (`BEAVA_TCP_MAX_FRAME_BYTES`, default 4 MiB).
    pub tcp_frame_bytes_max: usize,
    /// Enables `POST /reset` and `OP_RESET`.
    pub test_mode: bool,
    /// Data-plane worker threads (`BEAVA_IO_THREADS`).
    pub io_threads: usize,
    /// Open connections per data-plane listener; more wait in the kernel's accept queue.
    pub connections_max: usize,
    /// Open connections on the admin listener.
    pub admin_connections_max: usize,
    /// Requests in flight per connection (pipelining depth) before it stops reading. 256: a
    /// pipelining client at 256 in flight is never throttled below its depth (at 128 the TCP
    /// loadgen at 8×256 got ~400 instead of ~730 pushes per fsync and ~25 % less throughput);
    /// the store's queue (`queue_capacity`) bounds the total across connections.
    pub pipeline_depth: usize,
    /// How long shutdown waits for connections to finish their in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tcp_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 8090)),
            tcp_frame_bytes_max: TCP_FRAME_BYTES_DEFAULT,
            test_mode: false,
            io_threads: 2,
            connections_max: 4096,
            admin_connections_max: 64,
            pipeline_depth: 256,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}
