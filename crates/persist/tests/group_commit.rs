//! Hazard: group commit loses or duplicates a completion, hands out LSNs with holes or twice,
//! acknowledges before the fsync, or degenerates into one fsync per record so pipelined clients
//! collapse throughput. Many producer threads push through one committer; every completion must
//! arrive exactly once, LSNs must be dense, acks must be covered by the durable LSN, and there
//! must be far fewer fsyncs than records. Relaxed mode must sync within its interval, and a full
//! queue must refuse `try_submit` instead of blocking.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{open, payload, small_segments};
use crossbeam_channel::unbounded;
use persist::{
    AckMode, FileDisk, GroupCommitOptions, GroupCommitter, Lsn, SimDisk, Site, Wal, WalError,
    WalOptions,
};

fn run_producers(
    committer: &GroupCommitter,
    n_producers: u64,
    n_per_producer: u64,
) -> Vec<(Lsn, Vec<u8>)> {
    let (sender, receiver) = unbounded();
    let producers: Vec<_> = (0..n_producers)
        .map(|producer| {
            let handle = committer.handle();
            let sender = sender.clone();
            thread::spawn(move || {
                for idx in 0..n_per_producer {
                    let bytes = payload(producer * 1_000_000 + idx, 1 + (idx % 200) as usize);
                    let sender = sender.clone();
                    let expected = bytes.clone();
                    let status = handle.clone();
                    handle.submit(bytes, move |result| {
                        let lsn = result.expect("durable append");
                        // Acked only once the fsync covering it completed.
                        assert!(status.status().durable_lsn >= lsn);
                        sender.send((lsn, expected)).unwrap();
                    });
                }
            })
        })
        .collect();
    drop(sender);
    for producer in producers {
        producer.join().unwrap();
    }
    let mut acked: Vec<(Lsn, Vec<u8>)> = receiver.iter().collect();
    acked.sort();
    acked
}

#[test]
fn many_producers_dense_lsns_exactly_once_fewer_fsyncs() {
    let disk = SimDisk::new();
    let (wal, _, _) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    let committer = GroupCommitter::start(wal, GroupCommitOptions::default());
    let acked = run_producers(&committer, 16, 500);
    assert_eq!(
        acked.len(),
        16 * 500,
        "every completion arrived exactly once"
    );
    for (idx, (lsn, _)) in acked.iter().enumerate() {
        assert_eq!(*lsn, Lsn(idx as u64 + 1), "dense LSNs");
    }
    let status = committer.handle().status();
    assert_eq!(status.records_acked, 8000);
    assert!(
        status.fsyncs * 4 < 8000,
        "group commit batches ({} fsyncs)",
        status.fsyncs
    );
    let wal = committer.shutdown();
    drop(wal);
    let (_, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, acked);
    assert!(disk.calls(Site::Fsync) < 8000);
}

#[test]
fn group_commit_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(
        Arc::new(FileDisk),
        tmp.path(),
        WalOptions::default(),
        Lsn::FIRST,
        |_, _, _| {},
    )
    .unwrap();
    let committer = GroupCommitter::start(wal, GroupCommitOptions::default());
    let acked = run_producers(&committer, 8, 100);
    assert_eq!(acked.len(), 800);
    let status = committer.handle().status();
    assert!(
        status.fsyncs < 800,
        "{} fsyncs for 800 records",
        status.fsyncs
    );
    drop(committer);
    let mut replayed = Vec::new();
    Wal::open(
        Arc::new(FileDisk),
        tmp.path(),
        WalOptions::default(),
        Lsn::FIRST,
        |lsn, _, bytes| replayed.push((lsn, bytes.to_vec())),
    )
    .unwrap();
    assert_eq!(replayed, acked);
}

#[test]
fn relaxed_mode_acks_early_and_syncs_within_the_interval() {
    let disk = SimDisk::new();
    let (wal, _, _) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    let options = GroupCommitOptions {
        ack_mode: AckMode::relaxed(),
        ..GroupCommitOptions::default()
    };
    let committer = GroupCommitter::start(wal, options);
    let handle = committer.handle();
    let fsyncs_before = disk.calls(Site::Fsync);
    let started = Instant::now();
    let lsns: Vec<Lsn> = (0..200)
        .map(|idx| handle.append(payload(idx, 40)).unwrap())
        .collect();
    let acked_in = started.elapsed();
    let last = *lsns.last().unwrap();
    while handle.status().durable_lsn < last {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "relaxed mode never synced"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let synced_in = started.elapsed();
    assert!(
        disk.calls(Site::Fsync) - fsyncs_before < 200,
        "relaxed mode batches syncs"
    );
    assert!(
        synced_in <= acked_in + Duration::from_millis(20 + 200),
        "synced within the window"
    );
    drop(committer);
}

#[test]
fn a_full_queue_refuses_try_submit_and_shutdown_completes_everything() {
    let disk = SimDisk::new();
    let (wal, _, _) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    let options = GroupCommitOptions {
        queue_depth_max: 2,
        batch_wait_us: 0,
        ..GroupCommitOptions::default()
    };
    let committer = GroupCommitter::start(wal, options);
    let handle = committer.handle();
    // Park the commit thread inside a completion so the queue fills up behind it.
    let barrier = Arc::new(Barrier::new(2));
    let parked = Arc::clone(&barrier);
    handle.submit(payload(0, 10), move |result| {
        result.unwrap();
        parked.wait();
        parked.wait();
    });
    barrier.wait();
    let completed = Arc::new(AtomicUsize::new(0));
    let (sender, receiver) = unbounded();
    for idx in 1..=5 {
        let completed = Arc::clone(&completed);
        let sender = sender.clone();
        handle.try_submit(payload(idx, 10), move |result| {
            completed.fetch_add(1, Ordering::SeqCst);
            sender.send(result).unwrap();
        });
    }
    let refused: Vec<_> = receiver.try_iter().collect();
    assert_eq!(
        refused.len(),
        3,
        "two fit in the queue, three are refused at once"
    );
    assert!(refused
        .iter()
        .all(|r| matches!(r, Err(WalError::Overloaded))));
    barrier.wait();
    let wal = committer.shutdown();
    assert_eq!(
        completed.load(Ordering::SeqCst),
        5,
        "every completion called exactly once"
    );
    assert_eq!(wal.durable_lsn(), Lsn(3));
    // After shutdown, submissions are refused with `Closed`.
    let (sender, receiver) = unbounded();
    handle.submit(payload(9, 10), move |result| sender.send(result).unwrap());
    assert_eq!(receiver.recv().unwrap(), Err(WalError::Closed));
}
