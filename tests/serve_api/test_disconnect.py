"""A client that disconnects from a stream cancels its run: nothing is left running."""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import httpx2 as httpx
import pytest
from tests.serve_api.conftest import Served

BODIES: dict[str, dict[str, Any]] = {
    "/v1/responses": {"model": "blocker", "input": "Wait.", "stream": True},
    "/v1/chat/completions": {
        "model": "blocker",
        "messages": [{"role": "user", "content": "Wait."}],
        "stream": True,
    },
    "/agui/blocker": {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "u", "role": "user", "content": "Wait."}],
    },
}


def settle(served: Served, baseline: set[str]) -> set[str]:
    """The server loop's tasks once it has nothing more to finish (bounded wait)."""
    tasks = served.server.tasks()
    for _ in range(200):
        if tasks <= baseline:
            break
        time.sleep(0.05)
        tasks = served.server.tasks()
    return tasks


@pytest.mark.parametrize("path", list(BODIES))
def test_disconnect_cancels_the_run(served: Served, path: str) -> None:
    blocker = served.blocker
    blocker.reset()
    # One finished stream first: sse-starlette starts one shutdown watcher per event loop.
    warm = {"model": "weather", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    assert "[DONE]" in httpx.post(f"{served.url}/v1/chat/completions", json=warm).text
    baseline = settle(served, served.server.tasks())
    url = f"{served.url}{path}"
    with httpx.Client(timeout=30) as client, client.stream("POST", url, json=BODIES[path]) as r:
        assert r.status_code == 200
        lines = r.iter_lines()  # kept: a collected iterator may close the response early
        next(lines)  # the stream is open and the run has begun
        assert blocker.started.wait(10), "the tool never started"
        assert not blocker.cancelled.is_set()
    # leaving the block closed the connection mid-stream
    assert blocker.cancelled.wait(10), "the run went on after its client left"
    assert settle(served, baseline) <= baseline  # no task of the request is left


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions"])
def test_leaving_a_whole_response_cancels_its_run(served: Served, path: str) -> None:
    """Not streamed: a client that hangs up while it waits for the answer cancels the run."""
    blocker = served.blocker
    blocker.reset()
    baseline = settle(served, served.server.tasks())
    body = json.dumps({**BODIES[path], "stream": False}).encode()
    host, port = served.server.server.servers[0].sockets[0].getsockname()[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        assert blocker.started.wait(10), "the tool never started"
        assert not blocker.cancelled.is_set()
    # the connection is closed: the client left before any answer
    assert blocker.cancelled.wait(10), "the run went on after its client left"
    assert settle(served, baseline) <= baseline


@pytest.mark.parametrize("abort", [False, True], ids=["close", "reset"])
@pytest.mark.parametrize("path", list(BODIES))
def test_a_client_that_never_reads_a_byte_and_leaves_cancels_the_run(
    served: Served, path: str, abort: bool
) -> None:
    """Streamed, but the client reads nothing and hangs up (a FIN, or an RST as a crashed
    client or a proxy timeout sends): the run is cancelled and no task is left."""
    blocker = served.blocker
    blocker.reset()
    warm = {"model": "weather", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    assert "[DONE]" in httpx.post(f"{served.url}/v1/chat/completions", json=warm).text
    baseline = settle(served, served.server.tasks())
    body = json.dumps(BODIES[path]).encode()
    host, port = served.server.server.servers[0].sockets[0].getsockname()[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        assert blocker.started.wait(10), "the tool never started"
        if abort:  # close with an RST, not a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert blocker.cancelled.wait(10), "the run went on after its client left"
    assert settle(served, baseline) <= baseline
    assert served.hub.stream_clients == 0
