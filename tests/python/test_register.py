"""Registration semantics through the SDK: idempotence, additive changes, 409 + force, dry_run."""
from __future__ import annotations

import beava as bv
import pytest

from conftest import Server


def _click():
    @bv.event
    class Click:
        user_id: str
        page: str
        ms: int

    @bv.table(key="user_id")
    def UserClicks(c: Click):
        return c.group_by("user_id").agg(clicks=bv.count(), clicks_1h=bv.count(window="1h"))

    @bv.table(key="page")
    def PageClicks(c: Click):
        return c.group_by("page").agg(page_clicks=bv.count())

    return Click, UserClicks, PageClicks


def test_registry_version_progression(fresh_server: Server) -> None:
    Click, UserClicks, PageClicks = _click()
    with bv.App(fresh_server.http_url) as app:
        assert app.ping()["registry_version"] == 0
        r1 = app.register(Click, UserClicks)
        assert r1 == {"status": "ok", "registry_version": 1, "registered_descriptors": ["Click", "UserClicks"],
                      "added": ["UserClicks", "Click"], "already_present": []}
        r2 = app.register(Click, UserClicks)
        assert r2 == {"status": "ok", "registry_version": 1, "registered_descriptors": ["Click", "UserClicks"],
                      "added": [], "already_present": ["Click", "UserClicks"]}
        app.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        r3 = app.register(Click, UserClicks, PageClicks)
        assert r3["registry_version"] == 2 and r3["added"] == ["PageClicks"]
        assert r3["already_present"] == ["Click", "UserClicks"]
        assert app.get("UserClicks", "u") == {"clicks": 1, "clicks_1h": 1}
        assert app.get("PageClicks", "/") == {}
        assert app.ping()["registry_version"] == 2
        app.reset()
        assert app.ping()["registry_version"] == 3


def test_omitting_a_descriptor_needs_force(server: Server) -> None:
    Click, UserClicks, PageClicks = _click()
    with bv.App(server.http_url) as app:
        app.reset()
        app.register(Click, UserClicks, PageClicks)
        app.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        with pytest.raises(bv.RegistrationError) as ei:
            app.register(Click, UserClicks)
        assert ei.value.code == "force_required"
        dry = app.register(Click, UserClicks, dry_run=True)
        assert dry == {"diff": {"additive": [], "already_present": ["Click", "UserClicks"],
                                "destructive": [{"agg": "", "kind": "agg_removal", "table": "PageClicks"}]},
                       "would_apply": False}
        version = app.ping()["registry_version"]
        forced = app.register(Click, UserClicks, force=True)
        assert forced["registry_version"] == version + 1
        assert forced["registered_descriptors"] == ["Click", "UserClicks"]
        with pytest.raises(bv.RegistrationError) as ei:
            app.get("PageClicks", "/")
        assert ei.value.code == "unknown_table"
        # Untouched descriptors keep their state across a forced register.
        assert app.get("UserClicks", "u") == {"clicks": 1, "clicks_1h": 1}


def test_force_replaces_changed_table_state(server: Server) -> None:
    Click, UserClicks, _ = _click()

    @bv.table(key="user_id")
    def UserClicks2(c: Click):  # same table name, different definition
        return c.group_by("user_id").agg(clicks=bv.count(), clicks_1h=bv.count(window="2h"))

    UserClicks2._name = "UserClicks"
    with bv.App(server.tcp_url) as app:
        app.reset()
        app.register(Click, UserClicks)
        app.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        with pytest.raises(bv.RegistrationError) as ei:
            app.register(Click, UserClicks2)
        assert ei.value.code == "force_required"
        dry = app.register(Click, UserClicks2, dry_run=True, force=True)
        assert dry["would_apply"] is False
        assert dry["diff"]["destructive"] == [{"agg": "UserClicks.clicks_1h", "from": "1h", "kind": "window_change", "to": "2h"}]
        app.register(Click, UserClicks2, force=True)
        assert app.get("UserClicks", "u") == {}
        app.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        assert app.get("UserClicks", "u") == {"clicks": 1, "clicks_1h": 1}


def test_dry_run_changes_nothing(fresh_server: Server) -> None:
    Click, UserClicks, _ = _click()
    with bv.App(fresh_server.http_url) as app:
        dry = app.register(Click, UserClicks, dry_run=True)
        assert dry == {"diff": {"additive": [{"descriptor_kind": "derivation", "kind": "new_descriptor", "name": "UserClicks"},
                                             {"descriptor_kind": "event", "kind": "new_descriptor", "name": "Click"}],
                                "already_present": [], "destructive": []},
                       "would_apply": False}
        assert app.ping()["registry_version"] == 0
        with pytest.raises(bv.RegistrationError) as ei:
            app.push("Click", {"user_id": "u", "page": "/", "ms": 1})
        assert ei.value.code == "event_not_found"


def test_validation_error_surfaces_through_sdk(server: Server) -> None:
    @bv.event
    class V:
        k: str
        x: int

    @bv.table(key="k")
    def VT(v: V):
        return v.group_by("k").agg(s=bv.sum("nope"))

    for url in (server.http_url, server.tcp_url):
        with bv.App(url) as app:
            app.reset()
            with pytest.raises(bv.RegistrationError) as ei:
                app.register(V, VT)
            assert ei.value.code == "aggregation_unknown_field"
            assert ei.value.path == "nodes[1].ops[0].agg.s.params.field"
