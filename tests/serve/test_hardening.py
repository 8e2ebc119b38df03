"""Hostile clients against a real uvicorn on loopback: what an outside tester sends first.

Each test names the class of mistake it guards: raw JSON the parser must refuse (not a 500),
event numbers the database cannot hold, a cancel racing an approval, pages of other origins
posting to a tokenless server, the token in the access log, responses without security
headers, and client values echoed without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exo import Agent
from exo.serve import app
from serve.conftest import TOKEN
from serve.harness import Server, agents
from serve.test_api import events_of, start, wait_status

HOSTILE_BODIES: dict[str, bytes] = {
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "NaN": b'{"agent": "plain", "input": "x", "junk": NaN}',
    "Infinity": b'{"agent": "plain", "input": "x", "junk": -Infinity}',
    "1e400 (parses as inf)": b'{"agent": "plain", "input": [{"type": "text", "n": 1e400}]}',
    "invalid UTF-8": b'{"agent": "plain", "input": "\xff\xfe"}',
    "lone surrogate": b'{"agent": "plain", "input": "\\ud800"}',
    "huge integer": b'{"agent": "plain", "input": "x", "n": ' + b"9" * 5000 + b"}",
}


@pytest.fixture
def client(server: Server) -> Any:
    with httpx2.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as c:
        yield c


def assert_json_error(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text and TOKEN not in response.text
    return error


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_raw_json_a_parser_must_refuse_is_a_400_on_every_route(
    client: httpx2.Client, name: str
) -> None:
    # Before: json.loads recursed into RecursionError (500, connection reset) and took
    # NaN/1e400, which then failed as the run's input was echoed (500 after the run started).
    paused = start(client, "janitor", "Clean up")
    wait_status(client, paused, "paused")
    before = len(client.get("/runs", params={"limit": 200}).json()["data"])
    routes = [
        "/runs",
        f"/runs/{paused}/approvals",
        "/v1/responses",
        "/v1/chat/completions",
        "/agui/plain",
    ]
    for path in routes:
        response = client.post(path, content=HOSTILE_BODIES[name])
        error = assert_json_error(response, 400)
        assert error["code"] == "invalid_json", (path, error)
    assert len(client.get("/runs", params={"limit": 200}).json()["data"]) == before
    assert client.get(f"/runs/{paused}").json()["status"] == "paused"  # nothing answered it


def test_values_that_are_echoed_back_stay_json(client: httpx2.Client) -> None:
    # text.format is echoed in the Response object: an infinite number there failed the reply.
    body = (
        b'{"model": "plain", "input": "x", "text": {"format": {"type": "json_schema", '
        b'"name": "n", "schema": {"type": "object", "maximum": 1e400}}}}'
    )
    assert_json_error(client.post("/v1/responses", content=body), 400)
    # A run's input is stored and shown as validated: unknown block fields are not kept.
    blocks = [{"type": "text", "text": "hi", "junk": {"deep": [1, 2, 3]}}]
    run_id = start(client, "plain", blocks)  # type: ignore[arg-type]
    shown = client.get(f"/runs/{run_id}").json()["input"]
    assert shown == [{"type": "text", "text": "hi"}]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    agent=st.sampled_from(["plain", "nobody"]) | json_values,
    task=st.sampled_from(["hi", [{"type": "text", "text": "hi"}]]) | json_values,
    extra=st.dictionaries(
        st.sampled_from(["conversation_id", "detailed", "input", "agent"]), json_values
    ),
)
def test_any_run_request_gets_a_run_or_a_json_error(
    server: Server, agent: Any, task: Any, extra: dict[str, Any]
) -> None:
    body = {"agent": agent, "input": task, **extra}
    with httpx2.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as c:
        response = c.post("/runs", json=body)
        if response.status_code == 202:
            run = c.get(f"/runs/{response.json()['id']}")
            assert run.status_code == 200 and run.json()["agent"] == body["agent"]
        else:
            assert_json_error(response, response.status_code)
            assert response.status_code in (400, 404)


@pytest.mark.parametrize(
    "value", ["99999999999999999999", "-5", "1_0", "abc", "1e3", "0x10", "+1", "1.5"]
)
def test_last_event_id_is_a_plain_event_number(client: httpx2.Client, value: str) -> None:
    # Before: int() took "-5" and "1_0", and a number past SQLite's integers was a 500.
    run_id = start(client, "plain", "hi")
    wait_status(client, run_id, "completed")
    for given_as in ({"headers": {"Last-Event-ID": value}}, {"params": {"after": value}}):
        response = client.get(f"/runs/{run_id}/events", **given_as)
        error = assert_json_error(response, 400)
        assert error["param"] == "Last-Event-ID"


def test_last_event_id_past_the_end_or_of_an_unknown_run(client: httpx2.Client) -> None:
    run_id = start(client, "plain", "hi")
    wait_status(client, run_id, "completed")
    everything = events_of(client.get(f"/runs/{run_id}/events"))
    last = everything[-1][0]
    assert (
        client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": str(last)}).status_code
        == 204
    )
    future = client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "999999999999999"})
    assert future.status_code == 204  # nothing after it: the client stops reconnecting
    again = events_of(client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "0"}))
    assert again == everything
    missing = client.get("/runs/run_nope/events", headers={"Last-Event-ID": "3"})
    assert assert_json_error(missing, 404)["code"] == "run_not_found"


def test_cancel_racing_an_approval_never_says_cancelled_for_a_run_that_goes_on(
    server: Server, client: httpx2.Client
) -> None:
    # Before: a cancel landing while an approval recorded "running" (before its task
    # started) found no task to cancel, answered 200, and the run then completed.
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(12):
        run_id = start(client, "janitor", "Clean up")
        call_id = wait_status(client, run_id, "paused")["pending"][0]["call_id"]
        answers: dict[str, int] = {}
        approval = {"approvals": {call_id: True}}
        requests = [
            ("approve", f"{server.url}/runs/{run_id}/approvals", approval),
            ("cancel", f"{server.url}/runs/{run_id}/cancel", {}),
        ]

        def send(name: str, url: str, body: dict[str, Any], answers: dict[str, int]) -> None:
            answers[name] = httpx2.post(url, json=body, headers=auth).status_code

        threads = [threading.Thread(target=send, args=(*r, answers)) for r in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        final = wait_status(client, run_id, "completed", "cancelled")["status"]
        if answers["cancel"] == 200:
            assert final == "cancelled", answers
        else:
            assert answers == {"approve": 202, "cancel": 409} and final == "completed"
    assert _settled_live_runs(server) == []  # nothing left running or registered


def _settled_live_runs(server: Server) -> list[str]:
    """The runs the server holds as live once the last one has recorded its end."""

    async def live() -> list[str]:
        return list(server.app.state.hub.live)

    for _ in range(100):
        if not (found := server.call(live())):
            break
        threading.Event().wait(0.05)
    return found


def test_a_tokenless_server_refuses_changes_from_other_origins(tmp_path: Path) -> None:
    # Before: any web page could POST (a form, or fetch with mode "no-cors") to a tokenless
    # server on 127.0.0.1 and start runs with the agents' tools: Host was loopback.
    server = Server(
        app(
            agents(),
            token=None,
            database_url=str(tmp_path / "x.db"),
            cors_origins=["https://ok.example"],
        )
    )
    run = json.dumps({"agent": "plain", "input": "x"}).encode()
    text = {"Content-Type": "text/plain"}  # a "simple" request: no CORS preflight
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as c:
            for headers in (
                {"Origin": "https://evil.example"},
                {"Origin": "http://localhost:3000"},  # another local site: another origin
                {"Origin": "null"},  # a sandboxed frame or a file:// page
                {"Sec-Fetch-Site": "cross-site"},
                {"Sec-Fetch-Site": "same-site"},
            ):
                for path in ("/runs", "/v1/chat/completions", "/agui/plain", "/runs/x/cancel"):
                    refused = c.post(path, content=run, headers={**text, **headers})
                    assert assert_json_error(refused, 403)["code"] == "cross_origin", headers
            assert c.get("/runs").json()["data"] == []  # nothing was started
            own = c.post("/runs", content=run, headers={**text, "Origin": server.url})
            assert own.status_code == 202  # the viewer's own page
            assert (
                c.post("/runs", content=run, headers={"Sec-Fetch-Site": "same-origin"}).status_code
                == 202
            )
            assert c.post("/runs", content=run).status_code == 202  # curl, SDKs: no Origin
            allowed = c.post("/runs", content=run, headers={"Origin": "https://ok.example"})
            assert allowed.status_code == 202
            assert c.get("/runs", headers={"Origin": "https://evil.example"}).status_code == 200
    finally:
        server.stop()


def test_the_token_in_a_sign_in_url_is_not_in_the_access_log(server: Server) -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    level, handler = access.level, Keep()
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    try:
        with httpx2.Client(base_url=server.url) as browser:
            assert browser.get("/", params={"token": "wrong-guess-1"}).status_code == 401
            assert browser.get("/", params={"token": TOKEN}).status_code == 303
            assert browser.get("/runs", params={"x": "1", "TOKEN": TOKEN}).status_code == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    logged = "\n".join(records)
    assert "GET /?token=<redacted>" in logged and "x=1&TOKEN=<redacted>" in logged
    assert TOKEN not in logged and "wrong-guess-1" not in logged


def test_every_response_carries_the_security_headers(server: Server, client: httpx2.Client) -> None:
    run_id = start(client, "plain", "hi")
    wait_status(client, run_id, "completed")
    answers = [
        client.get("/"),
        client.get("/static/viewer.js"),
        client.get("/static/viewer.css"),
        client.get("/runs"),
        client.get(f"/runs/{run_id}/events"),
        client.get("/nowhere"),
        client.get("/metrics"),
        httpx2.get(f"{server.url}/"),  # the sign-in page
        httpx2.get(f"{server.url}/runs"),  # 401
        httpx2.get(f"{server.url}/healthz"),
    ]
    for response in answers:
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", response.url
        assert "default-src 'self'" in headers["content-security-policy"], response.url
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers.get_list("content-security-policy") == [headers["content-security-policy"]]


def test_a_client_value_is_echoed_in_errors_only_briefly(client: httpx2.Client) -> None:
    name = "<script>" + "x" * 100_000
    short = name[:4000]  # in a URL
    for response in (
        client.post("/runs", json={"agent": name, "input": "x"}),
        client.post("/v1/responses", json={"model": name, "input": "x"}),
        client.post(
            "/v1/chat/completions",
            json={"model": name, "messages": [{"role": "user", "content": "x"}]},
        ),
        client.post(f"/agui/{short}", json={}),
        client.get(f"/v1/models/{short}"),
    ):
        error = assert_json_error(response, 404)
        assert error["message"].startswith("no agent named '<script>xxx")
        assert len(error["message"]) < 300


def test_many_followers_of_one_run_each_get_every_event(
    server: Server, client: httpx2.Client
) -> None:
    from serve.harness import GATE

    run_id = start(client, "gated", "Wait")
    results: list[list[int]] = []

    def follow() -> None:
        with httpx2.Client(base_url=server.url, headers=client.headers, timeout=60) as c:
            results.append(
                [seq for seq, _ in events_of(c.get(f"/runs/{run_id}/events?detailed=1"))]
            )

    followers = [threading.Thread(target=follow) for _ in range(25)]
    for thread in followers:
        thread.start()
    wait_status(client, run_id, "running")
    GATE.set()
    for thread in followers:
        thread.join(60)
    assert len(results) == 25
    expected = list(range(1, results[0][-1] + 1))
    assert all(seqs == expected for seqs in results)
    assert server.app.state.hub.stream_clients == 0


def _tasks_idle(server: Server) -> list[str]:
    """The server's tasks once their number stops changing (the idle baseline)."""
    tasks = server.tasks()
    for _ in range(200):
        threading.Event().wait(0.05)
        again = server.tasks()
        if len(again) == len(tasks):
            return again
        tasks = again
    return tasks


def _tasks_settled(server: Server, baseline: list[str]) -> list[str]:
    tasks = server.tasks()
    for _ in range(200):
        if len(tasks) <= len(baseline):
            break
        threading.Event().wait(0.05)
        tasks = server.tasks()
    return tasks


@pytest.mark.parametrize("route", ["/v1/responses", "/v1/chat/completions", "/agui", "/runs"])
def test_a_client_that_reads_nothing_cannot_hold_a_stream_forever(
    tmp_path: Path, route: str
) -> None:
    # Before: a client that kept its connection open but read nothing blocked the stream's
    # send forever, holding its run (the OpenAI and AG-UI routes) and its task.
    firehose = Agent(name="firehose", model="serve-test:m")
    application = app(
        [*agents(), firehose],
        token=TOKEN,
        database_url=str(tmp_path / "x.db"),
        stream_send_timeout=0.3,
    )
    server = Server(application)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with httpx2.Client(base_url=server.url, headers=auth, timeout=60) as c:
            warm = {"model": "plain", "messages": [{"role": "user", "content": "Hi"}]}
            assert "[DONE]" in c.post("/v1/chat/completions", json={**warm, "stream": True}).text
            if route == "/runs":
                run_id = start(c, "firehose", "Go")
                wait_status(c, run_id, "completed")
        baseline = _tasks_idle(server)
        message = {"role": "user", "content": "Go"}
        path, body = {
            "/v1/responses": (
                "/v1/responses",
                {"model": "firehose", "input": "Go", "stream": True},
            ),
            "/v1/chat/completions": (
                "/v1/chat/completions",
                {"model": "firehose", "messages": [message], "stream": True},
            ),
            "/agui": (
                "/agui/firehose",
                {"threadId": "t", "runId": "r", "messages": [{"id": "u", **message}]},
            ),
            "/runs": (f"/runs/{run_id if route == '/runs' else ''}/events", None),
        }[route]
        raw = json.dumps(body).encode() if body is not None else b""
        method = "POST" if body is not None else "GET"
        host, port = server.url.removeprefix("http://").split(":")
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
            sock.connect((host, int(port)))
            sock.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
                + raw
            )
            # the socket stays open and unread while the server gives up on it
            left = _tasks_settled(server, baseline)
            assert len(left) <= len(baseline), left
            assert application.state.hub.stream_clients == 0
    finally:
        server.stop()


def test_every_event_stream_tells_proxies_not_to_buffer_it(client: httpx2.Client) -> None:
    # Before: only /runs/{id}/events sent these (and heartbeats); the OpenAI and AG-UI
    # streams did not, though docs/serve.md said so.
    message = {"role": "user", "content": "Hi"}
    run_id = start(client, "plain", "hi")
    wait_status(client, run_id, "completed")
    for method, path, body in (
        ("POST", "/v1/responses", {"model": "plain", "input": "Hi", "stream": True}),
        ("POST", "/v1/chat/completions", {"model": "plain", "messages": [message], "stream": True}),
        (
            "POST",
            "/agui/plain",
            {"threadId": "t", "runId": "r", "messages": [{"id": "u", **message}]},
        ),
        ("GET", f"/runs/{run_id}/events", None),
    ):
        response = client.request(method, path, json=body)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no", path
        assert response.headers["cache-control"] == "no-cache", path


ODD_RUN_IDS = ["run_%00x", "run_%ED%A0%80", "%F0%9F%92%A3", "run_" + "x" * 300, "a%20b", "%2e%2e"]


def _store_of(kind: str, tmp_path: Path) -> tuple[Any, Any]:
    """A run store for the app and a function dropping what it made."""
    if kind == "sqlite":
        return None, lambda: None
    dsn = os.environ.get("EXO_TEST_POSTGRES_DSN")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail("EXO_TEST_POSTGRES_DSN is not set in CI")
        pytest.skip("PostgreSQL tests need EXO_TEST_POSTGRES_DSN (source .ci/postgres.sh)")
    from exo.serve._store_postgres import PostgresRunStore

    schema = f"exo_test_{uuid.uuid4().hex[:12]}"

    async def drop() -> None:
        backend = PostgresRunStore(dsn, schema=schema)
        async with backend._conn("dropping the test schema") as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await backend.aclose()

    return PostgresRunStore(dsn, schema=schema), lambda: asyncio.run(drop())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_run_id_no_run_can_have_is_a_404_on_every_store(tmp_path: Path, kind: str) -> None:
    # Before: a NUL or a lone surrogate in the URL's run id reached PostgreSQL's driver,
    # which raised: a 500 for a run that simply is not there.
    store, drop = _store_of(kind, tmp_path)
    server = Server(app(agents(), token=TOKEN, database_url=str(tmp_path / "x.db"), store=store))
    try:
        with httpx2.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as c:
            run_id = start(c, "plain", "hi")  # the store works for a real id
            assert wait_status(c, run_id, "completed")["output"] == "Answer to: hi"
            for odd in ODD_RUN_IDS:
                for method, suffix in (
                    ("GET", ""),
                    ("GET", "/events"),
                    ("POST", "/cancel"),
                    ("POST", "/approvals"),
                ):
                    response = c.request(method, f"/runs/{odd}{suffix}", json={})
                    error = assert_json_error(response, 404)
                    assert error["code"] == "run_not_found", (odd, suffix)
                    assert len(error["message"]) < 120
    finally:
        server.stop()
        drop()


def test_a_body_that_grows_too_large_is_a_413_on_every_route(tmp_path: Path) -> None:
    # Before: the OpenAI and AG-UI routes caught the guard's 413 as an unexpected
    # exception: a logged 500 "internal_error" for a client's oversized body.
    server = Server(
        app(agents(), token=TOKEN, database_url=str(tmp_path / "x.db"), max_body_bytes=2048)
    )
    big = json.dumps({"model": "plain", "input": "x" * 4096}).encode()

    def chunks() -> Any:  # no Content-Length: the limit applies as the bytes arrive
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    try:
        with httpx2.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as c:
            for path in ("/runs", "/v1/responses", "/v1/chat/completions", "/agui/plain"):
                for content in (big, chunks()):
                    response = c.post(path, content=content)
                    error = assert_json_error(response, 413)
                    assert error["code"] == "request_too_large", path
            metrics = c.get("/metrics").text
            assert 'exo_http_errors_total{status="413"} 8' in metrics
            assert 'status="500"' not in metrics
    finally:
        server.stop()
