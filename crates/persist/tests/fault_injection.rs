//! Hazard: an IO error at one call site is mishandled — an fsync error is retried and a later
//! "success" acknowledges data the kernel already dropped (PostgreSQL's fsyncgate), a full disk
//! leaves a half-written record that later decodes as corruption, or an error path acknowledges
//! a record that never became durable. Every `SimDisk` call site (open, write, short write,
//! fsync, directory fsync, rename, truncate, unlink) gets EIO and ENOSPC on its 1st, k-th and
//! every call under a workload with rotations and reclamation; after a simulated crash and
//! reopen, every acknowledged record must be there. fsync failure must be fail-stop; ENOSPC
//! must be backpressure that clears once space returns.

mod common;

use common::{crash_and_recover, drive, open, payload, small_segments, wal_dir, Oracle};
use persist::{
    AckMode, CrashMode, Fault, FaultKind, GroupCommitOptions, GroupCommitter, Lsn, SimDisk, Site,
    SplitMix, WalError,
};

const WRITE_PATH_SITES: [Site; 7] = [
    Site::Open,
    Site::Write,
    Site::Fsync,
    Site::SyncDir,
    Site::Rename,
    Site::Truncate,
    Site::Unlink,
];

#[test]
fn every_site_every_error_no_acked_record_is_lost() {
    let options = small_segments();
    let mut n_runs = 0;
    let mut n_failed_stop = 0;
    for site in WRITE_PATH_SITES {
        let kinds: &[FaultKind] = if site == Site::Write {
            &[FaultKind::Eio, FaultKind::Enospc, FaultKind::ShortWrite]
        } else {
            &[FaultKind::Eio, FaultKind::Enospc]
        };
        for &kind in kinds {
            for skip in [0u64, 1, 3, 8, 20] {
                for times in [Some(1), None] {
                    n_runs += 1;
                    let context = format!("{site:?} {kind:?} skip {skip} times {times:?}");
                    let disk = SimDisk::new();
                    let mut oracle = Oracle::new();
                    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
                    let mut fault = Fault::new(site, kind).skip(skip);
                    fault.times = times;
                    disk.inject(fault);
                    let calls_before = disk.calls(site);
                    let mut rng = SplitMix::new(skip * 31 + n_runs);
                    let failed = drive(&mut wal, &mut oracle, &mut rng, 150, 300);
                    let fired = disk.calls(site) - calls_before > skip;
                    if matches!(site, Site::Fsync | Site::SyncDir) && fired {
                        assert!(failed, "{context}: an fsync failure must be fail-stop");
                    }
                    if matches!(site, Site::Open | Site::Rename | Site::Unlink)
                        || kind == FaultKind::ShortWrite
                    {
                        assert!(
                            !failed,
                            "{context}: recoverable errors must not fail the log"
                        );
                    }
                    n_failed_stop += u32::from(failed);
                    drop(wal);
                    let mode = if skip % 2 == 0 {
                        CrashMode::DropUnsynced
                    } else {
                        CrashMode::TornPrefix { seed: skip }
                    };
                    let mut wal = crash_and_recover(&disk, &options, &mut oracle, mode, &context);
                    // The recovered log works again.
                    let mut rng = SplitMix::new(n_runs);
                    assert!(
                        !drive(&mut wal, &mut oracle, &mut rng, 30, 300),
                        "{context}"
                    );
                    drop(wal);
                    drop(crash_and_recover(
                        &disk,
                        &options,
                        &mut oracle,
                        CrashMode::DropUnsynced,
                        &context,
                    ));
                }
            }
        }
    }
    assert!(n_failed_stop > 0);
    assert!(n_runs > 100);
}

#[test]
fn a_failed_rollback_after_a_write_error_is_fail_stop() {
    let options = small_segments();
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    let durable = wal.append(b"kept").unwrap();
    wal.sync().unwrap();
    disk.inject(Fault::new(Site::Write, FaultKind::ShortWrite).times(1));
    disk.inject(Fault::new(Site::Write, FaultKind::Enospc).times(1));
    disk.inject(Fault::new(Site::Truncate, FaultKind::Eio));
    wal.append(&payload(1, 200)).unwrap();
    let error = wal.sync().unwrap_err();
    assert!(error.is_failed(), "{error}");
    assert!(wal.is_failed());
    assert!(wal.failure().unwrap().contains("rolling back"));
    drop(wal);
    disk.crash(CrashMode::DropUnsynced);
    disk.clear_faults();
    let (_, _, replayed) = open(&disk, &options, Lsn::FIRST).unwrap();
    assert_eq!(replayed, vec![(durable, b"kept".to_vec())]);
}

#[test]
fn enospc_is_backpressure_without_half_written_records() {
    let options = small_segments();
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    let mut oracle = Oracle::new();
    for idx in 0..5 {
        let bytes = payload(idx, 100);
        let lsn = wal.append(&bytes).unwrap();
        oracle.attempt(lsn, &bytes);
        wal.sync().unwrap();
        oracle.ack(lsn, &bytes);
    }
    let used: u64 = disk
        .snapshot(&wal_dir())
        .values()
        .map(|c| c.len() as u64)
        .sum();
    disk.set_capacity(Some(used + 250));
    let mut n_full = 0;
    for idx in 5..20 {
        let bytes = payload(idx, 100);
        let lsn = match wal.append(&bytes) {
            Ok(lsn) => lsn,
            Err(error) => {
                assert!(error.is_storage_full(), "{error}");
                n_full += 1;
                continue;
            }
        };
        oracle.attempt(lsn, &bytes);
        match wal.sync() {
            Ok(_) => oracle.ack(lsn, &bytes),
            Err(error) => {
                assert!(matches!(error, WalError::StorageFull { .. }), "{error}");
                assert!(!wal.is_failed());
                wal.discard_pending();
                n_full += 1;
                // Nothing half-written: the log verifies clean.
                let report = persist::tools::verify(&disk, &wal_dir()).unwrap();
                assert_eq!(report.health, persist::tools::Health::Clean);
            }
        }
    }
    assert!(n_full >= 10, "the disk filled up ({n_full})");
    // Space returns: ingest resumes without a restart.
    disk.set_capacity(None);
    let bytes = payload(99, 100);
    let lsn = wal.append(&bytes).unwrap();
    oracle.attempt(lsn, &bytes);
    wal.sync().unwrap();
    oracle.ack(lsn, &bytes);
    drop(wal);
    drop(crash_and_recover(
        &disk,
        &options,
        &mut oracle,
        CrashMode::DropUnsynced,
        "enospc",
    ));
}

#[test]
fn group_commit_fsync_failure_is_fail_stop() {
    let disk = SimDisk::new();
    let (wal, _, _) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    let committer = GroupCommitter::start(wal, GroupCommitOptions::default());
    let handle = committer.handle();
    let acked: Vec<Lsn> = (0..10)
        .map(|idx| handle.append(payload(idx, 50)).unwrap())
        .collect();
    disk.inject(Fault::new(Site::Fsync, FaultKind::Eio).times(1));
    let error = handle.append(payload(10, 50)).unwrap_err();
    assert!(error.is_failed(), "{error}");
    assert!(handle.is_failed());
    assert!(handle.status().failure.unwrap().contains("fsync"));
    // The fault fired once only; the log still refuses: no retry-and-continue.
    for idx in 11..20 {
        assert!(handle.append(payload(idx, 50)).unwrap_err().is_failed());
    }
    let (sender, receiver) = crossbeam_channel::unbounded();
    handle.submit(payload(30, 50), move |result| sender.send(result).unwrap());
    assert!(receiver.recv().unwrap().unwrap_err().is_failed());
    let wal = committer.shutdown();
    assert!(wal.is_failed());
    drop(wal);
    disk.crash(CrashMode::DropUnsynced);
    disk.clear_faults();
    let (_, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    let lsns: Vec<Lsn> = replayed.iter().map(|(lsn, _)| *lsn).collect();
    assert_eq!(lsns, acked, "exactly the acknowledged records");
}

#[test]
fn group_commit_enospc_clears_when_space_returns() {
    for ack_mode in [
        AckMode::Durable,
        AckMode::Relaxed {
            sync_interval_ms: 2,
        },
    ] {
        let disk = SimDisk::new();
        let (wal, _, _) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
        let options = GroupCommitOptions {
            ack_mode,
            ..GroupCommitOptions::default()
        };
        let committer = GroupCommitter::start(wal, options);
        let handle = committer.handle();
        handle.append(payload(0, 50)).unwrap();
        handle.sync().unwrap();
        let used: u64 = disk
            .snapshot(&wal_dir())
            .values()
            .map(|c| c.len() as u64)
            .sum();
        disk.set_capacity(Some(used + 10));
        let result = handle.append(payload(1, 200)).and_then(|_| handle.sync());
        assert!(result.unwrap_err().is_storage_full(), "{ack_mode:?}");
        assert!(handle.is_storage_full());
        assert!(!handle.is_failed());
        disk.set_capacity(None);
        // Relaxed mode rewrites the held records on its next tick; durable mode on the next batch.
        let lsn = loop {
            match handle.append(payload(2, 50)) {
                Ok(lsn) => break lsn,
                Err(error) => {
                    assert!(error.is_storage_full(), "{error}");
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        };
        let durable = handle.sync().unwrap();
        assert!(durable >= lsn);
        assert!(!handle.is_storage_full());
        let wal = committer.shutdown();
        drop(wal);
        let (_, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
        assert_eq!(replayed.last().unwrap().0, lsn);
        if ack_mode == AckMode::Durable {
            assert_eq!(
                replayed.len(),
                2,
                "the refused record never reached the log"
            );
        } else {
            assert_eq!(
                replayed.len(),
                3,
                "the acknowledged (relaxed) record was kept and written"
            );
        }
    }
}

#[test]
fn faults_during_open_modify_nothing_or_converge() {
    // A log with a torn tail; every read-path and repair-path site fails once during open.
    let options = small_segments();
    let disk = SimDisk::new();
    let mut oracle = Oracle::new();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    let mut rng = SplitMix::new(5);
    drive(&mut wal, &mut oracle, &mut rng, 100, 200);
    wal.append(&payload(1, 300)).unwrap();
    drop(wal);
    disk.crash(CrashMode::TornPrefix { seed: 3 });
    let image = disk.snapshot(&wal_dir());
    for site in Site::ALL {
        for kind in [FaultKind::Eio, FaultKind::Enospc] {
            let disk = common::disk_with(&image);
            disk.inject(Fault::new(site, kind).times(1));
            let _ = open(&disk, &options, oracle.replay_from);
            let mut copy = Oracle {
                acked: oracle.acked.clone(),
                attempted: oracle.attempted.clone(),
                replay_from: oracle.replay_from,
            };
            drop(crash_and_recover(
                &disk,
                &options,
                &mut copy,
                CrashMode::DropUnsynced,
                &format!("{site:?} {kind:?}"),
            ));
        }
    }
}
