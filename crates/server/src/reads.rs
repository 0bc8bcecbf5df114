//! Read execution shared by HTTP and TCP: `get`, `batch_get` and the legacy feature-addressed
//! reads, against the store's engine under its read lock, with beava's error semantics.

use engine::{ReadTime, RowPrefetch};
use model::{QueryError, Value};
use protocol::read_request::{BatchGetBody, GetMultiReq, HttpGetReq, MGetReq};
use protocol::response::BatchEntry;
use store::read::{self as store_read, LegacyRead, LegacyReadError};
use store::StoreHandle;

/// Reads of more rows than this leave the I/O worker (see [`heavy`]).
const HEAVY_READ_ROWS: usize = 32;

/// Runs a read of `rows` rows and the rendering of its answer: inline when small; otherwise
/// with `block_in_place`, so the other connections of this I/O worker move to another thread
/// instead of waiting behind a batch of thousands of rows.
pub(crate) fn heavy<R>(rows: usize, f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if rows > HEAVY_READ_ROWS && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// `get` at `max(watermark, now)`.
pub(crate) fn get(store: &StoreHandle, req: &HttpGetReq) -> Result<Value, QueryError> {
    let now_ms = store.now_ms();
    store.read(|engine| {
        engine.get(
            &req.table,
            &req.key,
            req.features.as_deref(),
            ReadTime::Now(now_ms),
        )
    })
}

/// How many rows ahead a batch read hints each stage of a row's memory
/// (`Engine::prefetch_row`): random keys miss the cache three times each, and hinted a few rows
/// apart those misses overlap.
const ROW_PREFETCH_STAGES: [(usize, RowPrefetch); 3] = [
    (6, RowPrefetch::Slots),
    (4, RowPrefetch::Entity),
    (2, RowPrefetch::States),
];

/// `batch_get` at the last-push watermark: per-entry `unknown_table` / `key_parse_failure` in
/// place of the row; a feature filter naming an unknown feature fails the whole batch with the
/// returned `internal_error` reason (beava-compat §1.5).
pub(crate) fn batch_get(
    store: &StoreHandle,
    body: &BatchGetBody,
) -> Result<Vec<BatchEntry>, String> {
    if body.requests.iter().any(|entry| entry.used_entity_id) {
        tracing::warn!(
            kind = "batch_get.entity_id_deprecated",
            "batch_get entry uses the deprecated `entity_id`; send `key`"
        );
    }
    // Entry by entry, yielding to the writer in between: a batch has no size cap, and a
    // thousand wide rows must not hold every push up for their whole evaluation.
    store.read_session(|session| {
        let mut results = Vec::with_capacity(body.requests.len());
        for (i, entry) in body.requests.iter().enumerate() {
            for (ahead, stage) in ROW_PREFETCH_STAGES {
                if let Some(next) = body.requests.get(i + ahead) {
                    session.engine().prefetch_row(&next.table, &next.key, stage);
                }
            }
            let row = session.engine().get(
                &entry.table,
                &entry.key,
                entry.features.as_deref(),
                ReadTime::Watermark,
            );
            results.push(match row {
                Ok(row) => BatchEntry::Row(row),
                Err(e @ QueryError::FeatureNotFound { .. }) => return Err(e.message()),
                Err(e) => BatchEntry::Error {
                    code: e.code(),
                    message: e.message(),
                },
            });
            session.yield_to_writer();
        }
        Ok(results)
    })
}

/// Legacy `GET /get/:feature/:key`.
pub(crate) fn legacy_get(
    store: &StoreHandle,
    feature_or_table: &str,
    key: &str,
) -> Result<LegacyRead, LegacyReadError> {
    let now_ms = store.now_ms();
    store
        .read(|engine| store_read::legacy_get(engine, feature_or_table, key, ReadTime::Now(now_ms)))
}

/// Legacy TCP `MGET`: `{key: {feature: value}}`; errors are `internal_error` reasons.
pub(crate) fn mget(store: &StoreHandle, req: &MGetReq) -> Result<Value, String> {
    multi(store, &req.keys, std::slice::from_ref(&req.feature))
}

/// Legacy TCP `GET_MULTI`.
pub(crate) fn get_multi(store: &StoreHandle, req: &GetMultiReq) -> Result<Value, String> {
    multi(store, &req.keys, &req.features)
}

fn multi(store: &StoreHandle, keys: &[String], features: &[String]) -> Result<Value, String> {
    let now_ms = store.now_ms();
    store
        .read_session(|session| {
            store_read::multi_get(session, keys, features, ReadTime::Now(now_ms))
        })
        .map_err(|e| e.reason())
}
