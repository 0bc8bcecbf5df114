//! The HTTP data plane's routes and error bodies, byte for byte against what beava 0.0.6 sends
//! for the same requests (captured from the real binary).

use crate::support::*;
use serde_json::json;

#[test]
fn health_ready_ping_and_headers() {
    let s = start();
    let r = http(s.http, "GET", "/health", None);
    assert_eq!(
        r.head,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\
         X-Runtime: hand-rolled\r\nConnection: keep-alive"
    );
    assert_eq!(r.text(), r#"{"status":"ok"}"#);
    assert_eq!(
        http(s.http, "GET", "/ready", None).text(),
        r#"{"status":"ready"}"#
    );
    assert_eq!(http(s.http, "GET", "/health/?x=1", None).status, 200);
    let (status, body) = http_json(s.http, "POST", "/ping", &json!({}));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"pong": true, "registry_version": 0}));
}

#[test]
fn routing_errors() {
    let s = start();
    for (method, path, status, body) in [
        (
            "GET",
            "/nope",
            404,
            r#"{"error":{"code":"not_found","path":"/nope"}}"#,
        ),
        (
            "GET",
            "/nope/?x=1",
            404,
            r#"{"error":{"code":"not_found","path":"/nope/?x=1"}}"#,
        ),
        (
            "GET",
            "/registry",
            404,
            r#"{"error":{"code":"not_found","path":"/registry"}}"#,
        ),
        (
            "GET",
            "/get/clicks",
            404,
            r#"{"error":{"code":"not_found","path":"/get/clicks"}}"#,
        ),
        (
            "GET",
            "/push",
            405,
            r#"{"error":{"code":"method_not_allowed","method":"GET","path":"/push"}}"#,
        ),
        (
            "get",
            "/health",
            405,
            r#"{"error":{"code":"method_not_allowed","method":"get","path":"/health"}}"#,
        ),
        (
            "HEAD",
            "/health",
            405,
            r#"{"error":{"code":"method_not_allowed","method":"HEAD","path":"/health"}}"#,
        ),
        (
            "POST",
            "/registry",
            405,
            r#"{"error":{"code":"method_not_allowed","method":"POST","path":"/registry"}}"#,
        ),
    ] {
        let r = http(s.http, method, path, None);
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, body),
            "{method} {path}"
        );
    }
}

#[test]
fn register_push_get_batch_get() {
    let s = start();
    let registration = serde_json::to_vec(&clicks_registration()).unwrap();
    let r = http(s.http, "POST", "/register", Some(&registration));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["registry_version"], 1);
    assert_eq!(
        body["registered_descriptors"],
        json!(["Click", "UserStats"])
    );

    // Same again: nothing new.
    let again = http(s.http, "POST", "/register", Some(&registration)).json();
    assert_eq!(again["added"], json!([]));
    assert_eq!(again["already_present"], json!(["Click", "UserStats"]));

    let (status, ack) = http_json(
        s.http,
        "POST",
        "/push",
        &json!({"event": "Click", "data": {"user": "u1", "amount": 2.5}}),
    );
    assert_eq!(status, 200);
    assert_eq!(ack["idempotent_replay"], false);
    assert_eq!(ack["registry_version"], 1);
    let first_lsn = ack["ack_lsn"].as_u64().unwrap();
    let (_, ack) = http_json(
        s.http,
        "POST",
        "/push-sync",
        &json!({"event": "Click", "data": {"user": "u1", "amount": 2}}),
    );
    assert!(
        ack["ack_lsn"].as_u64().unwrap() > first_lsn,
        "ack_lsn increases"
    );
    for path in ["/push/Click", "/push-sync/Click", "/push-batch/Click/"] {
        let (status, _) = http_json(s.http, "POST", path, &json!({"user": "u2", "amount": 1}));
        assert_eq!(status, 200, "{path}");
    }

    let (status, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "u1"}),
    );
    assert_eq!((status, row), (200, json!({"clicks": 2, "total": 4.5})));
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "u1", "features": ["clicks"]}),
    );
    assert_eq!(row, json!({"clicks": 2}));
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "nobody"}),
    );
    assert_eq!(row, json!({}));
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "u1", "features": []}),
    );
    assert_eq!(row, json!({}));

    let (status, body) = http_json(
        s.http,
        "POST",
        "/batch_get",
        &json!({"requests": [
            {"table": "UserStats", "key": "u1"},
            {"table": "Nope", "key": "u1"},
            {"table": "UserStats", "entity_id": "u2", "features": ["clicks"]},
            {"table": "UserStats", "key": "zz"}
        ]}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"results": [
            {"clicks": 2, "total": 4.5},
            {"error": {"code": "unknown_table", "message": "table 'Nope' is not a registered aggregation"}},
            {"clicks": 3},
            {}
        ]})
    );

    // Legacy path-addressed reads.
    assert_eq!(
        http(s.http, "GET", "/get/clicks/u1", None).text(),
        r#"{"value":2}"#
    );
    assert_eq!(
        http(s.http, "GET", "/get/UserStats/u2", None).json(),
        json!({"clicks": 3, "total": 3.0})
    );
    let r = http(s.http, "GET", "/get/clicks/zz", None);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"error":{"code":"key_not_found"}}"#)
    );
    let r = http(s.http, "GET", "/get/nope/u1", None);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"error":{"code":"feature_not_found"}}"#)
    );
    let r = http(s.http, "GET", "/get/clicks/a|b", None);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"error":{"code":"key_parse_failure"}}"#)
    );

    let (_, pong) = http_json(s.http, "POST", "/ping", &json!({}));
    assert_eq!(pong["registry_version"], 1);
}

#[test]
fn push_errors() {
    let s = start();
    s.register_clicks();
    for (body, status, expected) in [
        (
            &br#"{"event":"Nope","data":{}}"#[..],
            404,
            r#"{"error":{"code":"event_not_found"}}"#,
        ),
        (
            br#"{"event":"Click","data":{"user":"u\u0001","amount":2}}"#,
            400,
            r#"{"error":{"code":"control_character_in_string"}}"#,
        ),
        (
            br#"{"event":"Click","data":{"user":"u\tx","amount":2}}"#,
            400,
            r#"{"error":{"code":"control_character_in_string"}}"#,
        ),
        (
            br#"{"event":"Click","data":{"user":"u1"}}"#,
            400,
            r#"{"error":{"code":"invalid_event"}}"#,
        ),
        (
            br#"{"event":"Click","data":{"user":"u1","amount":1,"x":1}}"#,
            400,
            r#"{"error":{"code":"unknown_field_v0"}}"#,
        ),
        (
            br#"{"event":"Click"}"#,
            400,
            r#"{"error":{"code":"invalid_event"}}"#,
        ),
        (
            br#"{"data":{}}"#,
            400,
            r#"{"error":{"code":"missing_event_name_in_body"}}"#,
        ),
        (
            b"[1]",
            400,
            r#"{"error":{"code":"missing_event_name_in_body"}}"#,
        ),
        (
            br#"{"event":5}"#,
            400,
            r#"{"error":{"code":"missing_event_name_in_body"}}"#,
        ),
        (b"nope", 400, r#"{"error":{"code":"invalid_json_body"}}"#),
        (b"", 400, r#"{"error":{"code":"invalid_json_body"}}"#),
        (
            br#"{"event":"Click","data":[1]}"#,
            400,
            r#"{"error":{"code":"invalid_event"}}"#,
        ),
    ] {
        let r = http(s.http, "POST", "/push", Some(body));
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, expected),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // weir's bounds: a u64 beyond i64 is refused with its own code (beava accepts and wraps).
    let r = http(
        s.http,
        "POST",
        "/push",
        Some(br#"{"event":"Click","data":{"user":"u1","amount":18446744073709551615}}"#),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "integer_out_of_range");
    // Legacy push: undecodable body is invalid_event.
    let r = http(s.http, "POST", "/push/Click", Some(b"garbage"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"error":{"code":"invalid_event"}}"#)
    );
    let r = http(s.http, "POST", "/push/Nope", Some(b"{}"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"error":{"code":"event_not_found"}}"#)
    );
    // Nothing of the above was applied.
    let (_, row) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "u1"}),
    );
    assert_eq!(row, json!({}));
}

#[test]
fn get_and_batch_get_errors() {
    let s = start();
    s.register_clicks();
    let hint = "POST /get expects {table, key, features?}; received legacy {keys, features} shape — see docs/http-api.md#post-get";
    for (body, status, expected) in [
        (r#"{"table":"Nope","key":"u1"}"#.to_string(), 404, r#"{"error":{"code":"unknown_table"}}"#.to_string()),
        (r#"{"table":"UserStats","key":"a|b"}"#.into(), 404, r#"{"error":{"code":"key_parse_failure"}}"#.into()),
        (
            r#"{"table":"UserStats","key":"u1","features":["nope","x"]}"#.into(),
            500,
            r#"{"error":{"code":"internal_error","reason":"feature_not_found: missing=[\"nope\", \"x\"] table=UserStats"}}"#.into(),
        ),
        (
            r#"{"table":"UserStats","key":5}"#.into(),
            500,
            r#"{"error":{"code":"internal_error","reason":"invalid type: integer `5`, expected a string at line 1 column 28"}}"#.into(),
        ),
        (
            r#"{"table":"UserStats"}"#.into(),
            500,
            r#"{"error":{"code":"internal_error","reason":"missing field `key` at line 1 column 21"}}"#.into(),
        ),
        (
            r#"{"keys":["u1"],"features":["clicks"]}"#.into(),
            400,
            format!(r#"{{"error":{{"code":"unsupported_request_shape","message":"{hint}"}}}}"#),
        ),
        (
            r#"{"feature":"clicks","key":"u1"}"#.into(),
            400,
            format!(r#"{{"error":{{"code":"unsupported_request_shape","message":"{hint}"}}}}"#),
        ),
        (
            "garbage".into(),
            500,
            r#"{"error":{"code":"internal_error","reason":"expected value at line 1 column 1"}}"#.into(),
        ),
    ] {
        let r = http(s.http, "POST", "/get", Some(body.as_bytes()));
        assert_eq!((r.status, r.text()), (status, expected), "{body}");
    }
    for (body, status, expected) in [
        (r#"{"requests":[]}"#, 200, r#"{"results":[]}"#),
        (
            r#"{"requests":[{"table":"UserStats","key":"u1","features":["zz"]}]}"#,
            500,
            r#"{"error":{"code":"internal_error","reason":"feature_not_found: missing=[\"zz\"] table=UserStats"}}"#,
        ),
        (
            r#"{"requests":[{"table":"UserStats","key":"u1","entity_id":"u1"}]}"#,
            500,
            "{\"error\":{\"code\":\"internal_error\",\"reason\":\"BatchGetReqEntry: cannot specify both `key` and `entity_id` (entity_id is a deprecated alias) at line 1 column 56\"}}",
        ),
        (
            "[]",
            500,
            r#"{"error":{"code":"internal_error","reason":"invalid length 0, expected struct BatchGetBody with 1 element at line 1 column 2"}}"#,
        ),
    ] {
        let r = http(s.http, "POST", "/batch_get", Some(body.as_bytes()));
        assert_eq!((r.status, r.text().as_str()), (status, expected), "{body}");
    }
}

#[test]
fn register_errors_and_content_type() {
    let s = start();
    let registration = serde_json::to_vec(&clicks_registration()).unwrap();
    for content_type in [Some("text/plain"), None] {
        let bytes = request_bytes("POST", "/register", Some(&registration), content_type);
        let (r, _) = exchange(s.http, &bytes, 1);
        assert_eq!(r[0].status, 415);
        assert_eq!(
            r[0].text(),
            r#"{"error":{"code":"unsupported_media_type","path":"/register","reason":"expected application/json"},"registry_version":0}"#
        );
    }
    let bytes = request_bytes(
        "POST",
        "/register",
        Some(b"{\"nodes\":[]}"),
        Some("Application/JSON; charset=utf-8"),
    );
    assert_eq!(exchange(s.http, &bytes, 1).0[0].status, 200);

    for (body, expected) in [
        (
            "garbage",
            r#"{"error":{"code":"invalid_registration","path":"<body>","reason":"expected value at line 1 column 1"},"registry_version":0}"#,
        ),
        (
            "{}",
            r#"{"error":{"code":"invalid_registration","path":"<body>","reason":"missing field `nodes` at line 1 column 2"},"registry_version":0}"#,
        ),
    ] {
        let r = http(s.http, "POST", "/register", Some(body.as_bytes()));
        assert_eq!((r.status, r.text().as_str()), (400, expected), "{body}");
    }

    s.register_clicks();
    let partial = json!({"nodes": [clicks_registration()["nodes"][0].clone()]});
    let (status, body) = http_json(s.http, "POST", "/register", &partial);
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"error": {"code": "force_required",
                         "diff": {"additive": [], "already_present": ["Click"],
                                  "destructive": [{"agg": "", "kind": "agg_removal", "table": "UserStats"}]},
                         "reason": "Destructive registry change requires force=true. See diff for details."},
               "registry_version": 1})
    );
    let mut dry = clicks_registration();
    dry["dry_run"] = json!(true);
    let (status, body) = http_json(s.http, "POST", "/register", &dry);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"diff": {"additive": [], "already_present": ["Click", "UserStats"], "destructive": []},
               "would_apply": false})
    );
}

#[test]
fn reset_needs_test_mode() {
    let s = start_with(|c| c.test_mode = false, Default::default());
    let r = http(s.http, "POST", "/reset", Some(b"{}"));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "{\"error\":{\"code\":\"reset_disabled_in_production\",\"reason\":\"OP_RESET requires server \
         test_mode (set BEAVA_TEST_MODE=1 or pass Config { test_mode: true } at server \
         construction). See docs/error-codes.md.\"}}"
    );

    let s = start();
    s.register_clicks();
    let (status, body) = http_json(s.http, "POST", "/reset", &json!({}));
    assert_eq!(
        (status, body),
        (200, json!({"registry_version": 2, "reset": true}))
    );
    let (status, _) = http_json(
        s.http,
        "POST",
        "/get",
        &json!({"table": "UserStats", "key": "u1"}),
    );
    assert_eq!(status, 404, "the registry is gone");
}
