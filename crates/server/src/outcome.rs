//! How a write that did not produce its own outcome is answered, the same on HTTP and TCP:
//! a full writer queue is `503 overloaded`, a store shutting down is `503 unavailable`, an
//! engine panic is `500 internal_error`.

use crate::pipeline::CommandResult;
use store::{Outcome, SubmitError};

/// `(http status, code, reason)` of a failed write.
pub(crate) struct WriteFailure {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) reason: String,
}

pub(crate) fn failure(result: Option<CommandResult>) -> WriteFailure {
    match result {
        Some(Err(SubmitError::Overloaded)) => WriteFailure {
            status: 503,
            code: "overloaded",
            reason: "the writer queue is full; retry with backoff".into(),
        },
        Some(Err(SubmitError::Stopped)) => WriteFailure {
            status: 503,
            code: "unavailable",
            reason: "the server is shutting down".into(),
        },
        Some(Ok(Outcome::Failed { reason })) => WriteFailure {
            status: 500,
            code: "internal_error",
            reason,
        },
        _ => WriteFailure {
            status: 500,
            code: "internal_error",
            reason: "unexpected command outcome".into(),
        },
    }
}

/// The engine decodes `/register` from a JSON value, so its serde messages lack beava's
/// `at line L column C` suffix. For `invalid_registration` at `<body>`, re-decode the raw bytes
/// to recover the positioned message (only if it is the same message plus a position).
pub(crate) fn positioned_register_reason(
    error: &model::RegisterError,
    body: &[u8],
) -> Option<String> {
    if error.code != "invalid_registration" || error.path != "<body>" {
        return None;
    }
    let positioned = serde_json::from_slice::<engine::registry::spec::RegisterRequest>(body)
        .err()?
        .to_string();
    (positioned != error.reason && positioned.starts_with(&error.reason)).then_some(positioned)
}

/// The 200 body of a register, the same on HTTP and TCP: the diff of a dry run, or the applied
/// summary (beava-compat §4.5).
pub(crate) struct RegisterReply<'a>(pub(crate) &'a engine::RegisterOutcome);

impl serde::Serialize for RegisterReply<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use protocol::register_body::{DiffBody, DryRunBody, RegisterSuccess};
        match self.0 {
            engine::RegisterOutcome::DryRun { diff } => DryRunBody {
                diff: DiffBody(diff),
                would_apply: false,
            }
            .serialize(s),
            engine::RegisterOutcome::Applied {
                registry_version,
                registered_descriptors,
                added,
                already_present,
            } => RegisterSuccess {
                added,
                already_present,
                registered_descriptors,
                registry_version: *registry_version,
                status: "ok",
            }
            .serialize(s),
        }
    }
}
