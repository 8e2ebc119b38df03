"""Authentication and the loopback rule, against a real uvicorn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from exo._cli_serve import check_bind
from exo.cli import app as cli
from exo.errors import ConfigError
from exo.serve import app
from serve.conftest import TOKEN
from serve.harness import Server, agents

PROTECTED = [
    ("GET", "/runs"),
    ("GET", "/runs/run_x"),
    ("GET", "/runs/run_x/events"),
    ("POST", "/runs"),
    ("POST", "/runs/run_x/cancel"),
    ("POST", "/runs/run_x/approvals"),
    ("GET", "/agents"),
    ("GET", "/metrics"),
    ("GET", "/static/viewer.js"),
]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-123", "Basic " + TOKEN, TOKEN])
def test_every_endpoint_wants_the_token(server: Server, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx2.Client(base_url=server.url, headers=headers) as client:
        for method, path in PROTECTED:
            response = client.request(method, path, json={})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            error = response.json()["error"]
            assert error["type"] == "authentication_error" and error["code"] == "invalid_token"
            assert TOKEN not in response.text
        page = client.get("/")
        assert page.status_code == 401 and "<form" in page.text and TOKEN not in page.text
        assert client.get("/healthz").status_code == 200


def test_the_browser_signs_in_once_and_keeps_a_session_cookie(server: Server) -> None:
    with httpx2.Client(base_url=server.url) as browser:
        wrong = browser.get("/", params={"token": "not-the-token"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        signed = browser.get("/", params={"token": TOKEN})
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie  # an HMAC of the token, not the token
        assert browser.get("/").status_code == 200
        assert browser.get("/runs").status_code == 200
        # A change made with the cookie alone needs the viewer's header (a form cannot send it).
        forged = browser.post("/runs", json={"agent": "plain", "input": "x"})
        assert forged.status_code == 401
        made = browser.post(
            "/runs", json={"agent": "plain", "input": "x"}, headers={"X-Exo-Viewer": "1"}
        )
        assert made.status_code == 202
    with httpx2.Client(base_url=server.url) as other:
        form = other.post("/login", data={"token": TOKEN})
        assert form.status_code == 303 and other.get("/agents").status_code == 200


def test_without_a_token_only_loopback_hosts_are_answered(tmp_path: Path) -> None:
    server = Server(app(agents(), token=None, database_url=str(tmp_path / "x.db")))
    try:
        with httpx2.Client(base_url=server.url) as client:
            assert client.get("/runs").status_code == 200
            rebound = client.get("/runs", headers={"Host": "evil.example:8000"})
            assert rebound.status_code == 403
            assert rebound.json()["error"]["code"] == "loopback_only"
    finally:
        server.stop()


async def test_a_tokenless_app_refuses_requests_that_reached_it_off_loopback(
    tmp_path: Path,
) -> None:
    # This machine may have no address but loopback, so the request is handed to the app
    # as an ASGI server would hand one that arrived on a public interface.
    application = app(agents(), token=None, database_url=str(tmp_path / "x.db"))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/runs",
        "raw_path": b"/runs",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "server": ("10.1.2.3", 8000),
        "client": ("10.9.9.9", 50000),
        "root_path": "",
    }
    await application(scope, receive, send)
    assert sent[0]["status"] == 403
    assert json.loads(sent[1]["body"])["error"]["code"] == "loopback_only"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_exo_serve_refuses_a_public_address_without_a_token(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="without a token"):
        check_bind(host, None)
    check_bind(host, TOKEN)  # with one it may
    monkeypatch.delenv("EXO_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve", "examples/researcher.py", "--host", host])
    assert result.exit_code == 2
    assert "without a token" in result.output


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_bind(host, None)


def test_token_and_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 8"):
        app(agents(), token="short", database_url=str(tmp_path / "x.db"))
    with pytest.raises(ConfigError, match=f"named '{agents()[-1].name}'"):
        app([*agents(), agents()[-1]], database_url=str(tmp_path / "x.db"))
    with pytest.raises(ConfigError, match="max_body_bytes"):
        app(agents(), max_body_bytes=10, database_url=str(tmp_path / "x.db"))


def test_cors_is_off_unless_origins_are_named(server: Server, tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = httpx2.options(f"{server.url}/runs", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = Server(
        app(
            agents(),
            token=TOKEN,
            database_url=str(tmp_path / "c.db"),
            cors_origins=["https://app.example"],
        )
    )
    try:
        answer = httpx2.options(f"{opened.url}/runs", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx2.options(
            f"{opened.url}/runs", headers={**preflight, "Origin": "https://x.example"}
        )
        assert other.status_code == 400
    finally:
        opened.stop()
