//! The server's own counters and the Prometheus text of `/metrics`: every beava 0.0.6 series
//! (same names, help texts and types) followed by weir's.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use store::StatusSnapshot;

/// Connection and request counters of the data plane.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    pub(crate) http_connections_active: AtomicU64,
    pub(crate) tcp_connections_active: AtomicU64,
    pub(crate) http_connections_total: AtomicU64,
    pub(crate) tcp_connections_total: AtomicU64,
    pub(crate) http_requests_total: AtomicU64,
    pub(crate) tcp_frames_total: AtomicU64,
    pub(crate) protocol_errors_total: AtomicU64,
}

impl ServerMetrics {
    pub(crate) fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn decr(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Open data-plane connections (HTTP + TCP).
    pub fn connections_active(&self) -> u64 {
        self.http_connections_active.load(Ordering::Relaxed)
            + self.tcp_connections_active.load(Ordering::Relaxed)
    }
}

struct Series<'a> {
    out: &'a mut String,
}

impl Series<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn int(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.head(name, kind, help);
        let _ = writeln!(self.out, "{name} {value}");
    }

    /// A Prometheus histogram from per-bucket (not cumulative) counts; `counts` has one more
    /// slot than `bounds` (the `+Inf` bucket).
    fn histogram(&mut self, name: &str, help: &str, bounds: &[f64], counts: &[u64], sum: f64) {
        self.head(name, "histogram", help);
        let mut cumulative = 0u64;
        for (bound, count) in bounds.iter().zip(counts) {
            cumulative += count;
            let _ = writeln!(self.out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += counts.get(bounds.len()).copied().unwrap_or(0);
        let _ = writeln!(self.out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(self.out, "{name}_sum {sum:.6}");
        let _ = writeln!(self.out, "{name}_count {cumulative}");
    }

    fn seconds(&mut self, name: &str, help: &str, value: f64) {
        self.head(name, "gauge", help);
        let _ = writeln!(self.out, "{name} {value:.6}");
    }
}

/// Renders `/metrics` (`text/plain; version=0.0.4`).
pub(crate) fn render(status: &StatusSnapshot, server: &ServerMetrics) -> String {
    let mut out = String::with_capacity(6 * 1024);
    let mut s = Series { out: &mut out };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

    // beava 0.0.6's series, verbatim.
    s.int(
        "beava_registry_version",
        "gauge",
        "Registry version (monotonic).",
        status.registry_version,
    );
    s.int(
        "beava_node_count",
        "gauge",
        "Number of registered aggregation nodes.",
        status.node_count,
    );
    s.head(
        "beava_runtime_kind",
        "gauge",
        "Data-plane runtime (1=active). Labels: runtime.",
    );
    let _ = writeln!(s.out, "beava_runtime_kind{{runtime=\"mio\"}} 1");
    s.int(
        "beava_entropy_categories_capped_total",
        "counter",
        "Total new-category insertions dropped due to max_categories cap.",
        status.entropy_categories_capped_total,
    );
    s.int(
        "beava_cold_entity_evictions_total",
        "counter",
        "Total cold-TTL entity evictions since process start. Increments when an entity arrives \
         after `now_ms - last_seen_ms > cold_after_ms`.",
        status.cold_entity_evictions_total,
    );
    s.int(
        "beava_lifetime_op_cap_hit_total",
        "counter",
        "Total cap-hit events across lifetime aggregation operators. Currently aggregates entropy \
         `categories_capped`; top_k displacements + histogram bucket drops join when their \
         internals expose hooks.",
        status.entropy_categories_capped_total,
    );
    s.int(
        "beava_entity_count_resident",
        "gauge",
        "Current resident entity count across all sources / aggregations. Snapshot refreshed by \
         the apply path post-update; admin reads via a process-static atomic load (zero-lock).",
        status.entity_count_resident,
    );
    s.int(
        "beava_bucket_reclaim_total",
        "counter",
        "Total trailing-bucket evictions on windowed operators. Increments on each \
         WindowedOp::evict_oldest_bucket call (64-bucket cap).",
        status.bucket_reclaim_total,
    );
    s.int(
        "beava_bytes_per_entity_p99",
        "gauge",
        "Static estimate of per-entity memory footprint (~7 KB for a rich 30-feature pack).",
        7000,
    );
    let us = |v: u64| v as f64 / 1e6;
    s.seconds(
        "beava_snapshot_last_duration_seconds",
        "Wall-clock duration of the last successful snapshot.",
        us(status.snapshot_last_duration_us),
    );
    s.int(
        "beava_snapshot_last_bytes",
        "gauge",
        "Bytes written by the last successful snapshot, including snapshot header and body.",
        status.snapshot_last_bytes,
    );
    s.seconds(
        "beava_snapshot_last_fsync_seconds",
        "File plus parent-directory fsync time for the last successful snapshot.",
        us(status.snapshot_last_fsync_us),
    );

    // weir's own.
    s.int(
        "weir_engine_events_applied_total",
        "counter",
        "Pushed events applied to feature state.",
        status.events_applied_total,
    );
    s.int(
        "weir_store_pushes_acked_total",
        "counter",
        "Pushes validated, applied and acknowledged.",
        status.pushes_acked_total,
    );
    s.int(
        "weir_store_pushes_refused_total",
        "counter",
        "Pushes refused by schema validation (nothing applied).",
        status.pushes_refused_total,
    );
    s.int(
        "weir_store_last_lsn",
        "gauge",
        "Sequence number of the last acknowledged push.",
        status.last_lsn,
    );
    s.int(
        "weir_store_commands_total",
        "counter",
        "Commands executed by the writer.",
        status.commands_total,
    );
    s.int(
        "weir_store_batches_total",
        "counter",
        "Writer batches (one engine write-lock hold each).",
        status.batches_total,
    );
    s.int(
        "weir_store_queue_depth",
        "gauge",
        "Commands waiting for the writer at the end of its last batch.",
        status.queue_depth,
    );
    s.int(
        "weir_store_queue_capacity",
        "gauge",
        "Bound of the writer queue; submissions beyond it get 503 overloaded.",
        status.queue_capacity,
    );
    s.int(
        "weir_wal_enabled",
        "gauge",
        "1 if pushes are logged to the WAL (0 with --memory-only).",
        u64::from(status.wal_enabled),
    );
    s.int(
        "weir_wal_relaxed_ack_window_ms",
        "gauge",
        "Relaxed ack mode: acked pushes not yet fdatasync'ed may be lost on power failure for up to this many ms (0: acks wait for fdatasync).",
        status.wal_relaxed_window_ms,
    );
    s.int(
        "weir_wal_failed",
        "gauge",
        "1 after an fsync failure: fail-stop for writes until restart (readiness is 503).",
        u64::from(status.wal_failed),
    );
    s.int(
        "weir_wal_storage_full",
        "gauge",
        "1 while the last WAL write hit ENOSPC (pushes get 503 storage_full; readiness is 503).",
        u64::from(status.storage_full),
    );
    s.int(
        "weir_wal_fsyncs_total",
        "counter",
        "fdatasync calls on WAL segments (group commits).",
        status.wal_fsyncs_total,
    );
    s.histogram(
        "weir_wal_fsync_seconds",
        "Latency of the WAL's batch fdatasync calls (each one acknowledges a group commit).",
        store::status::WAL_FSYNC_BOUNDS_SECONDS,
        &status.wal_fsync_histogram,
        status.wal_fsync_nanos_total as f64 / 1e9,
    );
    s.int(
        "weir_wal_records_total",
        "counter",
        "Records appended to the WAL since start (the pushes of a writer run share one).",
        status.wal_records_total,
    );
    s.int(
        "weir_wal_lsns_total",
        "counter",
        "Mutations (pushes, registers, resets) appended to the WAL since start, one LSN each.",
        status.wal_lsns_total,
    );
    s.int(
        "weir_wal_bytes_written_total",
        "counter",
        "Bytes written to WAL segments since start.",
        status.wal_bytes_written_total,
    );
    s.int(
        "weir_wal_rotations_total",
        "counter",
        "WAL segment rotations since start.",
        status.wal_rotations_total,
    );
    s.int(
        "weir_wal_torn_tails_repaired_total",
        "counter",
        "Incomplete trailing WAL records cut (and quarantined) at the last start.",
        status.wal_torn_tails_repaired_total,
    );
    s.int(
        "weir_wal_records_quarantined_total",
        "counter",
        "Intact WAL records that could not be applied at the last start (quarantined once).",
        status.wal_records_quarantined_total,
    );
    s.int(
        "weir_snapshots_total",
        "counter",
        "Snapshots written and made durable since start.",
        status.snapshots_total,
    );
    s.int(
        "weir_snapshot_failures_total",
        "counter",
        "Snapshot attempts that failed (the WAL was kept whole).",
        status.snapshot_failures_total,
    );
    s.int(
        "weir_snapshot_in_progress",
        "gauge",
        "1 while a snapshot is being encoded and written.",
        u64::from(status.snapshot_in_progress),
    );
    s.int(
        "weir_snapshot_last_lsn",
        "gauge",
        "LSN covered by the newest durable snapshot (loaded at start or written since).",
        status.snapshot_last_lsn,
    );
    s.seconds(
        "weir_snapshot_last_capture_seconds",
        "Time the writer spent taking the last point-in-time view (its whole snapshot stall).",
        us(status.snapshot_last_capture_us),
    );
    s.int(
        "weir_wal_segments_removed_total",
        "counter",
        "WAL segments retired because the older retained snapshot covers them (deleted, or kept to be recycled into a spare).",
        status.wal_segments_removed_total,
    );
    s.int(
        "weir_wal_bytes_removed_total",
        "counter",
        "Bytes of the WAL segments retired.",
        status.wal_bytes_removed_total,
    );
    s.int(
        "weir_wal_segments_retained",
        "gauge",
        "WAL segments on disk after the last reclamation, the active one included.",
        status.wal_segments_retained,
    );
    s.int(
        "weir_wal_bytes_retained",
        "gauge",
        "Bytes of WAL segments after the last reclamation, the active segment included (not the spare nor the up to four retired segments waiting to become spares).",
        status.wal_bytes_retained,
    );
    s.int(
        "weir_recovery_snapshot_lsn",
        "gauge",
        "LSN of the snapshot the last start loaded (0: none).",
        status.recovery_snapshot_lsn,
    );
    s.int(
        "weir_recovery_snapshots_damaged",
        "gauge",
        "Snapshots the last start found damaged, skipped and set aside.",
        status.recovery_snapshots_damaged,
    );
    s.int(
        "weir_recovery_records_replayed",
        "gauge",
        "WAL records replayed into the engine at the last start.",
        status.recovery_records_replayed,
    );
    s.int(
        "weir_store_overloaded_total",
        "counter",
        "Commands refused with overloaded because the writer queue was full.",
        status.overloaded_total,
    );
    s.int(
        "weir_store_engine_panics_total",
        "counter",
        "Commands on which the engine panicked (answered 500; the writer survived).",
        status.engine_panics_total,
    );
    s.int(
        "weir_store_writer_running",
        "gauge",
        "1 while the writer thread takes commands.",
        u64::from(status.writer_running),
    );
    s.int(
        "weir_server_http_connections_active",
        "gauge",
        "Open HTTP data-plane connections.",
        load(&server.http_connections_active),
    );
    s.int(
        "weir_server_tcp_connections_active",
        "gauge",
        "Open framed-TCP connections.",
        load(&server.tcp_connections_active),
    );
    s.int(
        "weir_server_http_connections_total",
        "counter",
        "HTTP data-plane connections accepted.",
        load(&server.http_connections_total),
    );
    s.int(
        "weir_server_tcp_connections_total",
        "counter",
        "Framed-TCP connections accepted.",
        load(&server.tcp_connections_total),
    );
    s.int(
        "weir_server_http_requests_total",
        "counter",
        "HTTP data-plane requests parsed.",
        load(&server.http_requests_total),
    );
    s.int(
        "weir_server_tcp_frames_total",
        "counter",
        "TCP frames decoded.",
        load(&server.tcp_frames_total),
    );
    s.int(
        "weir_server_protocol_errors_total",
        "counter",
        "Connections closed for malformed HTTP or fatal frame errors.",
        load(&server.protocol_errors_total),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beava_series_come_first_and_verbatim() {
        let text = render(&StatusSnapshot::default(), &ServerMetrics::default());
        assert!(text.starts_with(
            "# HELP beava_registry_version Registry version (monotonic).\n\
             # TYPE beava_registry_version gauge\nbeava_registry_version 0\n"
        ));
        assert!(text.contains("beava_runtime_kind{runtime=\"mio\"} 1\n"));
        assert!(text.contains("beava_snapshot_last_duration_seconds 0.000000\n"));
        for name in [
            "beava_node_count",
            "beava_entropy_categories_capped_total",
            "beava_cold_entity_evictions_total",
            "beava_lifetime_op_cap_hit_total",
            "beava_entity_count_resident",
            "beava_bucket_reclaim_total",
            "beava_bytes_per_entity_p99",
            "beava_snapshot_last_bytes",
            "beava_snapshot_last_fsync_seconds",
            "weir_store_queue_depth",
        ] {
            assert!(text.contains(&format!("\n{name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
}
