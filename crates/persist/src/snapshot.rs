//! Snapshot files: a header plus opaque, checksummed sections, written atomically.
//!
//! This module knows nothing about what the sections hold (the engine's registry and tables);
//! it guarantees that a snapshot file either verifies completely or is refused, and that a file
//! under its final name was complete and fsynced before it got that name.
//!
//! # Layout (`docs/design/snapshot-format.md`)
//!
//! ```text
//! header, 64 bytes, little-endian:
//!   0  [8]  magic "WEIRSNAP"
//!   8  u32  format version (2; version 1 files are still read)
//!   12 u32  n_sections
//!   16 u64  LSN: the state is exactly the replay of the log up to and including this record
//!   24 u64  body_bytes: the section payloads, back to back, from offset 64
//!   32 u32  version 1: CRC32C of the body; version 2: zero (the section checksums cover it)
//!   36 u32  CRC32C of the directory
//!   40 [20] reserved, zero
//!   60 u32  CRC32C of header bytes 0..60
//! body:      the section payloads in order
//! directory: n_sections × ([u32 tag][u64 offset][u64 len][u32 CRC32C of the payload]),
//!            offsets relative to the body, contiguous from 0, ending at body_bytes
//! ```
//!
//! The file is exactly `64 + body_bytes + 24 × n_sections` bytes. `load` checks all of it:
//! size, header checksum, magic, version, the LSN against the file name, the directory checksum
//! and consistency, (version 1) the body checksum, and every section checksum. Nothing is
//! allocated from a length before it is checked against the file size.
//!
//! Version 2 differs from version 1 only in the body checksum field: sections are contiguous and
//! cover the body, so their checksums (in the directory, itself covered by the header checksum)
//! already cover every body byte, and they can be verified in parallel, one section per thread
//! at a time (`verify_with_threads`). The engine writes its tables as many bounded sections
//! ("chunks") so that they can also be decoded in parallel.
//!
//! # Writing
//!
//! `SnapshotWriter` streams sections into `snapshot-<lsn>.snap.tmp` through a 1 MiB buffer
//! (positional writes), writes the directory, then the header at offset 0, then: fsync the
//! file → rename to `snapshot-<lsn:020>.snap` → fsync the directory. A crash at any point leaves
//! either no new snapshot (a `.tmp` that `remove_tmp_files` deletes, or a rename that the
//! directory never recorded) or a complete, durable one.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::disk::{write_all_at, Disk, DiskFile};
use crate::lsn::Lsn;

pub const SNAPSHOT_MAGIC: [u8; 8] = *b"WEIRSNAP";
/// The version written. Versions 1 and 2 are read.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
/// The oldest version still read.
pub const SNAPSHOT_FORMAT_VERSION_MIN: u32 = 1;
pub const SNAPSHOT_HEADER_BYTES: usize = 64;
const DIRECTORY_ENTRY_BYTES: usize = 24;
/// Most sections a file may declare (the engine writes 1 + one per table).
pub const SNAPSHOT_SECTIONS_MAX: u32 = 1 << 20;
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// The writer fdatasyncs the temp file every this many bytes, so the page cache never holds
/// more than this much of a snapshot: the final fsync is short, and the WAL's fdatasyncs never
/// queue behind hundreds of megabytes of snapshot writeback (they did: push throughput fell by
/// 60-85% in the last second of each snapshot at max ingest rate, docs/BENCHMARKS.md).
const SYNC_EVERY_BYTES: u64 = 8 << 20;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".snap.tmp";
/// A retired snapshot kept to be overwritten by the next one (`recycle_or_remove`). It ends in
/// `.snap.tmp`: never loaded, and removed by `remove_tmp_files` at the next open.
pub const RECYCLED_FILE_NAME: &str = "snapshot-recycled.snap.tmp";
/// A snapshot that failed verification is renamed to this suffix (kept for inspection, never
/// loaded or counted again).
pub const DAMAGED_SUFFIX: &str = ".snap.damaged";

/// Why a snapshot could not be written or loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "snapshot {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for SnapshotError {}

fn err(path: &Path, reason: impl Into<String>) -> SnapshotError {
    SnapshotError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The final file name of the snapshot at `lsn`.
pub fn snapshot_file_name(lsn: Lsn) -> String {
    format!("{PREFIX}{:020}{SUFFIX}", lsn.0)
}

fn parse_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Lsn)
}

/// A snapshot file found in the directory (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    pub lsn: Lsn,
    pub path: PathBuf,
}

/// The snapshot files in `dir`, oldest first. A missing directory has none.
pub fn list(disk: &dyn Disk, dir: &Path) -> Result<Vec<SnapshotFile>, SnapshotError> {
    let names = match disk.list_dir(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(dir, format!("listing: {e}"))),
    };
    let mut files: Vec<SnapshotFile> = names
        .iter()
        .filter_map(|name| {
            parse_name(name).map(|lsn| SnapshotFile {
                lsn,
                path: dir.join(name),
            })
        })
        .collect();
    files.sort_by_key(|f| f.lsn);
    Ok(files)
}

/// Removes leftover `*.snap.tmp` files (an interrupted write). Returns how many.
pub fn remove_tmp_files(disk: &dyn Disk, dir: &Path) -> Result<usize, SnapshotError> {
    let names = match disk.list_dir(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(err(dir, format!("listing: {e}"))),
    };
    let mut removed = 0;
    for name in names.iter().filter(|n| n.ends_with(TMP_SUFFIX)) {
        let path = dir.join(name);
        disk.remove_file(&path)
            .map_err(|e| err(&path, format!("removing: {e}")))?;
        removed += 1;
    }
    if removed > 0 {
        disk.sync_dir(dir)
            .map_err(|e| err(dir, format!("directory fsync: {e}")))?;
    }
    Ok(removed)
}

/// Renames a snapshot that failed verification to `*.snap.damaged` (durably), so it is neither
/// loaded nor counted as retained again. Returns the new path.
pub fn set_aside_damaged(disk: &dyn Disk, file: &SnapshotFile) -> Result<PathBuf, SnapshotError> {
    let name = file
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let damaged = file
        .path
        .with_file_name(format!("{}{DAMAGED_SUFFIX}", name.trim_end_matches(SUFFIX)));
    disk.rename(&file.path, &damaged).map_err(|e| {
        err(
            &file.path,
            format!("renaming to {}: {e}", damaged.display()),
        )
    })?;
    let dir = crate::disk::parent_dir(&file.path);
    disk.sync_dir(&dir)
        .map_err(|e| err(&dir, format!("directory fsync: {e}")))?;
    Ok(damaged)
}

/// Retention that keeps one file for reuse: renames the newest of `files` to
/// [`RECYCLED_FILE_NAME`] (replacing an unused one) and deletes the others, then fsyncs the
/// directory once — so the rename is durable before the next snapshot overwrites the file and
/// the old name cannot come back over new contents. Returns the recycled file's path, `None` if
/// `files` is empty or the rename failed (that file is then deleted too).
///
/// Writing a snapshot over the previous-but-one's file overwrites page-cache pages and disk
/// blocks that already exist instead of allocating fresh ones (decision 0022).
pub fn recycle_or_remove(
    disk: &dyn Disk,
    dir: &Path,
    files: &[SnapshotFile],
) -> Result<Option<PathBuf>, SnapshotError> {
    let Some((newest, older)) = files.split_last() else {
        return Ok(None);
    };
    let recycled = dir.join(RECYCLED_FILE_NAME);
    let kept = match disk.rename(&newest.path, &recycled) {
        Ok(()) => Some(recycled),
        Err(e) => {
            tracing::warn!(snapshot = %newest.path.display(), error = %e, "snapshot.recycle_failed");
            disk.remove_file(&newest.path)
                .map_err(|e| err(&newest.path, format!("removing: {e}")))?;
            None
        }
    };
    for file in older {
        disk.remove_file(&file.path)
            .map_err(|e| err(&file.path, format!("removing: {e}")))?;
    }
    disk.sync_dir(dir)
        .map_err(|e| err(dir, format!("directory fsync: {e}")))?;
    Ok(kept)
}

/// What a completed write produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenSnapshot {
    pub lsn: Lsn,
    pub path: PathBuf,
    /// Size of the file.
    pub bytes: u64,
    /// Time spent in the file fsync plus the directory fsync.
    pub fsync: Duration,
}

struct Section {
    tag: u32,
    offset: u64,
    len: u64,
    crc: u32,
}

/// Streams sections into a new snapshot file; see the module doc. Dropping it without `finish`
/// removes the temporary file (best effort).
pub struct SnapshotWriter {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    tmp: PathBuf,
    path: PathBuf,
    lsn: Lsn,
    file: Option<Box<dyn DiskFile>>,
    /// Next file offset to write the buffer at.
    offset: u64,
    buf: Vec<u8>,
    body_bytes: u64,
    sections: Vec<Section>,
    /// The open section: (tag, body offset where it started, running CRC).
    open: Option<(u32, u64, u32)>,
    /// Bytes written since the last fdatasync.
    unsynced: u64,
    /// Writing over a recycled file: cut it to the new length at `finish`.
    reused: bool,
}

impl SnapshotWriter {
    /// Starts `snapshot-<lsn>.snap.tmp` in `dir` (created if missing).
    pub fn create(disk: Arc<dyn Disk>, dir: &Path, lsn: Lsn) -> Result<Self, SnapshotError> {
        Self::create_over(disk, dir, lsn, None)
    }

    /// As [`SnapshotWriter::create`], writing over `recycled` (from [`recycle_or_remove`]) if
    /// given and usable: it is renamed to the temp name and overwritten from the start, and
    /// `finish` cuts it to the new snapshot's length, so no byte of the old one remains.
    pub fn create_over(
        disk: Arc<dyn Disk>,
        dir: &Path,
        lsn: Lsn,
        recycled: Option<PathBuf>,
    ) -> Result<Self, SnapshotError> {
        disk.create_dir_all(dir)
            .map_err(|e| err(dir, format!("creating: {e}")))?;
        let path = dir.join(snapshot_file_name(lsn));
        let tmp = dir.join(format!("{PREFIX}{:020}{TMP_SUFFIX}", lsn.0));
        let reused = recycled.and_then(|from| {
            let opened = disk.rename(&from, &tmp).and_then(|()| disk.open_file(&tmp));
            opened
                .inspect_err(|e| {
                    tracing::warn!(file = %from.display(), error = %e, "snapshot.reuse_failed");
                    let _ = disk.remove_file(&from);
                })
                .ok()
        });
        let (file, reused) = match reused {
            Some(file) => (file, true),
            None => (
                disk.create_file(&tmp)
                    .map_err(|e| err(&tmp, format!("creating: {e}")))?,
                false,
            ),
        };
        Ok(SnapshotWriter {
            disk,
            dir: dir.to_path_buf(),
            tmp,
            path,
            lsn,
            file: Some(file),
            offset: SNAPSHOT_HEADER_BYTES as u64,
            buf: Vec::with_capacity(WRITE_BUFFER_BYTES),
            body_bytes: 0,
            sections: Vec::new(),
            open: None,
            unsynced: 0,
            reused,
        })
    }

    /// Ends the open section (if any) and starts a new one with `tag`.
    pub fn begin_section(&mut self, tag: u32) {
        self.end_section();
        self.open = Some((tag, self.body_bytes, 0));
    }

    fn end_section(&mut self) {
        if let Some((tag, offset, crc)) = self.open.take() {
            self.sections.push(Section {
                tag,
                offset,
                len: self.body_bytes - offset,
                crc,
            });
        }
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = self.file.as_mut().expect("file open until finish");
        write_all_at(file.as_mut(), self.offset, &self.buf).map_err(|(_, e)| e)?;
        self.offset += self.buf.len() as u64;
        self.unsynced += self.buf.len() as u64;
        self.buf.clear();
        if self.unsynced >= SYNC_EVERY_BYTES {
            file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Writes the directory and header, fsyncs, renames into place and fsyncs the directory.
    pub fn finish(mut self) -> Result<WrittenSnapshot, SnapshotError> {
        self.end_section();
        let tmp = self.tmp.clone();
        let io_err = |what: &str, e: io::Error| err(&tmp, format!("{what}: {e}"));
        let mut directory = Vec::with_capacity(self.sections.len() * DIRECTORY_ENTRY_BYTES);
        for s in &self.sections {
            directory.extend_from_slice(&s.tag.to_le_bytes());
            directory.extend_from_slice(&s.offset.to_le_bytes());
            directory.extend_from_slice(&s.len.to_le_bytes());
            directory.extend_from_slice(&s.crc.to_le_bytes());
        }
        self.buf.extend_from_slice(&directory);
        self.write_buffer().map_err(|e| io_err("writing", e))?;
        let header = encode_header(&Header {
            n_sections: self.sections.len() as u32,
            lsn: self.lsn,
            body_bytes: self.body_bytes,
            directory_crc: crc32c::crc32c(&directory),
        });
        let mut file = self.file.take().expect("file open until finish");
        let result = (|| {
            if self.reused {
                file.set_len(self.offset)
                    .map_err(|e| io_err("truncating", e))?;
            }
            write_all_at(file.as_mut(), 0, &header).map_err(|(_, e)| io_err("writing", e))?;
            let fsync_started = Instant::now();
            file.sync_data().map_err(|e| io_err("fsync", e))?;
            let mut fsync = fsync_started.elapsed();
            self.disk
                .rename(&self.tmp, &self.path)
                .map_err(|e| io_err("rename", e))?;
            let dir_started = Instant::now();
            self.disk
                .sync_dir(&self.dir)
                .map_err(|e| err(&self.dir, format!("directory fsync: {e}")))?;
            fsync += dir_started.elapsed();
            Ok(WrittenSnapshot {
                lsn: self.lsn,
                path: self.path.clone(),
                bytes: self.offset,
                fsync,
            })
        })();
        if result.is_err() {
            let _ = self.disk.remove_file(&self.tmp);
        }
        // Nothing left for Drop to clean up (on success the tmp name no longer exists).
        self.tmp = PathBuf::new();
        result
    }
}

impl io::Write for SnapshotWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let Some((_, _, crc)) = self.open.as_mut() else {
            return Err(io::Error::other("snapshot bytes written outside a section"));
        };
        *crc = crc32c::crc32c_append(*crc, bytes);
        self.body_bytes += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITE_BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = self.disk.remove_file(&self.tmp);
        }
    }
}

struct Header {
    n_sections: u32,
    lsn: Lsn,
    body_bytes: u64,
    directory_crc: u32,
}

fn encode_header(h: &Header) -> [u8; SNAPSHOT_HEADER_BYTES] {
    let mut b = [0u8; SNAPSHOT_HEADER_BYTES];
    b[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    b[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&h.n_sections.to_le_bytes());
    b[16..24].copy_from_slice(&h.lsn.0.to_le_bytes());
    b[24..32].copy_from_slice(&h.body_bytes.to_le_bytes());
    // 32..36: the body checksum of version 1, zero in version 2.
    b[36..40].copy_from_slice(&h.directory_crc.to_le_bytes());
    let crc = crc32c::crc32c(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// `(tag, byte range in the file)` of every section, in file order.
pub type SectionTable = Vec<(u32, Range<usize>)>;

/// A verified snapshot in memory.
#[derive(Debug)]
pub struct Snapshot {
    pub lsn: Lsn,
    pub path: PathBuf,
    /// The file's format version (1 or 2).
    pub format_version: u32,
    bytes: Vec<u8>,
    sections: Vec<(u32, Range<usize>)>,
}

impl Snapshot {
    /// `(tag, payload)` in file order.
    pub fn sections(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.sections
            .iter()
            .map(|(tag, range)| (*tag, &self.bytes[range.clone()]))
    }

    pub fn file_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn section_count(&self) -> usize {
        self.sections.len()
    }
}

/// Threads used to verify and decode a snapshot: the machine's parallelism.
pub fn load_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads and fully verifies the snapshot `file` (section checksums on `load_threads()`
/// threads).
pub fn load(disk: &dyn Disk, file: &SnapshotFile) -> Result<Snapshot, SnapshotError> {
    let path = &file.path;
    let bytes = disk
        .read_file(path)
        .map_err(|e| err(path, format!("reading: {e}")))?;
    let (format_version, sections) = verify_with_threads(&bytes, file.lsn, load_threads())
        .map_err(|reason| err(path, reason))?;
    Ok(Snapshot {
        lsn: file.lsn,
        path: path.clone(),
        format_version,
        bytes,
        sections,
    })
}

/// Checks every byte of a snapshot file on one thread; returns the section table.
pub fn verify(b: &[u8], expected_lsn: Lsn) -> Result<SectionTable, String> {
    verify_with_threads(b, expected_lsn, 1).map(|(_, sections)| sections)
}

/// Checks every byte of a snapshot file, the section checksums on up to `threads` threads;
/// returns the format version and the section table.
pub fn verify_with_threads(
    b: &[u8],
    expected_lsn: Lsn,
    threads: usize,
) -> Result<(u32, SectionTable), String> {
    if b.len() < SNAPSHOT_HEADER_BYTES {
        return Err(format!(
            "{} bytes: shorter than the {SNAPSHOT_HEADER_BYTES}-byte header",
            b.len()
        ));
    }
    if crc32c::crc32c(&b[..60]) != u32_at(b, 60) {
        return Err("header checksum mismatch".into());
    }
    if b[0..8] != SNAPSHOT_MAGIC {
        return Err("bad magic".into());
    }
    let version = u32_at(b, 8);
    if !(SNAPSHOT_FORMAT_VERSION_MIN..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "unknown format version {version} (this build reads {SNAPSHOT_FORMAT_VERSION_MIN}..={SNAPSHOT_FORMAT_VERSION})"
        ));
    }
    let n_sections = u32_at(b, 12);
    let lsn = Lsn(u64_at(b, 16));
    let body_bytes = u64_at(b, 24);
    if lsn != expected_lsn {
        return Err(format!(
            "header LSN {lsn} does not match the file name's {expected_lsn}"
        ));
    }
    if n_sections > SNAPSHOT_SECTIONS_MAX {
        return Err(format!("{n_sections} sections declared"));
    }
    let directory_bytes = n_sections as u64 * DIRECTORY_ENTRY_BYTES as u64;
    let expected_len = (SNAPSHOT_HEADER_BYTES as u64)
        .checked_add(body_bytes)
        .and_then(|n| n.checked_add(directory_bytes));
    if expected_len != Some(b.len() as u64) {
        return Err(format!(
            "file is {} bytes, header declares {} body bytes and {n_sections} sections (truncated or extended)",
            b.len(),
            body_bytes
        ));
    }
    let body = &b[SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + body_bytes as usize];
    let directory = &b[SNAPSHOT_HEADER_BYTES + body_bytes as usize..];
    if crc32c::crc32c(directory) != u32_at(b, 36) {
        return Err("directory checksum mismatch".into());
    }
    match version {
        1 if crc32c::crc32c(body) != u32_at(b, 32) => {
            return Err("body checksum mismatch".into());
        }
        2 if u32_at(b, 32) != 0 => return Err("body checksum field is not zero".into()),
        _ => {}
    }
    let mut sections = Vec::with_capacity(n_sections as usize);
    let mut crcs = Vec::with_capacity(n_sections as usize);
    let mut next = 0u64;
    for entry in directory.chunks_exact(DIRECTORY_ENTRY_BYTES) {
        let tag = u32_at(entry, 0);
        let offset = u64_at(entry, 4);
        let len = u64_at(entry, 12);
        let crc = u32_at(entry, 20);
        if offset != next || len > body_bytes - offset {
            return Err(format!("section {} out of place", sections.len()));
        }
        let start = SNAPSHOT_HEADER_BYTES + offset as usize;
        next = offset + len;
        sections.push((tag, start..start + len as usize));
        crcs.push(crc);
    }
    if next != body_bytes {
        return Err("sections do not cover the body".into());
    }
    let bad = first_bad_section(b, &sections, &crcs, threads);
    if let Some(i) = bad {
        return Err(format!("section {i} checksum mismatch"));
    }
    Ok((version, sections))
}

/// The lowest-numbered section whose checksum does not match, checked on up to `threads`
/// threads (each takes the next unchecked section).
fn first_bad_section(
    b: &[u8],
    sections: &[(u32, Range<usize>)],
    crcs: &[u32],
    threads: usize,
) -> Option<usize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let check = |i: usize| crc32c::crc32c(&b[sections[i].1.clone()]) != crcs[i];
    let threads = threads.min(sections.len());
    if threads <= 1 {
        return (0..sections.len()).find(|&i| check(i));
    }
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut bad: Option<usize> = None;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= sections.len() {
                return bad;
            }
            if check(i) {
                bad = Some(bad.map_or(i, |b| b.min(i)));
            }
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mine = worker();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Some(0)))
            .chain(std::iter::once(mine))
            .flatten()
            .min()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::SimDisk;
    use std::io::Write;

    fn write(
        disk: &Arc<SimDisk>,
        dir: &Path,
        lsn: u64,
        sections: &[(u32, &[u8])],
    ) -> WrittenSnapshot {
        let mut w = SnapshotWriter::create(disk.clone(), dir, Lsn(lsn)).unwrap();
        for (tag, bytes) in sections {
            w.begin_section(*tag);
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trip_and_every_damage_is_refused() {
        let disk = Arc::new(SimDisk::new());
        let dir = Path::new("/snap");
        let big = vec![7u8; 3 * WRITE_BUFFER_BYTES + 5];
        let written = write(&disk, dir, 42, &[(1, b"meta"), (2, &big), (2, b"")]);
        let files = list(disk.as_ref(), dir).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].lsn, Lsn(42));
        assert_eq!(
            written.bytes,
            disk.file(&files[0].path).unwrap().len() as u64
        );
        let snap = load(disk.as_ref(), &files[0]).unwrap();
        let got: Vec<(u32, Vec<u8>)> = snap.sections().map(|(t, b)| (t, b.to_vec())).collect();
        assert_eq!(
            got,
            vec![(1, b"meta".to_vec()), (2, big.clone()), (2, Vec::new())]
        );

        let small = write(&disk, dir, 43, &[(1, b"meta"), (2, b"abcdefgh")]);
        let original = disk.file(&small.path).unwrap();
        let file = SnapshotFile {
            lsn: Lsn(43),
            path: small.path.clone(),
        };
        for cut in 0..original.len() {
            disk.set_file(&small.path, original[..cut].to_vec());
            assert!(load(disk.as_ref(), &file).is_err(), "cut at {cut}");
        }
        for i in 0..original.len() * 8 {
            let mut damaged = original.clone();
            damaged[i / 8] ^= 1 << (i % 8);
            disk.set_file(&small.path, damaged);
            assert!(load(disk.as_ref(), &file).is_err(), "bit {i}");
        }
        let mut extended = original.clone();
        extended.push(0);
        disk.set_file(&small.path, extended);
        assert!(load(disk.as_ref(), &file).is_err());
        // The name's LSN must match the header's.
        disk.set_file(&small.path, original);
        let renamed = SnapshotFile {
            lsn: Lsn(44),
            path: small.path.clone(),
        };
        assert!(load(disk.as_ref(), &renamed).is_err());
    }

    /// The same file in format version 1: version 1 and the body checksum in the header.
    fn as_version_1(v2: &[u8]) -> Vec<u8> {
        let mut b = v2.to_vec();
        let body_bytes = u64_at(&b, 24) as usize;
        let body_crc =
            crc32c::crc32c(&b[SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + body_bytes]);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[32..36].copy_from_slice(&body_crc.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn version_1_files_still_load_and_parallel_verification_agrees() {
        let disk = Arc::new(SimDisk::new());
        let dir = Path::new("/snap");
        let sections: Vec<(u32, Vec<u8>)> = (0..40u32)
            .map(|i| (2 + i % 2, vec![i as u8; (i as usize * 37) % 300]))
            .collect();
        let refs: Vec<(u32, &[u8])> = sections.iter().map(|(t, b)| (*t, b.as_slice())).collect();
        let written = write(&disk, dir, 9, &refs);
        let v2 = disk.file(&written.path).unwrap();
        assert_eq!(u32_at(&v2, 8), 2);
        for threads in [1, 2, 3, 8] {
            let (version, table) = verify_with_threads(&v2, Lsn(9), threads).unwrap();
            assert_eq!(version, 2);
            assert_eq!(table.len(), 40);
        }
        let v1 = as_version_1(&v2);
        disk.set_file(&written.path, v1.clone());
        let file = SnapshotFile {
            lsn: Lsn(9),
            path: written.path.clone(),
        };
        let loaded = load(disk.as_ref(), &file).unwrap();
        assert_eq!(loaded.format_version, 1);
        let got: Vec<(u32, Vec<u8>)> = loaded.sections().map(|(t, b)| (t, b.to_vec())).collect();
        assert_eq!(got, sections);
        // Version 1: a damaged body fails the body checksum; every section damage is found by
        // any number of threads, and the lowest damaged section is named.
        for (i, at) in [(3usize, 70usize), (17, 3000), (39, v1.len() - 24 * 40 - 1)] {
            let mut damaged = if i % 2 == 0 { v1.clone() } else { v2.clone() };
            damaged[at] ^= 0x01;
            for threads in [1, 2, 4] {
                assert!(verify_with_threads(&damaged, Lsn(9), threads).is_err());
            }
        }
        let mut two = v2.clone();
        let (_, table) = verify_with_threads(&v2, Lsn(9), 1).unwrap();
        two[table[5].1.start] ^= 1;
        two[table[30].1.start] ^= 1;
        for threads in [1, 2, 4] {
            assert_eq!(
                verify_with_threads(&two, Lsn(9), threads).unwrap_err(),
                "section 5 checksum mismatch"
            );
        }
        // Version 2 with a non-zero body checksum field (and a valid header checksum).
        let mut odd = v2.clone();
        odd[32] = 1;
        let crc = crc32c::crc32c(&odd[..60]);
        odd[60..64].copy_from_slice(&crc.to_le_bytes());
        assert!(verify(&odd, Lsn(9)).is_err());
        // Unknown versions are refused with the range this build reads.
        let mut v3 = v2.clone();
        v3[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32c::crc32c(&v3[..60]);
        v3[60..64].copy_from_slice(&crc.to_le_bytes());
        assert!(verify(&v3, Lsn(9))
            .unwrap_err()
            .contains("unknown format version 3"));
    }

    #[test]
    fn a_snapshot_written_over_a_recycled_one_is_exactly_the_new_one() {
        // Retention keeps the newest retired file for the next snapshot to overwrite: whether
        // the old file is longer or shorter, the new one loads with its own sections and length.
        let disk = Arc::new(SimDisk::new());
        let dir = Path::new("/snap");
        let big = vec![3u8; 2 * WRITE_BUFFER_BYTES + 11];
        let small = vec![5u8; 100];
        write(&disk, dir, 10, &[(1, b"meta"), (2, &small)]);
        write(&disk, dir, 20, &[(1, b"meta"), (2, &big)]);
        let retired = list(disk.as_ref(), dir).unwrap();
        let kept = recycle_or_remove(disk.as_ref(), dir, &retired).unwrap();
        let recycled = dir.join(RECYCLED_FILE_NAME);
        assert_eq!(kept, Some(recycled.clone()));
        assert!(
            list(disk.as_ref(), dir).unwrap().is_empty(),
            "neither is a snapshot now"
        );
        assert!(disk.file(&dir.join(snapshot_file_name(Lsn(10)))).is_none());
        for (lsn, body) in [(30, &small), (40, &big), (50, &small)] {
            let over = disk.file(&recycled).is_some().then(|| recycled.clone());
            assert!(
                over.is_some(),
                "a recycled file waits before snapshot {lsn}"
            );
            let mut w = SnapshotWriter::create_over(disk.clone(), dir, Lsn(lsn), over).unwrap();
            w.begin_section(1);
            w.write_all(b"meta").unwrap();
            w.begin_section(2);
            w.write_all(body).unwrap();
            let written = w.finish().unwrap();
            assert!(disk.file(&recycled).is_none(), "the recycled file was used");
            let bytes = disk.file(&written.path).unwrap();
            assert_eq!(bytes.len() as u64, written.bytes, "cut to the new length");
            let file = SnapshotFile {
                lsn: Lsn(lsn),
                path: written.path.clone(),
            };
            let snap = load(disk.as_ref(), &file).unwrap();
            let got: Vec<(u32, Vec<u8>)> = snap.sections().map(|(t, b)| (t, b.to_vec())).collect();
            assert_eq!(got, vec![(1, b"meta".to_vec()), (2, body.clone())]);
            // Retire it at once, for the next round.
            assert!(recycle_or_remove(disk.as_ref(), dir, &[file])
                .unwrap()
                .is_some());
        }
        // A crash leaves the recycled file as a temp file: the next open removes it.
        assert_eq!(remove_tmp_files(disk.as_ref(), dir).unwrap(), 1);
        assert!(disk.file(&recycled).is_none());
        // No file to retire: nothing kept.
        assert_eq!(recycle_or_remove(disk.as_ref(), dir, &[]).unwrap(), None);
    }

    #[test]
    fn an_unfinished_writer_leaves_nothing_under_a_final_name() {
        let disk = Arc::new(SimDisk::new());
        let dir = Path::new("/snap");
        {
            let mut w = SnapshotWriter::create(disk.clone(), dir, Lsn(5)).unwrap();
            w.begin_section(1);
            w.write_all(b"x").unwrap();
        }
        assert!(list(disk.as_ref(), dir).unwrap().is_empty());
        assert!(disk.list_dir(dir).unwrap().is_empty());
        // A leftover tmp (crash) is cleaned up.
        let mut tmp = disk
            .create_file(&dir.join("snapshot-00000000000000000005.snap.tmp"))
            .unwrap();
        tmp.write_at(0, &[1, 2]).unwrap();
        assert_eq!(remove_tmp_files(disk.as_ref(), dir).unwrap(), 1);
        assert!(disk.list_dir(dir).unwrap().is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(
            snapshot_file_name(Lsn(7)),
            "snapshot-00000000000000000007.snap"
        );
        assert_eq!(
            parse_name("snapshot-00000000000000000007.snap"),
            Some(Lsn(7))
        );
        assert_eq!(parse_name("snapshot-00000000000000000007.snap.tmp"), None);
        assert_eq!(
            parse_name("snapshot-00000000000000000007.snap.damaged"),
            None
        );
        assert_eq!(parse_name("snapshot-7.snap"), None);
    }
}
