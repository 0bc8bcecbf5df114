//! Background threads (snapshot writing, segment preallocation) yield the CPU to the threads
//! that acknowledge pushes and answer probes.
//!
//! On a 2-core machine a snapshot thread encoding at full speed takes a core from the writer,
//! the I/O threads and the admin plane; at nice +10 the kernel gives it about a tenth of a
//! contended core's share (CFS weights 110 vs 1024) and all of an idle one, so snapshots still
//! finish under full load, just later.

/// Nice value of background threads.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to `BACKGROUND_NICE` (Linux: nice values
/// are per thread). Failure is logged and ignored: priority is an optimisation, not a rule.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(tid), BACKGROUND_NICE) {
            tracing::debug!(error = %error, "could not lower a background thread's priority");
        }
    }
}
