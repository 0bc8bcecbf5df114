//! The admin sidecar: routes, headers like beava's axum sidecar, and the metrics it must expose.

use crate::support::*;
use serde_json::json;

fn admin(s: &TestServer, raw: &[u8]) -> Response {
    let (mut r, _) = exchange(s.admin, raw, 1);
    assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(raw));
    r.remove(0)
}

#[test]
fn routes_and_headers() {
    let s = start();
    let r = admin(&s, b"GET /health HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"status":"ok"}"#);
    assert_eq!(r.header("x-runtime").as_deref(), Some("tokio"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert!(r.head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-runtime: tokio\r\ncontent-length: 15\r\ndate: "));

    assert_eq!(
        admin(&s, b"GET /ready HTTP/1.1\r\n\r\n").text(),
        r#"{"status":"ready"}"#
    );
    assert_eq!(admin(&s, b"GET /health?x=1 HTTP/1.1\r\n\r\n").status, 200);
    assert_eq!(
        admin(&s, b"GET /registry HTTP/1.1\r\n\r\n").text(),
        r#"{"node_count":0,"version":0}"#
    );

    let r = admin(&s, b"GET /nope HTTP/1.1\r\n\r\n");
    assert_eq!((r.status, r.body.len()), (404, 0));
    let r = admin(&s, b"GET /health/ HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 404);
    let r = admin(&s, b"POST /health HTTP/1.1\r\n\r\n");
    assert_eq!(
        (r.status, r.header("allow").as_deref()),
        (405, Some("GET,HEAD"))
    );
    // HEAD: the GET headers (content-length 15), no body.
    let mut stream = connect(s.admin);
    std::io::Write::write_all(&mut stream, b"HEAD /health HTTP/1.1\r\n\r\n").unwrap();
    let (buf, _) = read_until(&mut stream, std::time::Duration::from_secs(5), |b| {
        b.ends_with(b"\r\n\r\n")
    });
    let head = String::from_utf8(buf).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-length: 15\r\n"), "{head}");
    let (rest, _) = read_until(&mut stream, std::time::Duration::from_millis(100), |b| {
        !b.is_empty()
    });
    assert!(rest.is_empty(), "no body after HEAD");

    let (r, eof) = exchange(s.admin, b"GARBAGE\r\n\r\n", 1);
    assert_eq!(r[0].status, 400);
    let _ = eof;
}

#[test]
fn metrics_and_registry_follow_the_store() {
    let s = start();
    s.register_clicks();
    for user in ["a", "b", "a"] {
        let (status, _) = http_json(
            s.http,
            "POST",
            "/push",
            &json!({"event": "Click", "data": {"user": user, "amount": 1}}),
        );
        assert_eq!(status, 200);
    }
    assert_eq!(
        admin(&s, b"GET /registry HTTP/1.1\r\n\r\n").json(),
        json!({"node_count": 2, "version": 1})
    );
    // Engine counters are published when the writer goes idle, after the acks it sends: wait
    // for every counter the pushes move (the entity count alone is reached at the second push).
    let mut text = String::new();
    for _ in 0..100 {
        let r = admin(&s, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(r.header("x-runtime").as_deref(), Some("tokio"));
        text = r.text();
        if text.contains("\nbeava_entity_count_resident 2\n")
            && text.contains("\nweir_engine_events_applied_total 3\n")
            && text.contains("\nweir_store_pushes_acked_total 3\n")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for line in [
        "beava_registry_version 1",
        "beava_node_count 2",
        "beava_runtime_kind{runtime=\"mio\"} 1",
        "beava_entity_count_resident 2",
        "beava_cold_entity_evictions_total 0",
        "beava_bytes_per_entity_p99 7000",
        "beava_snapshot_last_duration_seconds 0.000000",
        "weir_store_pushes_acked_total 3",
        "weir_engine_events_applied_total 3",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// The admin sidecar starts before the store recovers (weir's startup order): `/health` is 200
/// and `/ready` is 503 with the recovery phase and progress until the store is open; then the
/// data plane starts next to the same sidecar and `/ready` is 200.
#[test]
fn ready_reports_recovery_until_the_store_is_open() {
    use server::{AdminServer, RunningServer, ServerConfig};
    use std::sync::Arc;
    use store::{Store, StoreConfig, SystemClock};

    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let config = ServerConfig {
        http_addr: any,
        tcp_addr: any,
        admin_addr: any,
        shutdown_grace: std::time::Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let opening = Store::prepare(StoreConfig::default(), Arc::new(SystemClock));
    let sidecar = AdminServer::start(&config, opening.handle()).expect("admin starts");
    let addr = sidecar.addr();
    let get = |path: &str| {
        let (mut r, _) = exchange(addr, format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes(), 1);
        r.remove(0)
    };
    assert_eq!(get("/health").status, 200);
    let r = get("/ready");
    assert_eq!(r.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["status"], "recovering");
    assert_eq!(body["phase"], "starting");
    for field in [
        "elapsed_ms",
        "snapshot_bytes_loaded",
        "snapshot_bytes_total",
        "wal_records_replayed",
        "wal_bytes_replayed",
        "wal_bytes_total",
    ] {
        assert!(body[field].is_u64(), "{field} in {body}");
    }

    let (store, _) = opening.open().expect("opens");
    let server = RunningServer::start_with_admin(config, store.handle(), sidecar).expect("starts");
    assert_eq!(server.admin_addr(), addr);
    assert_eq!(get("/ready").text(), r#"{"status":"ready"}"#);
    let (status, _) = http_json(server.http_addr(), "POST", "/ping", &json!({}));
    assert_eq!(status, 200);
    // The sidecar's /metrics shows the data plane's connection counters.
    let metrics = get("/metrics").text();
    assert!(metrics.contains("http_connections_total"), "{metrics}");
    server.shutdown();
    store.shutdown();
}
