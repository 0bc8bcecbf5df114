//! Waiting for SIGTERM or SIGINT (the SDK tears down with SIGTERM, then SIGKILL after 5 s).

use tokio::signal::unix::{signal, SignalKind};

/// Blocks the calling thread until SIGTERM or SIGINT; returns the signal's name.
pub fn wait_for_termination() -> std::io::Result<&'static str> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    })
}
