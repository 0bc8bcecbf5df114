//! agg: windows and aggregation operators (beava-compat §6).
//!
//! `compile` turns one wire aggregation (`{"op", "params"}`) into an immutable [`AggSpec`];
//! the spec builds ([`AggSpec::new_state`]), updates ([`AggSpec::apply`]) and reads
//! ([`AggSpec::read`]) the per-entity [`AggState`]. `governance_check` is the §7.3
//! register-time pre-check. The crate does no IO and never reads the clock: event and query
//! times come in as arguments. `where` is the engine's business: it passes the predicate result
//! to `apply`.
//!
//! All 55 beava op strings are implemented. Values match beava 0.0.6 bit for bit where the
//! oracle could check it (see `tests/oracle.rs`); the one known divergence is *which* values
//! `reservoir_sample` keeps (same algorithm, different random stream).
//!
//! Process-wide counters for `/metrics`: [`bucket_reclaims_total`]
//! (`beava_bucket_reclaim_total`) and [`entropy_categories_capped_total`]
//! (`beava_entropy_categories_capped_total`, also `beava_lifetime_op_cap_hit_total`).
//!
//! States persist through [`AggSpec::encode_state`] / [`AggSpec::decode_state`] (`codec`: a
//! versioned, hand-written binary format that treats its input as hostile).
//!
//! Layout: `catalogue` (the op table), `compile` + `params` (register-time validation),
//! `governance` (§7.3), `spec` (dispatch), `state` (the compact state enum), `scalar` (compact
//! stored values), `window` + `duration` (64-bucket processing-time windows), `ops/*` (one
//! file per operator family).

mod catalogue;
mod codec;
mod compile;
mod duration;
mod governance;
mod ops;
mod params;
mod scalar;
mod spec;
mod state;
pub mod window;

pub use codec::{
    encoded_state_len, StateDecodeError, EVENTS_MAX, STATE_FORMAT_VERSION, TIME_ABS_MAX_MS,
};
pub use compile::{compile, CompileContext};
pub use governance::governance_check;
pub use ops::distinct::entropy_categories_capped_total;
pub use spec::AggSpec;
pub use state::{AggState, PrefetchDepth};
pub use window::bucket_reclaims_total;

/// Every op string `compile` accepts (beava §6.2 order), e.g. for tests that must cover them all.
pub fn op_names() -> impl Iterator<Item = &'static str> {
    catalogue::OPS.iter().map(|info| info.name)
}
