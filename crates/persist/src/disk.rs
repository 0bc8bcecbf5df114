//! The `Disk` seam: every IO the WAL performs goes through this trait, so tests can swap the real
//! file system (`FileDisk`) for the fault-injecting in-memory `SimDisk`.
//!
//! The trait is deliberately small and names the calls whose durability matters: data reaches
//! the disk only through `DiskFile::sync_data`, and a created, renamed or removed name only
//! through `Disk::sync_dir`. Writes are positional (`write_at`) and may be short.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Directory-level operations.
pub trait Disk: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files in `dir` (not recursive, any order).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of `path`.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The whole content of `path`, into `buf` (cleared first; its capacity is reused, so
    /// reading file after file into one buffer does not take fresh memory each time).
    fn read_file_into(&self, path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
        *buf = self.read_file(path)?;
        Ok(())
    }
    /// Length of `path` in bytes.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Creates `path` (truncating it if it exists) and opens it for writing.
    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Opens an existing `path` for writing.
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing.
pub trait DiskFile: Send + fmt::Debug {
    /// Writes some prefix of `bytes` at `offset`; returns how many bytes were written.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize>;
    /// `fdatasync`: makes the file's data (and its size) durable.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// Writes all of `bytes` at `offset`, looping over short writes. On error, the number of bytes
/// that did get written before it is returned alongside, so callers can account for them.
pub fn write_all_at(
    file: &mut dyn DiskFile,
    mut offset: u64,
    mut bytes: &[u8],
) -> Result<(), (usize, io::Error)> {
    let mut written = 0usize;
    while !bytes.is_empty() {
        match file.write_at(offset, bytes) {
            Ok(0) => {
                return Err((
                    written,
                    io::Error::new(io::ErrorKind::WriteZero, "write returned 0"),
                ))
            }
            Ok(n) => {
                assert!(n <= bytes.len());
                written += n;
                offset += n as u64;
                bytes = &bytes[n..];
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err((written, error)),
        }
    }
    Ok(())
}

/// The real file system (`std::fs`, positional writes, `fdatasync`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FileDisk;

#[derive(Debug)]
struct FsFile {
    file: File,
}

impl DiskFile for FsFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        self.file.write_at(bytes, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

impl Disk for FileDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        Ok(names)
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_file_into(&self, path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
        use std::io::Read;
        buf.clear();
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        buf.reserve(usize::try_from(len).unwrap_or(0));
        file.read_to_end(buf)?;
        Ok(())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(FsFile { file }))
    }

    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(Box::new(FsFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The directory a path lives in (for directory fsyncs).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
