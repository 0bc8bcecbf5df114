//! agg: windows and aggregation operators (beava-compat §6).
//!
//! `compile` turns one wire aggregation (`{"op", "params"}`) into an immutable [`AggSpec`];
//! the spec builds, updates and reads the per-entity [`AggState`]. The crate does no IO and
//! never reads the clock: event and query times come in as arguments.
//!
//! Layout: `catalogue` (the op table), `compile` + `params` (register-time validation),
//! `governance` (§7.3 pre-check), `spec` (dispatch), `state` (compact state enum), `window`
//! (64-bucket processing-time windows), `ops/*` (one file per operator family).

mod catalogue;
mod compile;
mod duration;
mod governance;
mod ops;
mod params;
mod scalar;
mod spec;
mod state;
pub mod window;

pub use compile::{compile, CompileContext};
pub use governance::governance_check;
pub use ops::distinct::entropy_categories_capped_total;
pub use spec::AggSpec;
pub use state::AggState;
pub use window::bucket_reclaims_total;
