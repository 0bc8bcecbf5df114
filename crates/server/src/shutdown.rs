//! Graceful shutdown: one signal every accept loop and connection watches. On it, listeners stop
//! accepting, connections stop reading, answer what they already read, and close; the server
//! then waits (bounded) for them before dropping its runtimes.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::metrics::ServerMetrics;

pub(crate) struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub(crate) fn new() -> (Shutdown, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Shutdown { tx }, rx)
    }

    pub(crate) fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Blocks until every data-plane connection is closed or `grace` has passed. Returns the
    /// number still open.
    pub(crate) fn drain(&self, metrics: &Arc<ServerMetrics>, grace: Duration) -> u64 {
        let deadline = Instant::now() + grace;
        loop {
            let open = metrics.connections_active();
            if open == 0 || Instant::now() >= deadline {
                return open;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Resolves once shutdown was triggered (or the trigger is gone).
pub(crate) async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
