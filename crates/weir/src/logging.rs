//! Logs: one JSON object per line on stdout, event fields flattened to the top level
//! (`{"timestamp","level","message","kind","addr",...,"target"}`), which is what beava's SDK
//! embed mode and test fixtures scan for. `RUST_LOG` overrides the configured level.

use tracing_subscriber::EnvFilter;

pub fn init(level: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
}
