//! What every connection task shares: the store handle, the server options it needs, the
//! shutdown signal and the server's own counters.

use crate::metrics::ServerMetrics;
use std::sync::Arc;
use store::StoreHandle;
use tokio::sync::watch;

pub(crate) struct Ctx {
    pub(crate) store: StoreHandle,
    pub(crate) test_mode: bool,
    pub(crate) tcp_frame_bytes_max: usize,
    pub(crate) pipeline_depth: usize,
    pub(crate) metrics: Arc<ServerMetrics>,
    /// Flips to `true` once when the server shuts down.
    pub(crate) shutdown: watch::Receiver<bool>,
}
