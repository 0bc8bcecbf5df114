"""The README headline flow (AgentStep -> SessionReflexes) through every SDK transport."""
from __future__ import annotations

import beava as bv
import pytest

from conftest import BINARY, Server
from flows import README_EVENTS, README_EXPECTED, assert_row, run_readme_flow, session_reflexes


def _reset(server: Server) -> None:
    with server.client() as c:
        assert c.post("/reset", content=b"{}", headers={"Content-Type": "application/json"}).status_code == 200


def test_readme_flow_http(server: Server) -> None:
    _reset(server)
    with bv.App(server.http_url) as app:
        run_readme_flow(app)
        assert app.ping()["pong"] is True


def test_readme_flow_tcp(server: Server) -> None:
    _reset(server)
    with bv.App(server.tcp_url) as app:
        run_readme_flow(app)
        pong = app.ping()
        assert isinstance(pong["registry_version"], int) and isinstance(pong["server_version"], str)


def test_readme_flow_embed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bv.App()` spawns the binary itself (BEAVA_BINARY) and talks TCP to it."""
    monkeypatch.setenv("BEAVA_BINARY", BINARY)
    with bv.App(test_mode=True) as app:
        run_readme_flow(app)
        app.reset()
        with pytest.raises(bv.RegistrationError) as ei:
            app.get("SessionReflexes", "s-1")
        assert ei.value.code == "unknown_table"


def test_http_and_tcp_see_the_same_state(server: Server) -> None:
    _reset(server)
    AgentStep, SessionReflexes = session_reflexes()
    with bv.App(server.http_url) as h, bv.App(server.tcp_url) as t:
        h.register(AgentStep, SessionReflexes)
        for i, ev in enumerate(README_EVENTS):
            (h if i % 2 else t).push("AgentStep", ev)
        for sid, want in README_EXPECTED.items():
            assert_row(h.get("SessionReflexes", sid), want)
            assert_row(t.get("SessionReflexes", sid), want)
        assert h.batch_get([("SessionReflexes", "s-2")]) == t.batch_get([("SessionReflexes", "s-2")])


def test_sdk_errors_surface_codes(server: Server) -> None:
    _reset(server)
    AgentStep, SessionReflexes = session_reflexes()
    for url in (server.http_url, server.tcp_url):
        with bv.App(url) as app:
            app.register(AgentStep, SessionReflexes)
            with pytest.raises(bv.RegistrationError) as ei:
                app.push("AgentStep", {"session_id": "s"})
            assert ei.value.code == "invalid_event"
            with pytest.raises(bv.RegistrationError) as ei:
                app.push("Nope", {})
            assert ei.value.code == "event_not_found"
            with pytest.raises(bv.RegistrationError) as ei:
                app.get("NoSuchTable", "x")
            assert ei.value.code == "unknown_table"
            with pytest.raises(bv.RegistrationError) as ei:
                app.get("SessionReflexes", "a|b")
            assert ei.value.code == "key_parse_failure"
