//! Waiting for SIGTERM or SIGINT (the SDK tears down with SIGTERM, then SIGKILL after 5 s).

use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT, caught from the moment this is created: a signal that arrives before
/// [`Termination::wait`] is called is not lost (and does not kill the process unhandled).
pub struct Termination {
    runtime: Runtime,
    term: Signal,
    int: Signal,
}

impl Termination {
    /// Installs the handlers. Call it before announcing the listeners: a client that sends
    /// SIGTERM as soon as it has read `server.http_bound` must get a graceful shutdown.
    pub fn listen() -> std::io::Result<Termination> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (term, int) = {
            let _entered = runtime.enter();
            (
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            )
        };
        Ok(Termination { runtime, term, int })
    }

    /// Blocks the calling thread until SIGTERM or SIGINT; returns the signal's name.
    pub fn wait(mut self) -> &'static str {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        })
    }
}
