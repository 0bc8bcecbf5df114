"""Every HTTP error code of beava-compat §1.4, provoked on purpose, with exact status and body."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conftest import Server, post_json

E = {"kind": "event", "name": "E", "schema": {"fields": {"k": "str", "x": "i64"}, "optional_fields": []}}


def table(name: str, agg: dict[str, Any], keys: list[str] | None = None, upstream: str = "E",
          prefix: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    keys = ["k"] if keys is None else keys
    return {"kind": "derivation", "name": name, "output_kind": "table", "upstreams": [upstream],
            "ops": (prefix or []) + [{"op": "group_by", "keys": keys, "agg": agg}],
            "schema": {"fields": {"k": "str"}, "optional_fields": []}, "table_primary_key": keys}


T = table("T", {"c": {"op": "count", "params": {}}})


@pytest.fixture()
def ready(http: httpx.Client) -> httpx.Client:
    r = post_json(http, "/register", {"nodes": [E, T]})
    assert r.status_code == 200, r.text
    r = post_json(http, "/push", {"event": "E", "data": {"k": "a", "x": 1}})
    assert r.status_code == 200, r.text
    return http


def _send(c: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if body is None:
        return c.request(method, path)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.request(method, path, content=content, headers={"Content-Type": "application/json"})


# (id, method, path, body, status, exact body)
EXACT = [
    ("event_not_found", "POST", "/push", {"event": "Nope", "data": {}}, 404, {"error": {"code": "event_not_found"}}),
    ("invalid_event_missing", "POST", "/push", {"event": "E", "data": {"k": "a"}}, 400, {"error": {"code": "invalid_event"}}),
    ("invalid_event_type", "POST", "/push", {"event": "E", "data": {"k": "a", "x": "1"}}, 400, {"error": {"code": "invalid_event"}}),
    ("invalid_event_null", "POST", "/push", {"event": "E", "data": {"k": None, "x": 1}}, 400, {"error": {"code": "invalid_event"}}),
    ("invalid_event_data_array", "POST", "/push", {"event": "E", "data": [1]}, 400, {"error": {"code": "invalid_event"}}),
    ("unknown_field_v0", "POST", "/push", {"event": "E", "data": {"k": "a", "x": 1, "y": 2}}, 400, {"error": {"code": "unknown_field_v0"}}),
    ("unknown_field_event_time_v0", "POST", "/push", {"event": "E", "data": {"k": "a", "x": 1, "event_time": 5}}, 400, {"error": {"code": "unknown_field_event_time_v0"}}),
    ("control_character_tab", "POST", "/push", {"event": "E", "data": {"k": "a\tb", "x": 1}}, 400, {"error": {"code": "control_character_in_string"}}),
    ("control_character_event_name", "POST", "/push", {"event": "E\n", "data": {"k": "a", "x": 1}}, 400, {"error": {"code": "control_character_in_string"}}),
    ("missing_event_name_in_body", "POST", "/push", {"data": {"k": "a", "x": 1}}, 400, {"error": {"code": "missing_event_name_in_body"}}),
    ("missing_event_name_array", "POST", "/push", [1, 2], 400, {"error": {"code": "missing_event_name_in_body"}}),
    ("invalid_json_body", "POST", "/push", b'{"event":', 400, {"error": {"code": "invalid_json_body"}}),
    ("invalid_json_body_empty", "POST", "/push", b"", 400, {"error": {"code": "invalid_json_body"}}),
    ("unknown_table", "POST", "/get", {"table": "Nope", "key": "a"}, 404, {"error": {"code": "unknown_table"}}),
    ("unknown_table_event_name", "POST", "/get", {"table": "E", "key": "a"}, 404, {"error": {"code": "unknown_table"}}),
    ("key_parse_failure", "POST", "/get", {"table": "T", "key": "a|b"}, 404, {"error": {"code": "key_parse_failure"}}),
    ("feature_filter_typo_is_500", "POST", "/get", {"table": "T", "key": "a", "features": ["nope"]}, 500,
     {"error": {"code": "internal_error", "reason": 'feature_not_found: missing=["nope"] table=T'}}),
    ("legacy_key_not_found", "GET", "/get/c/zz", None, 404, {"error": {"code": "key_not_found"}}),
    ("legacy_feature_not_found", "GET", "/get/nope/a", None, 404, {"error": {"code": "feature_not_found"}}),
    ("legacy_get_feature", "GET", "/get/c/a", None, 200, {"value": 1}),
    ("legacy_get_table", "GET", "/get/T/a", None, 200, {"c": 1}),
    ("not_found", "GET", "/nope", None, 404, {"error": {"code": "not_found", "path": "/nope"}}),
    ("not_found_post", "POST", "/v1/push", {}, 404, {"error": {"code": "not_found", "path": "/v1/push"}}),
    ("method_not_allowed_push", "GET", "/push", None, 405, {"error": {"code": "method_not_allowed", "method": "GET", "path": "/push"}}),
    ("method_not_allowed_health", "POST", "/health", {}, 405, {"error": {"code": "method_not_allowed", "method": "POST", "path": "/health"}}),
    ("method_not_allowed_register", "GET", "/register", None, 405, {"error": {"code": "method_not_allowed", "method": "GET", "path": "/register"}}),
    ("method_not_allowed_put", "PUT", "/get", {}, 405, {"error": {"code": "method_not_allowed", "method": "PUT", "path": "/get"}}),
    ("registry_is_dev_only", "GET", "/registry", None, 404, {"error": {"code": "not_found", "path": "/registry"}}),
    ("health", "GET", "/health", None, 200, {"status": "ok"}),
    ("ready", "GET", "/ready", None, 200, {"status": "ready"}),
    ("batch_get_partial", "POST", "/batch_get", {"requests": [{"table": "T", "key": "a"}, {"table": "X", "key": "a"}, {"table": "T", "key": "a|b"}]}, 200,
     {"results": [{"c": 1}, {"error": {"code": "unknown_table", "message": "table 'X' is not a registered aggregation"}},
                  {"error": {"code": "key_parse_failure", "message": "key 'a|b' does not match table 'T' group_keys arity (1)"}}]}),
    ("batch_get_empty", "POST", "/batch_get", {"requests": []}, 200, {"results": []}),
    ("batch_get_feature_typo_fails_batch", "POST", "/batch_get", {"requests": [{"table": "T", "key": "a", "features": ["zz"]}]}, 500,
     {"error": {"code": "internal_error", "reason": 'feature_not_found: missing=["zz"] table=T'}}),
]


@pytest.mark.parametrize("case", EXACT, ids=[c[0] for c in EXACT])
def test_exact_error_bodies(ready: httpx.Client, case: tuple) -> None:
    _, method, path, body, status, want = case
    r = _send(ready, method, path, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == want


# (id, method, path, body, status, code) — bodies carry parser messages; compare the code only.
CODE_ONLY = [
    ("get_missing_key", "POST", "/get", {"table": "T"}, 500, "internal_error"),
    ("get_key_not_string", "POST", "/get", {"table": "T", "key": 5}, 500, "internal_error"),
    ("get_key_array", "POST", "/get", {"table": "T", "key": ["a"]}, 500, "internal_error"),
    ("get_bad_json", "POST", "/get", b"nope", 500, "internal_error"),
    ("batch_get_bad_json", "POST", "/batch_get", b"nope", 500, "internal_error"),
    ("batch_get_key_and_entity_id", "POST", "/batch_get", {"requests": [{"table": "T", "key": "a", "entity_id": "a"}]}, 500, "internal_error"),
    ("get_legacy_keys_shape", "POST", "/get", {"keys": ["a"], "features": ["c"]}, 400, "unsupported_request_shape"),
    ("get_legacy_feature_shape", "POST", "/get", {"feature": "c", "key": "a"}, 400, "unsupported_request_shape"),
]


@pytest.mark.parametrize("case", CODE_ONLY, ids=[c[0] for c in CODE_ONLY])
def test_error_codes(ready: httpx.Client, case: tuple) -> None:
    _, method, path, body, status, code = case
    r = _send(ready, method, path, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    if code == "internal_error":
        assert isinstance(err["reason"], str) and err["reason"]
    if code == "unsupported_request_shape":
        assert isinstance(err["message"], str) and err["message"]


REGISTER = [
    ("invalid_registration_body", {}, "invalid_registration", "<body>"),
    ("invalid_registration_name", {"nodes": [dict(E, name="1E")]}, "invalid_registration", "nodes[0].name"),
    ("invalid_registration_upstream", {"nodes": [E, table("T", {"c": {"op": "count", "params": {}}}, upstream="Z")]}, "invalid_registration", "nodes[1].upstreams[0]"),
    ("invalid_expression", {"nodes": [E, table("T", {"c": {"op": "count", "params": {}}}, prefix=[{"op": "filter", "expr": "(x >"}])]}, "invalid_expression", "nodes[1].ops[0].expr"),
    ("aggregation_unknown_field", {"nodes": [E, table("T", {"c": {"op": "sum", "params": {"field": "zz"}}})]}, "aggregation_unknown_field", "nodes[1].ops[0].agg.c.params.field"),
    ("aggregation_invalid_where", {"nodes": [E, table("T", {"c": {"op": "count", "params": {"where": "(zz > 1)"}}})]}, "aggregation_invalid_where", "nodes[1].ops[0].agg.c.params.where"),
    ("aggregation_invalid_window", {"nodes": [E, table("T", {"c": {"op": "count", "params": {"window": "5x"}}})]}, "aggregation_invalid_window", "nodes[1].ops[0].agg.c.params.window"),
    ("aggregation_invalid_window_lifetime_op", {"nodes": [E, table("T", {"c": {"op": "last", "params": {"field": "x", "window": "5m"}}})]}, "aggregation_invalid_window", "nodes[1].ops[0].agg.c.params.window"),
    ("aggregation_unknown_op", {"nodes": [E, table("T", {"c": {"op": "nope", "params": {"window": "5m"}}})]}, "aggregation_unknown_op", "nodes[1].ops[0].agg.c.op"),
    ("unbounded_op_in_lifetime_mode", {"nodes": [E, table("T", {"c": {"op": "nope", "params": {}}})]}, "unbounded_op_in_lifetime_mode", "nodes[1].T.ops[0].agg.c"),
    ("aggregation_on_table_not_supported", {"nodes": [E, T, table("T2", {"c2": {"op": "count", "params": {}}}, upstream="T")]}, "aggregation_on_table_not_supported", "nodes[2].upstreams[0]"),
    ("aggregation_group_key_collides_with_feature", {"nodes": [E, table("T", {"k": {"op": "count", "params": {}}})]}, "aggregation_group_key_collides_with_feature", "nodes[1].ops[0].agg.k"),
    ("aggregation_feature_name_collision", {"nodes": [E, T, table("T2", {"c": {"op": "count", "params": {}}})]}, "aggregation_feature_name_collision_across_aggregations", "nodes.T2.features.c"),
    ("window_not_supported", {"nodes": [E, table("T", {"b": {"op": "bloom_member", "params": {"field": "k", "window": "1h"}}})]}, "window_not_supported", "nodes[1].ops[0].agg.b.params.window"),
    ("invalid_percentile_q", {"nodes": [E, table("T", {"q": {"op": "quantile", "params": {"field": "x", "q": 1.5}}})]}, "invalid_percentile_q", "nodes[1].ops[0].agg.q.params.q"),
    ("invalid_top_k_k", {"nodes": [E, table("T", {"t": {"op": "top_k", "params": {"field": "k", "k": 0}}})]}, "invalid_top_k_k", "nodes[1].ops[0].agg.t.params.k"),
    ("invalid_bloom_fpr", {"nodes": [E, table("T", {"b": {"op": "bloom_member", "params": {"field": "k", "target_fpr": 2.0}}})]}, "invalid_bloom_fpr", "nodes[1].ops[0].agg.b.params.target_fpr"),
    ("unsupported_node_kind", {"nodes": [dict(T, kind="table")]}, "unsupported_node_kind", "nodes[0].T.kind"),
    ("feature_removed_no_joins_v0", {"nodes": [E, table("T", {"c": {"op": "count", "params": {}}}, prefix=[{"op": "join"}])]}, "feature_removed_no_joins_v0", "nodes[1].T.ops[0]"),
    ("feature_removed_no_unions_v0", {"nodes": [E, table("T", {"c": {"op": "count", "params": {}}}, prefix=[{"op": "union"}])]}, "feature_removed_no_unions_v0", "nodes[1].T.ops[0]"),
    ("unknown_field_event_time_v0", {"nodes": [dict(E, event_time_field="ts")]}, "unknown_field_event_time_v0", "nodes[0].E.event_time_field"),
    ("unknown_field_tolerate_delay_v0", {"nodes": [dict(E, tolerate_delay_ms=10)]}, "unknown_field_tolerate_delay_v0", "nodes[0].E.tolerate_delay_ms"),
]


@pytest.mark.parametrize("case", REGISTER, ids=[c[0] for c in REGISTER])
def test_register_error_codes(http: httpx.Client, case: tuple) -> None:
    _, body, code, path = case
    version = post_json(http, "/ping", {}).json()["registry_version"]
    r = post_json(http, "/register", body)
    assert r.status_code == 400, r.text
    got = r.json()
    assert got["error"]["code"] == code
    assert got["error"]["path"] == path
    assert isinstance(got["error"]["reason"], str) and got["error"]["reason"]
    assert got["registry_version"] == version


def test_force_required_409(http: httpx.Client) -> None:
    assert post_json(http, "/register", {"nodes": [E, T]}).status_code == 200
    version = post_json(http, "/ping", {}).json()["registry_version"]
    r = post_json(http, "/register", {"nodes": [E]})
    assert r.status_code == 409
    assert r.json() == {
        "error": {"code": "force_required",
                  "reason": "Destructive registry change requires force=true. See diff for details.",
                  "diff": {"additive": [], "already_present": ["E"],
                           "destructive": [{"kind": "agg_removal", "table": "T", "agg": ""}]}},
        "registry_version": version,
    }


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_register_unsupported_media_type_415(http: httpx.Client, ctype: str | None) -> None:
    version = post_json(http, "/ping", {}).json()["registry_version"]
    req = http.build_request("POST", "/register", content=json.dumps({"nodes": [E]}).encode())
    if ctype is None:
        req.headers.pop("Content-Type", None)
    else:
        req.headers["Content-Type"] = ctype
    r = http.send(req)
    assert r.status_code == 415
    body = r.json()
    assert body["error"] == {"code": "unsupported_media_type", "path": "/register", "reason": "expected application/json"}
    # beava always reports registry_version 0 here (quirk); the current version is also fine.
    assert body["registry_version"] in (0, version)


def test_register_content_type_params_and_case(http: httpx.Client) -> None:
    r = http.post("/register", content=json.dumps({"nodes": [E]}).encode(),
                  headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_other_routes_ignore_content_type(ready: httpx.Client) -> None:
    r = ready.post("/push", content=b'{"event":"E","data":{"k":"a","x":2}}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    r = ready.post("/get", content=b'{"table":"T","key":"a"}', headers={"Content-Type": "text/plain"})
    assert r.json() == {"c": 2}


def test_reset_disabled_in_production_403() -> None:
    s = Server(test_mode=False)
    try:
        with s.client() as c:
            r = post_json(c, "/reset", {})
            assert r.status_code == 403
            err = r.json()["error"]
            assert err["code"] == "reset_disabled_in_production"
            assert isinstance(err["reason"], str)
    finally:
        s.stop()


def test_legacy_push_routes(ready: httpx.Client) -> None:
    for path in ("/push/E", "/push-sync/E", "/push-batch/E"):
        r = ready.post(path, content=b'{"k":"a","x":5}')
        assert r.status_code == 200, (path, r.text)
        assert set(r.json()) == {"ack_lsn", "idempotent_replay", "registry_version"}
    r = post_json(ready, "/push-sync", {"event": "E", "data": {"k": "a", "x": 5}})
    assert r.status_code == 200
    assert post_json(ready, "/get", {"table": "T", "key": "a"}).json() == {"c": 5}


def test_ack_lsn_increases(ready: httpx.Client) -> None:
    lsns = [post_json(ready, "/push", {"event": "E", "data": {"k": "z", "x": i}}).json()["ack_lsn"] for i in range(5)]
    assert lsns == sorted(lsns) and len(set(lsns)) == 5


def test_response_headers(ready: httpx.Client) -> None:
    r = ready.get("/health")
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
