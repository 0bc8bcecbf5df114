"""Push bodies spelled every way JSON allows (escapes, unicode, whitespace, member order, number
forms, duplicate members, nested values), read back through `last` features; and the bodies
that must be refused. weir decodes the common shape with its own decoder and anything else with
serde_json (decision 0026): both must give beava's answers."""
from __future__ import annotations

import json
from typing import Any

import httpx
import msgpack
import pytest

from conftest import Server, post_json
from wire import CT_JSON, CT_MSGPACK, OP_PUSH, TcpConn, frame

P = {"kind": "event", "name": "P",
     "schema": {"fields": {"k": "str", "s": "str", "n": "i64", "f": "f64", "b": "bool", "j": "json"},
                "optional_fields": ["s", "n", "f", "b", "j"]}}
LAST = {f"last_{name}": {"op": "last", "params": {"field": name}} for name in ["s", "n", "f", "b", "j"]}
T = {"kind": "derivation", "name": "T", "output_kind": "table", "upstreams": ["P"],
     "ops": [{"op": "group_by", "keys": ["k"], "agg": LAST}], "table_primary_key": ["k"]}


@pytest.fixture()
def ready(http: httpx.Client) -> httpx.Client:
    r = post_json(http, "/register", {"nodes": [P, T]})
    assert r.status_code == 200, r.text
    return http


def push_raw(c: httpx.Client, body: bytes) -> httpx.Response:
    return c.post("/push", content=body, headers={"Content-Type": "application/json"})


def row(c: httpx.Client, key: str) -> dict[str, Any]:
    r = post_json(c, "/get", {"table": "T", "key": key})
    assert r.status_code == 200, r.text
    return r.json()


# (id, raw body for key "a", the features it must leave)
ACCEPTED = [
    ("escapes", rb'{"event":"P","data":{"k":"a","s":"caf\u00e9 \"q\" \\ \/ \ud83d\ude00"}}',
     {"last_s": 'café "q" \\ / \U0001F600'}),
    ("raw_unicode", '{"event":"P","data":{"k":"a","s":"日本語 ✓ é"}}'.encode(), {"last_s": "日本語 ✓ é"}),
    ("whitespace", b'\n { "event" : "P" ,\r\n\t"data" : { "k" : "a" , "n" : 7 , "b" : true } } \n',
     {"last_n": 7, "last_b": True}),
    ("data_first", b'{"data":{"n":-42,"k":"a"},"event":"P"}', {"last_n": -42}),
    ("i64_max", b'{"event":"P","data":{"k":"a","n":9223372036854775807}}', {"last_n": 9223372036854775807}),
    ("i64_min", b'{"event":"P","data":{"k":"a","n":-9223372036854775808}}', {"last_n": -9223372036854775808}),
    ("exponent", b'{"event":"P","data":{"k":"a","f":1e2}}', {"last_f": 100.0}),
    ("negative_exponent", b'{"event":"P","data":{"k":"a","f":-1.5E-3}}', {"last_f": -0.0015}),
    ("shortest_float", b'{"event":"P","data":{"k":"a","f":0.1}}', {"last_f": 0.1}),
    ("long_float", b'{"event":"P","data":{"k":"a","f":3.14159265358979323846264338327950288}}',
     {"last_f": 3.141592653589793}),
    ("integer_as_float_field", b'{"event":"P","data":{"k":"a","f":5}}', {"last_f": 5}),
    # beava reads a JSON zero as positive whatever its sign (over MessagePack it keeps it).
    ("negative_zero_float", b'{"event":"P","data":{"k":"a","f":-0.0}}', {"last_f": 0.0}),
    ("negative_zero_integer", b'{"event":"P","data":{"k":"a","f":-0,"j":[-0.0,-0,{"z":-0e5}]}}',
     {"last_f": 0.0, "last_j": [0.0, 0.0, {"z": 0.0}]}),
    ("duplicate_field_last_wins", b'{"event":"P","data":{"k":"a","n":1,"s":"x","n":2}}', {"last_n": 2, "last_s": "x"}),
    ("duplicate_event_last_wins", b'{"event":"Nope","data":{"k":"a","n":3},"event":"P"}', {"last_n": 3}),
    ("extra_member_ignored", b'{"event":"P","extra":[1,{"y":null}],"data":{"k":"a","n":4}}', {"last_n": 4}),
    ("nested_json", b'{"event":"P","data":{"k":"a","j":{"a":[1,2.5,{"b":null}],"c":"d","e":[]}}}',
     {"last_j": {"a": [1, 2.5, {"b": None}], "c": "d", "e": []}}),
    ("empty_string_and_false", b'{"event":"P","data":{"k":"a","s":"","b":false}}', {"last_s": "", "last_b": False}),
]


@pytest.mark.parametrize("body,want", [(b, w) for _, b, w in ACCEPTED], ids=[i for i, _, _ in ACCEPTED])
def test_accepted_bodies_read_back(ready: httpx.Client, body: bytes, want: dict[str, Any]) -> None:
    r = push_raw(ready, body)
    assert r.status_code == 200, r.text
    got = row(ready, "a")
    for feature, value in want.items():
        assert json.dumps(got[feature]) == json.dumps(value), (feature, got)


# (id, raw body, status, error code)
# beava accepts the first two (docs/beava-observed.md, "Where weir deliberately differs").
WEIR_ONLY = pytest.mark.weir_only
REFUSED = [
    ("above_i64", b'{"event":"P","data":{"k":"a","n":9223372036854775808}}', 400, "integer_out_of_range", WEIR_ONLY),
    ("float_for_str", b'{"event":"P","data":{"k":"a","s":1.5}}', 400, "invalid_event", WEIR_ONLY),
    ("control_in_escape", b'{"event":"P","data":{"k":"a","s":"x\\u0001y"}}', 400, "control_character_in_string"),
    ("raw_control", b'{"event":"P","data":{"k":"a","s":"x\x01y"}}', 400, "invalid_json_body"),
    ("leading_zero", b'{"event":"P","data":{"k":"a","n":01}}', 400, "invalid_json_body"),
    ("trailing_garbage", b'{"event":"P","data":{"k":"a"}} x', 400, "invalid_json_body"),
    ("truncated", b'{"event":"P","data":{"k":"a"', 400, "invalid_json_body"),
    ("single_quotes", b"{'event':'P','data':{'k':'a'}}", 400, "invalid_json_body"),
    ("invalid_utf8", b'{"event":"P","data":{"k":"a","s":"\xff\xfe"}}', 400, "invalid_json_body"),
]


@pytest.mark.parametrize("body,status,code",
                         [pytest.param(b, s, c, id=i, marks=m) for i, b, s, c, *m in REFUSED])
def test_refused_bodies(ready: httpx.Client, body: bytes, status: int, code: str) -> None:
    r = push_raw(ready, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    # Nothing of it was applied.
    assert row(ready, "a") == {}


def test_zero_sign_by_transport(ready: httpx.Client, server: Server) -> None:
    """beava reads a negative zero as 0.0 from JSON (HTTP and TCP JSON) and keeps it from
    MessagePack; weir matches both."""
    with TcpConn(server.tcp_addr) as t:
        t.send(frame(OP_PUSH, CT_JSON, b'{"event":"P","body":{"k":"tj","f":-0.0,"j":[-0]}}'))
        assert (answer := t.recv()) is not None and answer.op == OP_PUSH, answer
        t.send(frame(OP_PUSH, CT_MSGPACK, msgpack.packb({"event": "P", "body": {"k": "tm", "f": -0.0, "j": [-0.0]}})))
        assert (answer := t.recv()) is not None and answer.op == OP_PUSH, answer
    assert json.dumps([row(ready, "tj")["last_f"], row(ready, "tj")["last_j"]]) == "[0.0, [0.0]]"
    assert json.dumps([row(ready, "tm")["last_f"], row(ready, "tm")["last_j"]]) == "[-0.0, [-0.0]]"
