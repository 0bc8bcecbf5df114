//! Many clients, overload, liveness while the writer is stuck, connection limits, shutdown.
//! The guarded incident: `/ping` and `/health` must never queue behind pushes.

use crate::support::*;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use store::StoreConfig;

#[test]
fn sixty_four_concurrent_clients() {
    let s = start();
    s.register_clicks();
    let n_clients = 64;
    let n_pushes = 25u32;
    let barrier = Arc::new(Barrier::new(n_clients));
    let threads: Vec<_> = (0..n_clients)
        .map(|i| {
            let (http_addr, tcp_addr, barrier) = (s.http, s.tcp, Arc::clone(&barrier));
            std::thread::spawn(move || {
                let user = format!("c{i}");
                barrier.wait();
                if i % 2 == 0 {
                    // HTTP keep-alive, one request at a time.
                    let mut stream = connect(http_addr);
                    for _ in 0..n_pushes {
                        let body =
                            format!(r#"{{"event":"Click","data":{{"user":"{user}","amount":1}}}}"#);
                        stream
                            .write_all(&request_bytes("POST", "/push", Some(body.as_bytes()), None))
                            .unwrap();
                        let (buf, _) = read_until(&mut stream, Duration::from_secs(10), |b| {
                            parse_responses(b).0.len() == 1
                        });
                        assert_eq!(parse_responses(&buf).0[0].status, 200);
                    }
                } else {
                    // TCP, all pipelined.
                    let mut wire = Vec::new();
                    for _ in 0..n_pushes {
                        wire.extend(json_frame(
                            0x10,
                            &json!({"event": "Click", "body": {"user": user, "amount": 1}}),
                        ));
                    }
                    let (frames, _) = tcp_exchange(tcp_addr, &wire, n_pushes as usize);
                    assert!(frames.iter().all(|f| f.op == 0x10));
                }
                let (_, row) = http_json(
                    http_addr,
                    "POST",
                    "/get",
                    &json!({"table": "UserStats", "key": user}),
                );
                assert_eq!(row["clicks"], n_pushes, "read-after-write for {user}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let snapshot = s.store().status().snapshot();
    assert_eq!(
        snapshot.pushes_acked_total,
        u64::from(n_pushes) * n_clients as u64
    );
}

#[test]
fn a_full_writer_queue_answers_overloaded() {
    let s = start_with(
        |_| {},
        StoreConfig {
            queue_capacity: 4,
            batch_max: 2,
            ..StoreConfig::default()
        },
    );
    s.register_clicks();
    let store = s.store();
    // Hold the engine so the writer cannot make progress.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        store.read(|_| {
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(400));
        })
    });
    locked_rx.recv().unwrap();
    let mut wire = Vec::new();
    for _ in 0..40 {
        wire.extend(json_frame(
            0x10,
            &json!({"event": "Click", "body": {"user": "o", "amount": 1}}),
        ));
    }
    let (frames, _) = tcp_exchange(s.tcp, &wire, 40);
    holder.join().unwrap();
    assert_eq!(frames.len(), 40);
    let acked = frames.iter().filter(|f| f.op == 0x10).count();
    let overloaded: Vec<_> = frames.iter().filter(|f| f.op == 0xFFFF).collect();
    assert!(!overloaded.is_empty(), "some pushes were shed");
    for f in &overloaded {
        assert_eq!(f.json()["error"]["code"], "overloaded");
    }
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "o"}),
    );
    assert_eq!(
        row["clicks"], acked as u64,
        "exactly the acked pushes were applied"
    );
    assert!(s.store().status().snapshot().overloaded_total > 0);
}

#[test]
fn liveness_does_not_wait_for_a_stuck_writer() {
    let s = start();
    s.register_clicks();
    let store = s.store();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        store.read(|_| {
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
        })
    });
    locked_rx.recv().unwrap();
    // Pushes pile up behind the stuck writer on several connections...
    let mut stuck = Vec::new();
    for _ in 0..8 {
        let mut stream = connect(s.tcp);
        stream
            .write_all(&json_frame(
                0x10,
                &json!({"event": "Click", "body": {"user": "x", "amount": 1}}),
            ))
            .unwrap();
        stuck.push(stream);
    }
    std::thread::sleep(Duration::from_millis(50));
    // ...while ping (HTTP and TCP) and the admin plane answer at once.
    for _ in 0..5 {
        let started = Instant::now();
        let (status, body) = http_json(s.http, "POST", "/ping", &json!({}));
        assert_eq!((status, body["registry_version"].as_u64()), (200, Some(1)));
        let f = tcp_call(s.tcp, 0x0000, &json!({}));
        assert_eq!(f.op, 0x0000);
        let (r, _) = exchange(s.admin, b"GET /health HTTP/1.1\r\n\r\n", 1);
        assert_eq!(r[0].status, 200);
        let (r, _) = exchange(s.admin, b"GET /metrics HTTP/1.1\r\n\r\n", 1);
        assert_eq!(r[0].status, 200);
        let (r, _) = exchange(s.http, b"GET /health HTTP/1.1\r\n\r\n", 1);
        assert_eq!(r[0].status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "liveness took {:?}",
            started.elapsed()
        );
    }
    holder.join().unwrap();
    for mut stream in stuck {
        let (buf, _) = read_until(&mut stream, Duration::from_secs(5), |b| {
            parse_frames(b).len() == 1
        });
        assert_eq!(
            parse_frames(&buf)[0].op,
            0x10,
            "the stuck pushes complete afterwards"
        );
    }
}

#[test]
fn connection_limit_queues_extra_connections() {
    let s = start_with(|c| c.connections_max = 2, Default::default());
    let mut a = connect(s.http);
    let mut b = connect(s.http);
    for stream in [&mut a, &mut b] {
        stream.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
        let (buf, _) = read_until(stream, Duration::from_secs(5), |b| {
            parse_responses(b).0.len() == 1
        });
        assert_eq!(parse_responses(&buf).0.len(), 1);
    }
    let mut c = connect(s.http);
    c.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    let (buf, _) = read_until(&mut c, Duration::from_millis(300), |b| !b.is_empty());
    assert!(buf.is_empty(), "third connection waits for a slot");
    drop(a);
    let (buf, _) = read_until(&mut c, Duration::from_secs(5), |b| {
        parse_responses(b).0.len() == 1
    });
    assert_eq!(
        parse_responses(&buf).0.len(),
        1,
        "served once a slot frees up"
    );
}

#[test]
fn shutdown_closes_idle_connections_promptly() {
    let mut s = start();
    let mut idle = connect(s.http);
    idle.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    let (buf, _) = read_until(&mut idle, Duration::from_secs(5), |b| {
        parse_responses(b).0.len() == 1
    });
    assert_eq!(parse_responses(&buf).0.len(), 1);
    let mut tcp_idle = connect(s.tcp);
    let started = Instant::now();
    s.stop();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut idle, Duration::from_secs(1)));
    assert!(closed_within(&mut tcp_idle, Duration::from_secs(1)));
}
