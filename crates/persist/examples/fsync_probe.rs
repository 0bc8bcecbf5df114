//! fdatasync latency probe: what does one small WAL commit cost when it (a) grows the file,
//! (b) overwrites space reserved with `fallocate` (unwritten extents), (c) overwrites space that
//! was zero-filled with real writes and fsynced (what WAL preallocation does)?
//!
//! `cargo run --release -p persist --example fsync_probe -- [syncs per case] [record bytes] [dir]`
//! (defaults: 2000, 4096, a fresh directory under the system temp dir — use a directory on the
//! disk you care about; tmpfs makes fsync free). Each case writes `record bytes` at the end of
//! what was written so far, then `fdatasync`s, `syncs` times, and reports wall-clock latency
//! percentiles of the fdatasync and the CPU time the thread spent in it (from
//! `/proc/thread-self/schedstat`). The cases are interleaved in rounds so that a noisy
//! neighbour on a shared disk hits all of them alike. Case (b) shells out to util-linux
//! `fallocate` (the workspace forbids `unsafe`, so no direct syscall); it is skipped if that
//! tool is missing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Append,
    Fallocated,
    ZeroFilled,
}

struct Probe {
    case: Case,
    file: File,
    offset: u64,
    latencies_ns: Vec<u64>,
    cpu_ns: Vec<u64>,
}

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create probe file")
}

fn prepare(dir: &Path, case: Case, bytes: u64) -> Option<Probe> {
    let path = dir.join(format!("{case:?}.probe"));
    let file = open(&path);
    match case {
        Case::Append => {}
        Case::Fallocated => {
            let status = Command::new("fallocate")
                .arg("-l")
                .arg(bytes.to_string())
                .arg(&path)
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("fallocate(1) failed or missing: skipping the fallocated case");
                return None;
            }
        }
        Case::ZeroFilled => {
            let chunk = vec![0u8; 1 << 20];
            let mut offset = 0;
            while offset < bytes {
                let n = chunk.len().min((bytes - offset) as usize);
                file.write_all_at(&chunk[..n], offset).expect("zero fill");
                offset += n as u64;
            }
        }
    }
    file.sync_all().expect("fsync");
    File::open(dir)
        .expect("open dir")
        .sync_all()
        .expect("fsync dir");
    Some(Probe {
        case,
        file,
        offset: 0,
        latencies_ns: Vec::new(),
        cpu_ns: Vec::new(),
    })
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * fraction) as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let syncs: usize = args.next().map_or(2000, |a| a.parse().expect("syncs"));
    let record: usize = args
        .next()
        .map_or(4096, |a| a.parse().expect("record bytes"));
    let dir: PathBuf = args.next().map_or_else(
        || std::env::temp_dir().join(format!("weir-fsync-probe-{}", std::process::id())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create dir");
    let bytes = (syncs * record) as u64 + (1 << 20);
    let mut probes: Vec<Probe> = [Case::Append, Case::Fallocated, Case::ZeroFilled]
        .into_iter()
        .filter_map(|case| prepare(&dir, case, bytes))
        .collect();
    let payload: Vec<u8> = (0..record).map(|idx| (idx % 251) as u8 + 1).collect();
    for _ in 0..syncs {
        for probe in &mut probes {
            probe
                .file
                .write_all_at(&payload, probe.offset)
                .expect("write");
            probe.offset += record as u64;
            let cpu = thread_cpu_ns();
            let start = Instant::now();
            probe.file.sync_data().expect("fdatasync");
            probe.latencies_ns.push(start.elapsed().as_nanos() as u64);
            probe.cpu_ns.push(thread_cpu_ns().saturating_sub(cpu));
        }
    }
    println!(
        "fdatasync after a {record}-byte write, {syncs} syncs per case, interleaved, in {}",
        dir.display()
    );
    println!("case         p50_us  p90_us  p99_us  mean_us  cpu_mean_us");
    for probe in &mut probes {
        probe.latencies_ns.sort_unstable();
        let mean = probe.latencies_ns.iter().sum::<u64>() / syncs as u64;
        let cpu_mean = probe.cpu_ns.iter().sum::<u64>() / syncs as u64;
        println!(
            "{:<12} {:>6.0}  {:>6.0}  {:>6.0}  {:>7.0}  {:>11.1}",
            format!("{:?}", probe.case),
            percentile(&probe.latencies_ns, 0.5) as f64 / 1e3,
            percentile(&probe.latencies_ns, 0.9) as f64 / 1e3,
            percentile(&probe.latencies_ns, 0.99) as f64 / 1e3,
            mean as f64 / 1e3,
            cpu_mean as f64 / 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
