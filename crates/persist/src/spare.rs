//! Segment preallocation: the *spare*, a zero-filled, fsynced file of `segment_bytes_target`
//! bytes named `spare.wal.tmp`, which the next rotation turns into a segment (header written
//! over its first 32 zeros, fsync, rename into place, directory fsync). Appends then overwrite
//! space that is already allocated and written, so they never change the file size and an
//! `fdatasync` does not have to write the inode (decision 0009).
//!
//! The zero fill is real writes, not `fallocate`: on ext4 a fallocated range is an *unwritten
//! extent*, and the first write into each block still has to convert it, which is a metadata
//! update inside the commit's `fdatasync` (measured by `examples/fsync_probe.rs`).
//!
//! Where the spare is prepared (`Preallocate`):
//! - `Background`: on the `weir-wal-spare` thread, requested at open and after each rotation that
//!   consumed the spare. The log never waits for it: a rotation that finds no spare ready creates
//!   a plain, growing segment as before (and adopts the spare later, see `Wal::append`).
//! - `Inline`: synchronously on the thread that owns the log, at the same points. Deterministic
//!   IO, for tests and simulations; it puts the zero fill on the append that rotates.
//!
//! Recycling (decision 0018): a segment that a snapshot made obsolete is, instead of being
//! unlinked, renamed to `recycle-{segment}.wal.tmp` (up to `RECYCLED_SEGMENTS_MAX` of them, the
//! newest) and becomes the file of a later spare: renamed to the spare's name, cut to
//! `segment_bytes_target` if longer, and zero-filled over its whole length like a new file. The
//! zeros then overwrite blocks that are allocated and usually still in the page cache, so
//! preparing a spare allocates neither disk blocks nor memory pages — on a VM, faulting in fresh
//! page-cache pages was most of the zero fill's cost (7 % of the server's CPU at 500k pushes/s).
//! The old records never survive into the spare: the fill covers every byte before the spare is
//! ready, exactly as for a new file.
//!
//! Crash safety: the spare is a `.wal.tmp` file, which recovery never reads and an open removes,
//! so a crash at any point of its preparation or before the rename leaves nothing behind but
//! that file. Its header is fsynced before the rename, so the name only ever points at a
//! complete header followed by zeros: a valid, empty segment. A recycled segment is offered for
//! reuse only after the directory fsync that made its rename durable, so its old name cannot
//! come back after a crash with zeros written over its records.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::disk::{write_all_at, Disk, DiskFile};
use crate::segment::{SegmentId, SPARE_FILE_NAME, TMP_SUFFIX};

/// Zero-fill write size.
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;
/// The spare is fdatasynced every this many bytes while it is filled. It bounds the dirty page
/// cache, and it bounds what a commit waits for: a device that runs requests in order (a VM's
/// virtio disk) makes the log's next flush wait behind every zero written before it, so one
/// 16 MiB burst added 5–15 ms to the acks of that moment (ack p99.9 at TCP 8×256: 15–31 ms with
/// 16 MiB, 12–17 ms with 1 MiB; docs/BENCHMARKS.md, session 10).
const ZERO_SYNC_EVERY_BYTES: u64 = 1024 * 1024;

/// Obsolete segments kept for reuse as spares, at most. With the server's defaults a snapshot
/// is due every 256 MiB of log, four 64 MiB segments, so four cover the rotations until the
/// next one; each costs up to `segment_bytes_target` of disk while it waits.
pub(crate) const RECYCLED_SEGMENTS_MAX: usize = 4;

/// A ready spare: `bytes` zeros, durable, open for writing.
#[derive(Debug)]
pub(crate) struct Spare {
    pub path: PathBuf,
    pub file: Box<dyn DiskFile>,
    pub bytes: u64,
    /// Prepared from a recycled segment rather than a new file.
    pub recycled: bool,
}

/// The spare's path in `dir`.
pub(crate) fn spare_path(dir: &Path) -> PathBuf {
    dir.join(SPARE_FILE_NAME)
}

/// The name an obsolete segment is renamed to while it waits to become a spare. It ends in
/// `.wal.tmp`: recovery never reads it and an open removes it.
pub(crate) fn recycled_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!("recycle-{}{TMP_SUFFIX}", id.file_name()))
}

/// Obsolete segments waiting to become spares (already renamed to `recycled_path`, the rename
/// durable), oldest first, at most `RECYCLED_SEGMENTS_MAX`.
#[derive(Debug, Default)]
pub(crate) struct RecyclePool {
    paths: VecDeque<PathBuf>,
}

impl RecyclePool {
    /// Adds `path`; returns the files that no longer fit (the oldest), for the caller to remove.
    pub fn push(&mut self, path: PathBuf) -> Vec<PathBuf> {
        self.paths.push_back(path);
        let excess = self.paths.len().saturating_sub(RECYCLED_SEGMENTS_MAX);
        self.paths.drain(..excess).collect()
    }

    /// The newest recycled segment (the likeliest to still be in the page cache).
    pub fn pop(&mut self) -> Option<PathBuf> {
        self.paths.pop_back()
    }

    /// Removes every waiting file (best effort).
    pub fn clear(&mut self, disk: &dyn Disk) {
        for path in self.paths.drain(..) {
            let _ = disk.remove_file(&path);
        }
    }
}

/// Makes the spare and fills it with `bytes` zeros, then fdatasyncs it: from `recycled` (an
/// obsolete segment, see the module doc) if given and usable, else from a new file. Stops early
/// (with an error) once `stop` is set. On error the file is removed, best effort.
pub(crate) fn prepare(
    disk: &dyn Disk,
    dir: &Path,
    bytes: u64,
    stop: &AtomicBool,
    recycled: Option<PathBuf>,
) -> Result<Spare, String> {
    let path = spare_path(dir);
    let reused = recycled.and_then(|from| reuse(disk, &from, &path, bytes));
    let recycled = reused.is_some();
    let result = fill(disk, &path, bytes, stop, reused);
    if result.is_err() {
        let _ = disk.remove_file(&path);
    }
    result.map(|file| Spare {
        path,
        file,
        bytes,
        recycled,
    })
}

/// Renames the recycled segment `from` to the spare's name `to` and opens it, cut to `bytes` if
/// it is longer. `None` (and `from` removed, best effort) if any step fails: the caller then
/// creates a new file, which replaces whatever this left at `to`.
fn reuse(disk: &dyn Disk, from: &Path, to: &Path, bytes: u64) -> Option<Box<dyn DiskFile>> {
    let opened = disk.rename(from, to).and_then(|()| {
        let mut file = disk.open_file(to)?;
        if disk.file_len(to)? > bytes {
            file.set_len(bytes)?;
        }
        Ok(file)
    });
    match opened {
        Ok(file) => Some(file),
        Err(error) => {
            tracing::warn!(segment = %from.display(), error = %error, "wal.spare_recycle_failed");
            let _ = disk.remove_file(from);
            None
        }
    }
}

fn fill(
    disk: &dyn Disk,
    path: &Path,
    bytes: u64,
    stop: &AtomicBool,
    reused: Option<Box<dyn DiskFile>>,
) -> Result<Box<dyn DiskFile>, String> {
    let describe = |what: &str, error: std::io::Error| {
        format!("{what} of spare segment {} failed: {error}", path.display())
    };
    let mut file = match reused {
        Some(file) => file,
        None => disk
            .create_file(path)
            .map_err(|error| describe("create", error))?,
    };
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut offset = 0u64;
    let mut unsynced = 0u64;
    while offset < bytes {
        if stop.load(Ordering::Relaxed) {
            return Err("spare preparation stopped".to_string());
        }
        let n = zeros.len().min((bytes - offset) as usize);
        write_all_at(file.as_mut(), offset, &zeros[..n])
            .map_err(|(_, error)| describe("zero fill", error))?;
        offset += n as u64;
        unsynced += n as u64;
        if unsynced >= ZERO_SYNC_EVERY_BYTES && offset < bytes {
            file.sync_data().map_err(|error| describe("fsync", error))?;
            unsynced = 0;
        }
    }
    file.sync_data().map_err(|error| describe("fsync", error))?;
    Ok(file)
}

#[derive(Debug, Default)]
struct State {
    /// A spare was asked for and none is ready or being prepared.
    requested: bool,
    busy: bool,
    ready: Option<Spare>,
    recycled: RecyclePool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Mirrors `state.ready.is_some()` for a lock-free check on every append.
    ready: AtomicBool,
    stop: AtomicBool,
}

/// The background preparer (`Preallocate::Background`): one thread, at most one spare.
#[derive(Debug)]
pub(crate) struct Preparer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    disk: Arc<dyn Disk>,
}

impl Preparer {
    /// Starts the thread and asks for a first spare. If the thread cannot be started the log
    /// works without spares (segments grow as they are written), as after a failed preparation.
    pub fn start(disk: Arc<dyn Disk>, dir: PathBuf, bytes: u64) -> Preparer {
        let thread_disk = Arc::clone(&disk);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requested: true,
                ..State::default()
            }),
            changed: Condvar::new(),
            ready: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("weir-wal-spare".to_string())
            .spawn(move || run(&thread_shared, thread_disk.as_ref(), &dir, bytes));
        let thread = match spawned {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::warn!(error = %error, "wal.spare_thread_failed: WAL segments will not be preallocated");
                shared.state.lock().requested = false;
                None
            }
        };
        Preparer {
            shared,
            thread,
            disk,
        }
    }

    /// Hands over obsolete segments (renamed to `recycled_path`, durably) for later spares.
    /// Without a thread, or beyond `RECYCLED_SEGMENTS_MAX`, the files are removed instead.
    pub fn recycle(&self, paths: Vec<PathBuf>) {
        let excess = if self.thread.is_none() {
            paths
        } else {
            let mut state = self.shared.state.lock();
            paths
                .into_iter()
                .flat_map(|path| state.recycled.push(path))
                .collect()
        };
        for path in excess {
            let _ = self.disk.remove_file(&path);
        }
    }

    /// True if a spare is ready (lock-free).
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// Takes the ready spare, if any. Never waits.
    pub fn take(&self) -> Option<Spare> {
        if !self.is_ready() {
            return None;
        }
        let mut state = self.shared.state.lock();
        let spare = state.ready.take();
        self.shared.ready.store(false, Ordering::Release);
        spare
    }

    /// Asks for a spare (no-op if one is ready or being prepared, or there is no thread).
    pub fn request(&self) {
        if self.thread.is_none() {
            return;
        }
        let mut state = self.shared.state.lock();
        if state.ready.is_none() && !state.busy {
            state.requested = true;
            self.shared.changed.notify_all();
        }
    }

    /// Blocks until a spare is ready (true) or no preparation is under way or asked for (false:
    /// the last one failed). For tests and tools; the log itself never waits.
    pub fn wait(&self) -> bool {
        let mut state = self.shared.state.lock();
        while state.ready.is_none() && (state.busy || state.requested) {
            self.shared.changed.wait(&mut state);
        }
        state.ready.is_some()
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let _state = self.shared.state.lock();
            self.shared.changed.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.state.lock().recycled.clear(self.disk.as_ref());
    }
}

fn run(shared: &Shared, disk: &dyn Disk, dir: &Path, bytes: u64) {
    crate::background::lower_current_thread_priority();
    loop {
        let recycled = {
            let mut state = shared.state.lock();
            while !shared.stop.load(Ordering::Relaxed) && !state.requested {
                shared.changed.wait(&mut state);
            }
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            state.requested = false;
            state.busy = true;
            state.recycled.pop()
        };
        let result = prepare(disk, dir, bytes, &shared.stop, recycled);
        let mut state = shared.state.lock();
        state.busy = false;
        match result {
            Ok(spare) => {
                tracing::debug!(spare = %spare.path.display(), bytes, recycled = spare.recycled, "wal.spare_ready");
                state.ready = Some(spare);
                shared.ready.store(true, Ordering::Release);
            }
            Err(cause) => {
                if !shared.stop.load(Ordering::Relaxed) {
                    tracing::warn!(dir = %dir.display(), cause, "wal.spare_failed");
                }
            }
        }
        shared.changed.notify_all();
    }
}
