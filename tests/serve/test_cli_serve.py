"""``exo serve`` as a person runs it: a process serving an agent file on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

AGENT = """
from exo import Agent

agent = Agent(name="greeter", model="test:m", instructions="Greet.")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_exo_serve_serves_an_agent_file_until_interrupted(tmp_path: Path) -> None:
    (tmp_path / "greeter.py").write_text(AGENT)
    port = _free_port()
    env = {**os.environ, "EXO_HOME": str(tmp_path / "home"), "EXO_SERVE_TOKEN": "cli-token-123"}
    entry = "from exo._cli_entry import main; main()"
    command = [sys.executable, "-c", entry, "serve", "greeter.py", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx2.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": "Bearer cli-token-123"}
        assert httpx2.get(f"{url}/agents", headers=headers).json()["data"][0]["name"] == "greeter"
        assert httpx2.get(f"{url}/agents").status_code == 401
        started = httpx2.post(
            f"{url}/runs", json={"agent": "greeter", "input": "hi"}, headers=headers
        ).json()
        for _ in range(100):
            run = httpx2.get(f"{url}/runs/{started['id']}", headers=headers).json()
            if run["status"] == "completed":
                break
            time.sleep(0.05)
        assert run["status"] == "completed"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"greeter on http://127.0.0.1:{port}/" in output
    assert "cli-token-123" not in output  # the token is never printed
    assert (tmp_path / "home" / "memory.db").is_file()  # runs went to exo's memory file
