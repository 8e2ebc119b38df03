"""exo's run API against a real uvicorn on loopback, through httpx2 (the SDKs' HTTP client)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import pytest

from exo.serve import app
from serve.conftest import TOKEN
from serve.harness import GATE, PLAN, Server, agents


def events_of(response: httpx2.Response) -> list[tuple[int, dict[str, Any]]]:
    """The (id, data) pairs of an SSE body."""
    found: list[tuple[int, dict[str, Any]]] = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "data" in lines:
            found.append((int(lines["id"]), json.loads(lines["data"])))
    return found


def wait_status(client: httpx2.Client, run_id: str, *statuses: str) -> dict[str, Any]:
    """Follow the run's events to their end (the stream closes at a terminal status)."""
    for _ in range(200):
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {statuses}: {run['status']}")


def start(
    client: httpx2.Client, agent: str, task: str = "Tell me about svelte", **extra: Any
) -> str:
    response = client.post("/runs", json={"agent": agent, "input": task, **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture
def client(server: Server, auth: dict[str, str]) -> Any:
    with httpx2.Client(base_url=server.url, headers=auth, timeout=30) as c:
        yield c


def test_a_run_records_plan_tools_children_and_usage(client: httpx2.Client) -> None:
    run_id = start(client, "helper")
    run = wait_status(client, run_id, "completed")
    assert run["plan"]["text"] == PLAN
    assert run["output"] == "Svelte is small and fast; see the lookup and the child's summary."
    assert [c["name"] for c in run["children"]] == ["helper_child_1"]
    assert run["children"][0]["output"] == "Svelte compiles components to small vanilla JS."
    phases = run["usage_by_phase"]
    assert phases["plan"]["requests"] == 1 and phases["children"]["requests"] == 1
    assert run["usage"]["requests"] == 4  # planner, executor twice, child
    listed = client.get("/runs").json()["data"]
    assert [r["id"] for r in listed] == [run_id]
    events = events_of(client.get(f"/runs/{run_id}/events", params={"detailed": "true"}))
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for _, e in events]
    assert kinds[0] == "status" and events[-1][1] == {
        **events[-1][1],
        "type": "status",
        "status": "completed",
    }
    assert {"plan_complete", "tool_call", "tool_result", "usage", "run_complete"} <= set(kinds)
    child = [e for _, e in events if e.get("lineage") == ["helper"]]
    assert {e["agent_name"] for e in child} == {"helper_child_1"}
    assert "text" in {e["type"] for e in child}
    assert all("messages" not in e.get("result", {}) for _, e in events)


def test_events_resume_after_last_event_id(client: httpx2.Client) -> None:
    run_id = start(client, "helper")
    wait_status(client, run_id, "completed")
    everything = events_of(client.get(f"/runs/{run_id}/events?detailed=1"))
    middle = everything[len(everything) // 2][0]
    rest = events_of(
        client.get(f"/runs/{run_id}/events?detailed=1", headers={"Last-Event-ID": str(middle)})
    )
    assert rest == everything[middle:]
    last = everything[-1][0]
    over = client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": str(last)})
    assert over.status_code == 204  # EventSource stops reconnecting on 204
    brief = events_of(client.get(f"/runs/{run_id}/events"))  # detailed=False by default
    assert {e["type"] for _, e in brief}.isdisjoint({"usage", "step", "plan_complete"})


def test_live_events_stream_while_the_run_goes_on(server: Server, client: httpx2.Client) -> None:
    run_id = start(client, "gated", detailed=True)
    seen: list[dict[str, Any]] = []
    with client.stream("GET", f"/runs/{run_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = ""
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                event = json.loads(data)
                seen.append(event)
                data = ""
                if event["type"] == "tool_call":
                    assert client.get(f"/runs/{run_id}").json()["status"] == "running"
                    GATE.set()  # the tool was called and waits: let it finish
    kinds = [e["type"] for e in seen]
    assert kinds.index("tool_call") < kinds.index("tool_result")
    assert seen[-1] == {**seen[-1], "type": "status", "status": "completed"}


def test_approvals_resume_a_paused_run(client: httpx2.Client) -> None:
    run_id = start(client, "janitor", "Delete the draft")
    run = wait_status(client, run_id, "paused")
    [request] = run["pending"]
    assert request["tool_name"] == "delete_file" and request["arguments"] == {"path": "draft.txt"}
    bad = client.post(f"/runs/{run_id}/approvals", json={"approvals": {"call_nope": True}})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    ok = client.post(f"/runs/{run_id}/approvals", json={"approvals": {request["call_id"]: True}})
    assert ok.status_code == 202
    done = wait_status(client, run_id, "completed")
    assert done["output"] == "Done: deleted draft.txt" and done["pending"] == []
    again = client.post(f"/runs/{run_id}/approvals", json={"approvals": {request["call_id"]: True}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_not_paused"
    statuses = [
        e["status"]
        for _, e in events_of(client.get(f"/runs/{run_id}/events"))
        if e["type"] == "status"
    ]
    assert statuses == ["running", "paused", "running", "completed"]


def test_a_plan_waits_for_approval_and_takes_the_edit(client: httpx2.Client) -> None:
    run_id = start(client, "writer", "Write a haiku")
    run = wait_status(client, run_id, "paused")
    assert run["pending"][0]["kind"] == "plan" and run["pending"][0]["plan"] == PLAN
    edited = "1. Count syllables\n2. Write"
    assert client.post(f"/runs/{run_id}/approvals", json={"plan": edited}).status_code == 202
    done = wait_status(client, run_id, "completed")
    assert done["plan"]["text"] == edited


def test_cancel_stops_a_running_run_and_a_paused_one(client: httpx2.Client) -> None:
    running = start(client, "gated")
    cancelled = client.post(f"/runs/{running}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(f"/runs/{running}").json()["status"] == "cancelled"
    again = client.post(f"/runs/{running}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_not_active"
    paused = start(client, "janitor")
    wait_status(client, paused, "paused")
    assert client.post(f"/runs/{paused}/cancel").json()["status"] == "cancelled"
    answer = client.post(f"/runs/{paused}/approvals", json={"approvals": {}})
    assert answer.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"agent": "nobody", "input": "x"}, 404, "agent"),
        ({"agent": "plain"}, 400, "input"),
        ({"agent": "plain", "input": [{"type": "bogus"}]}, 400, "input"),
        ({"agent": "plain", "input": "x", "detailed": "yes"}, 400, "detailed"),
        ({"agent": "plain", "input": "x", "conversation_id": 7}, 400, "conversation_id"),
    ],
)
def test_bad_requests_get_the_openai_error_shape(
    client: httpx2.Client, body: dict[str, Any], status: int, param: str
) -> None:
    response = client.post("/runs", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param


def test_errors_are_json_never_tracebacks(client: httpx2.Client) -> None:
    for response in (
        client.post("/runs", content=b"{not json", headers={"Content-Type": "application/json"}),
        client.get("/runs/run_missing"),
        client.get("/nowhere"),
        client.delete("/runs"),
        client.get("/runs?limit=many"),
    ):
        assert response.status_code in (400, 404, 405)
        body = response.json()
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert "Traceback" not in response.text


def test_body_limit_answers_413(tmp_path: Any, auth: dict[str, str]) -> None:
    server = Server(
        app(agents(), token=TOKEN, database_url=str(tmp_path / "x.db"), max_body_bytes=2048)
    )
    try:
        big = {"agent": "plain", "input": "x" * 4096}
        with httpx2.Client(base_url=server.url, headers=auth) as c:
            declared = c.post("/runs", json=big)
            assert declared.status_code == 413
            assert declared.json()["error"]["code"] == "request_too_large"

            def chunks() -> Any:  # no Content-Length: the limit applies as bytes arrive
                body = json.dumps(big).encode()
                for i in range(0, len(body), 512):
                    yield body[i : i + 512]

            streamed = c.post(
                "/runs", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert streamed.status_code == 413
            assert streamed.json()["error"]["code"] == "request_too_large"
            assert c.get("/runs").json()["data"] == []
    finally:
        server.stop()


def test_conversation_continues_through_memory(client: httpx2.Client) -> None:
    first = start(client, "plain", "first question", conversation_id="conv-1")
    wait_status(client, first, "completed")
    second = start(client, "plain", "second question", conversation_id="conv-1")
    done = wait_status(client, second, "completed")
    assert done["conversation_id"] == "conv-1"
    assert done["output"] == "Answer to: second question"


def test_metrics_and_health(server: Server, client: httpx2.Client) -> None:
    run_id = start(client, "plain")
    wait_status(client, run_id, "completed")
    client.get("/runs/run_missing")
    text = client.get("/metrics").text
    assert "exo_runs_started_total 1" in text
    assert 'exo_runs_total{status="completed"} 1' in text
    assert 'exo_http_errors_total{status="404"} 1' in text
    tokens = [line for line in text.splitlines() if line.startswith("exo_tokens_total")]
    assert all(int(line.rsplit(" ", 1)[1]) > 0 for line in tokens)
    assert httpx2.get(f"{server.url}/healthz").json() == {"status": "ok"}  # no token needed


def test_a_paused_run_is_answered_after_a_restart(tmp_path: Any, auth: dict[str, str]) -> None:
    database = str(tmp_path / "restart.db")
    first = Server(app(agents(), token=TOKEN, database_url=database))
    try:
        with httpx2.Client(base_url=first.url, headers=auth) as c:
            run_id = start(c, "janitor", "Delete the draft")
            call_id = wait_status(c, run_id, "paused")["pending"][0]["call_id"]
    finally:
        first.stop()
    second = Server(app(agents(), token=TOKEN, database_url=database))
    try:
        with httpx2.Client(base_url=second.url, headers=auth, timeout=30) as c:
            assert c.get(f"/runs/{run_id}").json()["status"] == "paused"
            ok = c.post(f"/runs/{run_id}/approvals", json={"approvals": {call_id: True}})
            assert ok.status_code == 202
            done = wait_status(c, run_id, "completed")
            assert done["output"] == "Done: deleted draft.txt"
            seqs = [seq for seq, _ in events_of(c.get(f"/runs/{run_id}/events"))]
            assert seqs == sorted(set(seqs)) and seqs[0] == 1  # one log across both servers
    finally:
        second.stop()


def test_a_failed_run_says_why(client: httpx2.Client) -> None:
    run_id = start(client, "broken")
    run = wait_status(client, run_id, "failed")
    assert run["error"] == {
        "message": "serve-test:m (HTTP 400): the server said no",
        "type": "ModelError",
    }
    kinds = [e["type"] for _, e in events_of(client.get(f"/runs/{run_id}/events"))]
    assert kinds[-2:] == ["error", "status"]
