"""Pause and resume across processes on the real OpenAI provider, against the fake server.

The first process runs until the model asks for a tool that needs approval and writes the
paused state to a file; a second process reads it and resumes with the answer. The server
sees exactly two requests: nothing is sent while the run is paused, and the resumed request
carries the held tool call and its result the way the real API checks them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reliability.fakeserver import FakeServer, answer, tools

SCRIPT = '''
import asyncio, json, sys
from exo import Agent, run, tool


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


agent = Agent(name="ops", model="openai:gpt-4o", tools=[delete_file], max_retries=0)


async def main(mode: str, path: str) -> None:
    if mode == "start":
        result = await run(agent, "delete a.txt")
        saved = {"status": result.status, "state": result.state, "id": result.pending[0].call_id}
        with open(path, "w") as f:
            json.dump(saved, f)
        return
    with open(path) as f:
        saved = json.load(f)
    answer = True if mode == "approve" else "not today"
    result = await run(agent, resume=saved["state"], approvals={saved["id"]: answer})
    print(json.dumps({"output": result.output, "usage": result.usage.requests,
                      "steps": result.steps, "status": result.status}))


asyncio.run(main(sys.argv[1], sys.argv[2]))
'''


@pytest.mark.parametrize(
    ("mode", "tool_content"),
    [
        ("approve", "deleted a.txt"),
        (
            "deny",
            "Error: the call of 'delete_file' was not approved, so it did not run: not today. "
            "Do not repeat it; go on without it or ask the user.",
        ),
    ],
)
def test_a_paused_run_resumes_in_another_process_on_the_wire(
    server: FakeServer, tmp_path: Path, mode: str, tool_content: str
) -> None:
    server.script(tools(("delete_file", '{"path": "a.txt"}')), answer("All done."))
    script, state = tmp_path / "ops.py", tmp_path / "state.json"
    script.write_text(SCRIPT)
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server.url}/v1"}
    python = [sys.executable, str(script)]

    subprocess.run([*python, "start", str(state)], check=True, env=env, timeout=120)
    server.settle()
    saved = json.loads(state.read_text())
    assert saved["status"] == "paused"
    assert server.count() == 1  # paused: nothing more was sent

    done = subprocess.run(
        [*python, mode, str(state)], check=True, env=env, capture_output=True, text=True
    )
    server.settle()
    assert json.loads(done.stdout) == {
        "output": "All done.",
        "usage": 2,
        "steps": 2,
        "status": "completed",
    }
    assert server.count() == 2 and server.outcomes() == ["ok", "ok"]
    messages = server.attempts[1].body["messages"]
    held, result = messages[-2], messages[-1]
    assert held["tool_calls"][0]["id"] == saved["id"]
    assert result == {"role": "tool", "tool_call_id": saved["id"], "content": tool_content}
