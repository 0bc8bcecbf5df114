//! `SimDisk`: an in-memory `Disk` that models the page cache, injects IO faults at named call
//! sites, and can crash.
//!
//! # Fault model
//!
//! **Durability.** Every file has *live* content (what reads see, the page cache) and *durable*
//! content (what survives a crash). `DiskFile::sync_data` copies live to durable for that file,
//! size included. Directory entries are modelled the same way: creating, renaming or removing a
//! name changes the live directory at once, but only `Disk::sync_dir` on the parent makes the
//! change durable. A file whose data was synced but whose name was never made durable vanishes
//! in a crash; a rename that was not followed by a directory fsync is undone by a crash.
//! Directories themselves are durable as soon as they are created.
//!
//! **Crash** (`SimDisk::crash`). Every open handle becomes stale (later calls fail with EIO, as
//! the process that held them is gone), the directory reverts to its durable entries, and each
//! file's content is rebuilt from its durable content according to `CrashMode`:
//! - `DropUnsynced`: exactly the durable content (every unsynced byte lost);
//! - `TornPrefix`: if the unsynced change was an append, a random prefix of the appended bytes
//!   survives (a process killed mid-write, or in-order writeback interrupted by power loss);
//! - `TornSectors`: if the unsynced change was an append, the file keeps a random length between
//!   its durable and live sizes, and each 512-byte, 512-aligned sector of the appended range
//!   independently either reached the disk or reads as zeros (power loss with reordered
//!   writeback; bytes that were durable are never touched).
//!
//! An unsynced write into durable space that reads as zeros (a preallocated, zero-filled file)
//! counts as an append for these modes: from the first byte that differs from the durable
//! content on, the durable content must be all zeros; the torn range then starts at that byte
//! and the file keeps at least its durable size (the zeros that did not get overwritten).
//! Other unsynced changes (a truncation, an overwrite of synced non-zero bytes) are simply
//! lost: the file reverts to its durable content.
//!
//! **Faults** (`SimDisk::inject`). A `Fault` names a call `Site` (open, write, fsync, directory
//! fsync, rename, truncate, unlink, read, list), a `FaultKind` (EIO, ENOSPC, or a short write:
//! the call writes half of what it was given), how many matching calls to let through first, how
//! many times to fire (or forever), and optionally a substring the path must contain. A failed
//! call has no effect, except a short write, which writes its half. A failed fsync leaves the
//! durable content as it was, as Linux may after EIO ("fsyncgate"): retrying would lie.
//!
//! **Capacity** (`SimDisk::set_capacity`). With a capacity, a write that would make the live
//! bytes of all files exceed it writes what fits and then fails with ENOSPC, like a full disk;
//! raising or removing the capacity lets later writes succeed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::disk::{parent_dir, Disk, DiskFile};
use crate::limits::SECTOR_BYTES;

/// A named IO call site where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    /// `create_file` and `open_file`.
    Open,
    /// `DiskFile::write_at`.
    Write,
    /// `DiskFile::sync_data`.
    Fsync,
    /// `Disk::sync_dir`.
    SyncDir,
    /// `Disk::rename`.
    Rename,
    /// `DiskFile::set_len`.
    Truncate,
    /// `Disk::remove_file`.
    Unlink,
    /// `Disk::read_file` and `Disk::file_len`.
    Read,
    /// `Disk::list_dir`.
    List,
}

impl Site {
    /// Every site, for sweeps.
    pub const ALL: [Site; 9] = [
        Site::Open,
        Site::Write,
        Site::Fsync,
        Site::SyncDir,
        Site::Rename,
        Site::Truncate,
        Site::Unlink,
        Site::Read,
        Site::List,
    ];
}

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Fail with EIO.
    Eio,
    /// Fail with ENOSPC.
    Enospc,
    /// `write_at` only: write half of the bytes (at least one) and report that. Elsewhere: EIO.
    ShortWrite,
}

/// One fault rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub site: Site,
    pub kind: FaultKind,
    /// Matching calls to let through before the first firing.
    pub skip: u64,
    /// Firings before the rule goes quiet; `None` fires forever.
    pub times: Option<u64>,
    /// Only calls whose path contains this substring match.
    pub path_contains: Option<String>,
}

impl Fault {
    /// A rule that fires on the first matching call and every one after it.
    pub fn new(site: Site, kind: FaultKind) -> Fault {
        Fault {
            site,
            kind,
            skip: 0,
            times: None,
            path_contains: None,
        }
    }

    /// Lets `n` matching calls through first.
    #[must_use]
    pub fn skip(mut self, n: u64) -> Fault {
        self.skip = n;
        self
    }

    /// Fires `n` times, then goes quiet.
    #[must_use]
    pub fn times(mut self, n: u64) -> Fault {
        self.times = Some(n);
        self
    }

    /// Matches only paths containing `fragment`.
    #[must_use]
    pub fn path_contains(mut self, fragment: &str) -> Fault {
        self.path_contains = Some(fragment.to_string());
        self
    }
}

/// How a crash treats unsynced bytes (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    DropUnsynced,
    TornPrefix { seed: u64 },
    TornSectors { seed: u64 },
}

#[derive(Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Since the last sync: the smallest live length, and the byte range written. A sync copies
    /// only that much (large preallocated files would make whole-file copies slow).
    shortest_since_sync: Option<usize>,
    written_since_sync: Option<(usize, usize)>,
}

impl Inode {
    fn wrote(&mut self, start: usize, end: usize) {
        self.written_since_sync = Some(match self.written_since_sync {
            Some((lo, hi)) => (lo.min(start), hi.max(end)),
            None => (start, end),
        });
    }

    fn resized(&mut self, old_len: usize) {
        let shortest = self.shortest_since_sync.map_or(old_len, |s| s.min(old_len));
        self.shortest_since_sync = Some(shortest.min(self.live.len()));
    }

    /// Makes the durable content equal the live content.
    fn sync(&mut self) {
        let shortest = self.shortest_since_sync.take().unwrap_or(self.live.len());
        self.durable.truncate(shortest.min(self.durable.len()));
        self.durable.resize(self.live.len(), 0);
        if let Some((lo, hi)) = self.written_since_sync.take() {
            let hi = hi.min(self.live.len());
            if lo < hi {
                self.durable[lo..hi].copy_from_slice(&self.live[lo..hi]);
            }
        }
    }

    /// Replaces live and durable content alike.
    fn set(&mut self, content: Vec<u8>) {
        self.live = content.clone();
        self.durable = content;
        self.shortest_since_sync = None;
        self.written_since_sync = None;
    }
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    seen: u64,
    fired: u64,
}

#[derive(Debug, Default)]
struct SimState {
    epoch: u64,
    next_inode: u64,
    inodes: HashMap<u64, Inode>,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    rules: Vec<Rule>,
    calls: BTreeMap<Site, u64>,
    capacity_bytes: Option<u64>,
}

impl SimState {
    /// Counts the call and returns the fault to apply, if a rule fires.
    fn check(&mut self, site: Site, path: &Path) -> Option<FaultKind> {
        *self.calls.entry(site).or_insert(0) += 1;
        let path = path.to_string_lossy();
        for rule in &mut self.rules {
            if rule.fault.site != site {
                continue;
            }
            if let Some(fragment) = &rule.fault.path_contains {
                if !path.contains(fragment.as_str()) {
                    continue;
                }
            }
            rule.seen += 1;
            if rule.seen <= rule.fault.skip {
                continue;
            }
            if rule.fault.times.is_some_and(|times| rule.fired >= times) {
                continue;
            }
            rule.fired += 1;
            return Some(rule.fault.kind);
        }
        None
    }

    /// Bytes held by files that still have a name (an unlinked file frees its space).
    fn live_bytes(&self) -> u64 {
        let named: BTreeSet<u64> = self.live_names.values().copied().collect();
        named
            .iter()
            .map(|inode| self.inodes.get(inode).map_or(0, |i| i.live.len() as u64))
            .sum()
    }

    fn require_dir(&self, path: &Path) -> io::Result<()> {
        if self.dirs.contains(&parent_dir(path)) {
            return Ok(());
        }
        Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"))
    }
}

fn fault_error(kind: FaultKind) -> io::Error {
    match kind {
        FaultKind::Enospc => io::Error::from_raw_os_error(28),
        FaultKind::Eio | FaultKind::ShortWrite => io::Error::from_raw_os_error(5),
    }
}

fn fail_unless_short(fault: Option<FaultKind>) -> io::Result<()> {
    match fault {
        None => Ok(()),
        Some(kind) => Err(fault_error(kind)),
    }
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file")
}

/// The in-memory, fault-injecting disk. Cheap to clone: clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    state: Arc<Mutex<SimState>>,
}

impl SimDisk {
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.state.lock().rules.push(Rule {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.state.lock().rules.clear();
    }

    /// Limits the total live bytes of all files (`None`: unlimited).
    pub fn set_capacity(&self, capacity_bytes: Option<u64>) {
        self.state.lock().capacity_bytes = capacity_bytes;
    }

    /// How many calls reached `site` so far (faulted or not).
    pub fn calls(&self, site: Site) -> u64 {
        self.state.lock().calls.get(&site).copied().unwrap_or(0)
    }

    /// Simulates a crash (see the module doc).
    pub fn crash(&self, mode: CrashMode) {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.live_names = state.durable_names.clone();
        let mut rng = match mode {
            CrashMode::DropUnsynced => SplitMix::new(0),
            CrashMode::TornPrefix { seed } | CrashMode::TornSectors { seed } => SplitMix::new(seed),
        };
        let reachable: BTreeSet<u64> = state.durable_names.values().copied().collect();
        state.inodes.retain(|inode, _| reachable.contains(inode));
        let mut inode_ids: Vec<u64> = state.inodes.keys().copied().collect();
        inode_ids.sort_unstable();
        for inode_id in inode_ids {
            let Some(inode) = state.inodes.get_mut(&inode_id) else {
                continue;
            };
            // Where the unsynced change starts, if it is an append or a write over durable
            // zeros (see the module doc); `None` for any other change, or none at all.
            let durable_len = inode.durable.len();
            let torn_from = (inode.live.len() >= durable_len)
                .then(|| {
                    inode
                        .live
                        .iter()
                        .zip(&inode.durable)
                        .position(|(live, durable)| live != durable)
                        .unwrap_or(durable_len)
                })
                .filter(|&from| {
                    inode.live.len() > from && inode.durable[from..].iter().all(|&b| b == 0)
                });
            let mut content = inode.durable.clone();
            if let Some(from) = torn_from {
                let extra = (inode.live.len() - from) as u64;
                let keep = match mode {
                    CrashMode::DropUnsynced => 0,
                    CrashMode::TornPrefix { .. } | CrashMode::TornSectors { .. } => {
                        rng.below(extra + 1) as usize
                    }
                };
                let new_len = from + keep;
                content.truncate(from.min(content.len()));
                content.extend_from_slice(&inode.live[from..new_len]);
                if content.len() < durable_len {
                    content.resize(durable_len, 0);
                }
                if let CrashMode::TornSectors { .. } = mode {
                    let mut sector = from as u64 / SECTOR_BYTES * SECTOR_BYTES;
                    while sector < new_len as u64 {
                        let start = sector.max(from as u64) as usize;
                        let end = (sector + SECTOR_BYTES).min(new_len as u64) as usize;
                        if rng.below(2) == 0 {
                            content[start..end].fill(0);
                        }
                        sector += SECTOR_BYTES;
                    }
                }
            }
            inode.set(content);
        }
    }

    /// The live content of `path`, if it exists.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.lock();
        let inode = state.live_names.get(path)?;
        state.inodes.get(inode).map(|inode| inode.live.clone())
    }

    /// Replaces the content of `path` (live and durable alike): damage "on the platter".
    /// Panics if the file does not exist.
    pub fn set_file(&self, path: &Path, content: Vec<u8>) {
        let mut state = self.state.lock();
        let inode = *state
            .live_names
            .get(path)
            .expect("set_file on a missing file");
        let inode = state.inodes.get_mut(&inode).expect("dangling inode");
        inode.set(content);
    }

    /// Removes `path` durably, without going through fault checks (test setup).
    pub fn delete_file(&self, path: &Path) {
        let mut state = self.state.lock();
        state.live_names.remove(path);
        state.durable_names.remove(path);
    }

    /// Every live file under `dir` (recursively) with its content, for byte-identity checks.
    pub fn snapshot(&self, dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let state = self.state.lock();
        state
            .live_names
            .iter()
            .filter(|(path, _)| path.starts_with(dir))
            .map(|(path, inode)| (path.clone(), state.inodes[inode].live.clone()))
            .collect()
    }

    fn handle(&self, inode: u64, path: &Path) -> Box<dyn DiskFile> {
        let epoch = self.state.lock().epoch;
        Box::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
            epoch,
            path: path.to_path_buf(),
        })
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::List, dir))?;
        if !state.dirs.contains(dir) {
            return Err(not_found());
        }
        Ok(state
            .live_names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::Read, path))?;
        let inode = state.live_names.get(path).ok_or_else(not_found)?;
        Ok(state.inodes[inode].live.clone())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::Read, path))?;
        let inode = state.live_names.get(path).ok_or_else(not_found)?;
        Ok(state.inodes[inode].live.len() as u64)
    }

    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let inode = {
            let mut state = self.state.lock();
            fail_unless_short(state.check(Site::Open, path))?;
            state.require_dir(path)?;
            match state.live_names.get(path).copied() {
                Some(inode) => {
                    let node = state.inodes.get_mut(&inode).expect("dangling inode");
                    let old_len = node.live.len();
                    node.live.clear();
                    node.resized(old_len);
                    inode
                }
                None => {
                    state.next_inode += 1;
                    let inode = state.next_inode;
                    state.inodes.insert(inode, Inode::default());
                    state.live_names.insert(path.to_path_buf(), inode);
                    inode
                }
            }
        };
        Ok(self.handle(inode, path))
    }

    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let inode = {
            let mut state = self.state.lock();
            fail_unless_short(state.check(Site::Open, path))?;
            *state.live_names.get(path).ok_or_else(not_found)?
        };
        Ok(self.handle(inode, path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::Rename, from))?;
        state.require_dir(to)?;
        let inode = state.live_names.remove(from).ok_or_else(not_found)?;
        state.live_names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::Unlink, path))?;
        state.live_names.remove(path).ok_or_else(not_found)?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        fail_unless_short(state.check(Site::SyncDir, dir))?;
        if !state.dirs.contains(dir) {
            return Err(not_found());
        }
        state
            .durable_names
            .retain(|path, _| path.parent() != Some(dir));
        let entries: Vec<(PathBuf, u64)> = state
            .live_names
            .iter()
            .filter(|(path, _)| path.parent() == Some(dir))
            .map(|(path, inode)| (path.clone(), *inode))
            .collect();
        state.durable_names.extend(entries);
        Ok(())
    }
}

#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    epoch: u64,
    path: PathBuf,
}

impl SimFile {
    fn live_state(&self) -> io::Result<parking_lot::MutexGuard<'_, SimState>> {
        let state = self.state.lock();
        if state.epoch != self.epoch {
            return Err(io::Error::other(
                "stale handle: the simulated process crashed",
            ));
        }
        Ok(state)
    }
}

impl DiskFile for SimFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        let mut state = self.live_state()?;
        let fault = state.check(Site::Write, &self.path);
        let mut len = bytes.len();
        match fault {
            None => {}
            Some(FaultKind::ShortWrite) => len = (len / 2).max(1).min(len),
            Some(kind) => return Err(fault_error(kind)),
        }
        let current = state.inodes[&self.inode].live.len() as u64;
        let end = offset + len as u64;
        if let Some(capacity) = state.capacity_bytes {
            let growth = end.saturating_sub(current);
            let free = capacity.saturating_sub(state.live_bytes());
            if growth > free {
                let fits = (current + free).saturating_sub(offset).min(len as u64) as usize;
                if fits == 0 {
                    return Err(fault_error(FaultKind::Enospc));
                }
                len = fits;
            }
        }
        let inode = state.inodes.get_mut(&self.inode).expect("dangling inode");
        let end = offset as usize + len;
        if inode.live.len() < end {
            inode.live.resize(end, 0);
        }
        inode.live[offset as usize..end].copy_from_slice(&bytes[..len]);
        inode.wrote(offset as usize, end);
        Ok(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.live_state()?;
        fail_unless_short(state.check(Site::Fsync, &self.path))?;
        let inode = state.inodes.get_mut(&self.inode).expect("dangling inode");
        inode.sync();
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut state = self.live_state()?;
        fail_unless_short(state.check(Site::Truncate, &self.path))?;
        let inode = state.inodes.get_mut(&self.inode).expect("dangling inode");
        let old_len = inode.live.len();
        inode.live.resize(len as usize, 0);
        inode.resized(old_len);
        Ok(())
    }
}

/// SplitMix64: a tiny seeded generator, so crash images are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/wal")
    }

    #[test]
    fn unsynced_name_and_data_vanish_in_a_crash() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let path = dir().join("a");
        let mut file = disk.create_file(&path).unwrap();
        file.write_at(0, b"hello").unwrap();
        file.sync_data().unwrap();
        disk.crash(CrashMode::DropUnsynced);
        assert_eq!(disk.file(&path), None, "name was never made durable");

        let mut file = disk.create_file(&path).unwrap();
        file.write_at(0, b"hello").unwrap();
        file.sync_data().unwrap();
        disk.sync_dir(&dir()).unwrap();
        file.write_at(5, b" world").unwrap();
        disk.crash(CrashMode::DropUnsynced);
        assert_eq!(disk.file(&path).unwrap(), b"hello");
        assert!(
            file.write_at(0, b"x").is_err(),
            "handles are stale after a crash"
        );
    }

    #[test]
    fn torn_sectors_never_touch_durable_bytes() {
        for seed in 0..50 {
            let disk = SimDisk::new();
            disk.create_dir_all(&dir()).unwrap();
            let path = dir().join("a");
            let mut file = disk.create_file(&path).unwrap();
            file.write_at(0, &[7u8; 700]).unwrap();
            file.sync_data().unwrap();
            disk.sync_dir(&dir()).unwrap();
            file.write_at(700, &[9u8; 2000]).unwrap();
            disk.crash(CrashMode::TornSectors { seed });
            let content = disk.file(&path).unwrap();
            assert!(content.len() >= 700 && content.len() <= 2700);
            assert!(content[..700].iter().all(|&b| b == 7));
            assert!(content[700..].iter().all(|&b| b == 9 || b == 0));
        }
    }

    #[test]
    fn sync_tracks_writes_truncations_and_extensions() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let path = dir().join("a");
        let mut file = disk.create_file(&path).unwrap();
        let mut rng = SplitMix::new(3);
        for _ in 0..300 {
            match rng.below(4) {
                0 | 1 => {
                    let offset = rng.below(3000);
                    let len = 1 + rng.below(700) as usize;
                    file.write_at(offset, &vec![1 + rng.below(250) as u8; len])
                        .unwrap();
                }
                2 => file.set_len(rng.below(3500)).unwrap(),
                _ => {
                    file.sync_data().unwrap();
                    let state = disk.state.lock();
                    let inode = state.inodes.values().next().unwrap();
                    assert_eq!(inode.durable, inode.live);
                }
            }
        }
    }

    #[test]
    fn a_write_over_durable_zeros_tears_like_an_append() {
        let mut seen_partial = false;
        for seed in 0..50 {
            let disk = SimDisk::new();
            disk.create_dir_all(&dir()).unwrap();
            let path = dir().join("a");
            let mut file = disk.create_file(&path).unwrap();
            file.write_at(0, &[7u8; 700]).unwrap();
            file.write_at(700, &[0u8; 3000]).unwrap();
            file.sync_data().unwrap();
            disk.sync_dir(&dir()).unwrap();
            file.write_at(700, &[9u8; 2000]).unwrap();
            let mode = if seed % 2 == 0 {
                CrashMode::TornPrefix { seed }
            } else {
                CrashMode::TornSectors { seed }
            };
            disk.crash(mode);
            let content = disk.file(&path).unwrap();
            assert_eq!(content.len(), 3700, "the preallocated size is durable");
            assert!(content[..700].iter().all(|&b| b == 7));
            assert!(content[700..2700].iter().all(|&b| b == 9 || b == 0));
            assert!(content[2700..].iter().all(|&b| b == 0));
            seen_partial |= content[700..2700].contains(&9) && content[700..2700].contains(&0);
        }
        assert!(seen_partial, "some crash kept part of the write");

        // An unsynced overwrite of non-zero durable bytes is simply lost.
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let path = dir().join("b");
        let mut file = disk.create_file(&path).unwrap();
        file.write_at(0, &[7u8; 700]).unwrap();
        file.sync_data().unwrap();
        disk.sync_dir(&dir()).unwrap();
        file.write_at(100, &[9u8; 100]).unwrap();
        disk.crash(CrashMode::TornPrefix { seed: 1 });
        assert_eq!(disk.file(&path).unwrap(), vec![7u8; 700]);
    }

    #[test]
    fn capacity_makes_writes_short_then_enospc() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        disk.set_capacity(Some(10));
        let mut file = disk.create_file(&dir().join("a")).unwrap();
        assert_eq!(file.write_at(0, &[1u8; 8]).unwrap(), 8);
        assert_eq!(file.write_at(8, &[1u8; 8]).unwrap(), 2);
        let error = file.write_at(10, &[1u8; 8]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        disk.set_capacity(None);
        assert_eq!(file.write_at(10, &[1u8; 8]).unwrap(), 8);
    }

    #[test]
    fn faults_fire_after_skip_for_times() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        disk.inject(Fault::new(Site::Fsync, FaultKind::Eio).skip(1).times(1));
        let mut file = disk.create_file(&dir().join("a")).unwrap();
        assert!(file.sync_data().is_ok());
        assert!(file.sync_data().is_err());
        assert!(file.sync_data().is_ok());
        assert_eq!(disk.calls(Site::Fsync), 3);
    }
}
