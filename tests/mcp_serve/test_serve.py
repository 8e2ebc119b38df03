"""``exo mcp serve``: an exo agent called from the official MCP SDK's client.

Each test spawns the real command (over stdio, and over streamable HTTP on loopback) on an
offline agent from ``agents.py`` and talks to it with ``mcp.ClientSession``.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, TextContent

from .conftest import AGENTS, TRANSPORTS, serve, wait_for_file

both = pytest.mark.parametrize("transport", TRANSPORTS)
stdio = pytest.mark.parametrize("transport", ["stdio"])  # the transport does not matter here

PLAN = (
    "1. Understand the task: Compare React vs Svelte\n"
    "2. Use search: Top results for 'example': docs, benchmarks\n"
    "3. Use summarize: summary of example\n"
    "4. Report the answer."
)


def text(result: object) -> str:
    content = result.content  # type: ignore[attr-defined]
    assert len(content) == 1 and isinstance(content[0], TextContent)
    return content[0].text


class Progress:
    """A progress callback that keeps every notification, and can wait for one."""

    def __init__(self, waits_for: str = "") -> None:
        self.notes: list[tuple[float, str | None]] = []
        self.waits_for = waits_for
        self.seen = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notes.append((progress, message))
        if self.waits_for and message and message.startswith(self.waits_for):
            self.seen.set()

    @property
    def messages(self) -> list[str | None]:
        return [m for _, m in self.notes]


@both
async def test_the_agent_is_one_tool_taking_a_task(transport: str, tmp_path: Path) -> None:
    async with serve(transport, "researcher", tmp_path) as session:
        listed = await session.list_tools()
    [tool] = listed.tools
    assert tool.name == "researcher"
    assert tool.input_schema["required"] == ["task"]
    assert set(tool.input_schema["properties"]) == {"task", "conversation_id"}
    assert tool.output_schema is None  # a free-text agent
    assert "makes a plan first" in (tool.description or "")
    assert "search, summarize" in (tool.description or "")


@pytest.mark.parametrize("transport", [*TRANSPORTS, "stdio-2026"])
async def test_a_call_runs_planner_and_tools_and_reports_them_as_progress(
    transport: str, tmp_path: Path
) -> None:
    progress = Progress()
    async with serve(transport, "researcher", tmp_path) as session:
        result = await session.call_tool(
            "researcher", {"task": "Compare React vs Svelte"}, progress_callback=progress
        )
    assert not result.is_error
    assert text(result) == PLAN
    assert result.meta is not None
    usage = result.meta["exo/usage"]
    assert usage["requests"] == 4  # planner: tools, plan; executor: tools, answer
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert progress.messages == [
        "planning (test:demo)",
        f"plan:\n{PLAN}",  # the TestModel's planner plans what its executor then does
        '→ search({"query": "example"})',
        '→ summarize({"text": "example"})',
        "← search: Top results for 'example': docs, benchmarks",
        "← summarize: summary of example",
    ]
    assert [p for p, _ in progress.notes] == [1, 2, 3, 4, 5, 6]


@both
async def test_a_typed_agent_declares_its_output_schema_and_answers_structured(
    transport: str, tmp_path: Path
) -> None:
    async with serve(transport, "judge", tmp_path) as session:
        [tool] = (await session.list_tools()).tools
        result = await session.call_tool("judge", {"task": "Is Svelte smaller?"})
    schema = tool.output_schema
    assert schema is not None
    assert schema["type"] == "object"
    assert schema["required"] == ["answer", "confidence", "sources"]
    assert schema["properties"]["sources"] == {
        "items": {"type": "string"},
        "title": "Sources",
        "type": "array",
    }
    assert not result.is_error
    expected = {"answer": "example", "confidence": 1, "sources": ["example"]}
    assert result.structured_content == expected
    assert json.loads(text(result)) == expected


@stdio
async def test_a_non_object_output_is_wrapped_in_response(transport: str, tmp_path: Path) -> None:
    async with serve(transport, "lister", tmp_path) as session:
        [tool] = (await session.list_tools()).tools
        result = await session.call_tool("lister", {"task": "List three frameworks"})
    assert tool.output_schema is not None
    assert tool.output_schema["required"] == ["response"]
    assert result.structured_content == {"response": ["example"]}
    assert json.loads(text(result)) == ["example"]


@pytest.mark.parametrize("transport", [*TRANSPORTS, "stdio-2026"])
async def test_cancelling_the_call_cancels_the_run(transport: str, tmp_path: Path) -> None:
    progress = Progress(waits_for="→ wait_for_ever")
    async with serve(transport, "blocker", tmp_path) as session:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await session.call_tool("blocker", {"task": "wait"}, progress_callback=progress)

            group.start_soon(call)
            with anyio.fail_after(60):
                await progress.seen.wait()
            await wait_for_file(tmp_path / "started")  # the tool runs in the server
            group.cancel_scope.cancel()  # the SDK sends notifications/cancelled
        await wait_for_file(tmp_path / "cancelled")
        assert not (tmp_path / "finished").exists()
        # The server is still there, and a new run goes through (the tool no longer blocks).
        again = await session.call_tool("blocker", {"task": "wait again"})
    assert not again.is_error
    assert "Use wait_for_ever: done after a cancel" in text(again)
    assert not (tmp_path / "finished").exists()
    assert progress.messages[:3] == [
        "planning (test:demo)",
        "plan:\n1. Understand the task: wait\n2. Report the answer.",
        '→ wait_for_ever({"reason": "example"})',
    ]
    assert len(progress.messages) == 3  # no result came back for the cancelled call


@both
@pytest.mark.parametrize(
    ("agent", "says"),
    [
        ("short", "The agent 'short' failed: "),
        ("remote", "The agent 'remote' failed: "),
        ("leaky", "The agent 'leaky' failed: RuntimeError: cannot use key ***"),
    ],
)
async def test_a_failed_run_is_an_error_result_without_traceback_or_key(
    transport: str, tmp_path: Path, agent: str, says: str
) -> None:
    secret = "sk-test-DO-NOT-LEAK-1234567890"
    env = {"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
    async with serve(transport, agent, tmp_path, env) as session:
        result = await session.call_tool(agent, {"task": "Compare React vs Svelte"})
    message = text(result)
    assert result.is_error
    assert message.startswith(says)
    assert "Traceback" not in message
    assert secret not in message and "DO-NOT-LEAK" not in message
    if agent == "short":
        assert "max_steps" in message


@stdio
async def test_a_call_needing_approval_is_refused_and_nothing_runs(
    transport: str, tmp_path: Path
) -> None:
    async with serve(transport, "janitor", tmp_path) as session:
        result = await session.call_tool("janitor", {"task": "Clean up"})
    assert result.is_error
    assert text(result) == (
        "The agent 'janitor' stopped to wait for a person's approval of "
        'delete_file({"path": "example"}), and the MCP client cannot be asked (it takes no '
        "elicitation on this connection), so nothing of it ran. Call it from a client that "
        "supports elicitation, serve the agent with an approval_handler (or `exo mcp serve "
        "--yes`), or without tools that need approval."
    )
    assert not (tmp_path / "deleted").exists()


class Elicitation:
    """An elicitation callback answering from a list: True approves, False declines."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        assert params.requested_schema["required"] == ["approve"]
        self.questions.append(params.message)
        if self.answers.pop(0):
            return ElicitResult(action="accept", content={"approve": True})
        return ElicitResult(action="decline")


QUESTION_PLAN = (
    "The agent 'careful' made this plan:\n\n1. Understand the task: Clean up\n2. Report the "
    "answer.\n\nApprove it? (No: the agent works without a plan.)"
)
QUESTION_CALL = 'The agent \'careful\' wants to call delete_file({"path": "example"}). Approve it?'


@pytest.mark.parametrize("transport", [*TRANSPORTS, "stdio-2026"])
async def test_approvals_are_asked_of_the_clients_user(transport: str, tmp_path: Path) -> None:
    asked = Elicitation(True, True)
    async with serve(transport, "careful", tmp_path, elicitation=asked) as session:
        result = await session.call_tool("careful", {"task": "Clean up"})
    assert asked.questions == [QUESTION_PLAN, QUESTION_CALL]
    assert not result.is_error
    assert "Use delete_file: deleted example" in text(result)
    assert (tmp_path / "deleted").exists()


@pytest.mark.parametrize("transport", ["stdio", "stdio-2026"])
async def test_a_declined_call_does_not_run_and_the_model_reads_why(
    transport: str, tmp_path: Path
) -> None:
    asked = Elicitation(False, False)
    progress = Progress()
    async with serve(transport, "careful", tmp_path, elicitation=asked) as session:
        result = await session.call_tool(
            "careful", {"task": "Clean up"}, progress_callback=progress
        )
    assert asked.questions == [QUESTION_PLAN, QUESTION_CALL]
    assert not result.is_error  # the model read the refusal and answered
    assert "Use delete_file: Error: the call of 'delete_file' was not approved" in text(result)
    assert not (tmp_path / "deleted").exists()
    assert progress.messages[-1] == (
        "← delete_file (error): Error: the call of 'delete_file' was not approved, so it did "
        "not run: the user of the MCP client did not approve this call. Do not repeat it; go "
        "on without it or ask the user."
    )


@stdio
async def test_yes_approves_every_call(transport: str, tmp_path: Path) -> None:
    async with serve(transport, "janitor", tmp_path, options=("--yes",)) as session:
        result = await session.call_tool("janitor", {"task": "Clean up"})
    assert not result.is_error
    assert "Use delete_file: deleted example" in text(result)
    assert (tmp_path / "deleted").exists()


@both
async def test_bad_arguments_are_error_results_and_an_unknown_tool_a_protocol_error(
    transport: str, tmp_path: Path
) -> None:
    async with serve(transport, "researcher", tmp_path) as session:
        empty = await session.call_tool("researcher", {"task": "  "})
        extra = await session.call_tool("researcher", {"task": "x", "when": "now"})
        with pytest.raises(MCPError, match="unknown tool 'writer'"):
            await session.call_tool("writer", {"task": "x"})
    assert empty.is_error
    assert text(empty) == "The argument task must be a non-empty string: what the agent should do."
    assert extra.is_error
    assert text(extra) == "Unknown argument(s): when. Pass task (and conversation_id)."


@stdio
async def test_conversation_id_continues_a_conversation_in_memory(
    transport: str, tmp_path: Path
) -> None:
    async with serve(transport, "chatter", tmp_path) as session:
        answers = [
            text(await session.call_tool("chatter", arguments))
            for arguments in (
                {"task": "hello", "conversation_id": "c1"},
                {"task": "again", "conversation_id": "c1"},
                {"task": "alone"},
                {"task": "other", "conversation_id": "c2"},
            )
        ]
    assert answers == ["turn 1: hello", "turn 2: again", "turn 1: alone", "turn 1: other"]


HELPER_YAML = """
name: helper
model: test:demo
instructions: Help briefly.
planning_enabled: true
output_type: {agents}:Verdict
tools:
  - {agents}:search
"""


@stdio
async def test_an_agent_file_is_served_like_a_python_agent(transport: str, tmp_path: Path) -> None:
    agent_file = tmp_path / "helper.yaml"
    agent_file.write_text(HELPER_YAML.format(agents=AGENTS), encoding="utf-8")
    progress = Progress()
    async with serve(transport, str(agent_file), tmp_path) as session:
        [tool] = (await session.list_tools()).tools
        result = await session.call_tool("helper", {"task": "Is it?"}, progress_callback=progress)
    assert tool.name == "helper" and tool.output_schema is not None
    assert result.structured_content == {
        "answer": "example",
        "confidence": 1,
        "sources": ["example"],
    }
    assert progress.messages[0] == "planning (test:demo)"
    assert '→ search({"query": "example"})' in progress.messages


@both
async def test_concurrent_calls_each_get_their_own_answer_and_progress(
    transport: str, tmp_path: Path
) -> None:
    answers: dict[int, str] = {}
    progress = {i: Progress() for i in range(25)}
    async with serve(transport, "researcher", tmp_path) as session:

        async def ask(i: int) -> None:
            result = await session.call_tool(
                "researcher", {"task": f"Question {i}"}, progress_callback=progress[i]
            )
            answers[i] = text(result)

        async with anyio.create_task_group() as group:
            for i in range(25):
                group.start_soon(ask, i)
    for i in range(25):
        assert answers[i].startswith(f"1. Understand the task: Question {i}\n")
        assert progress[i].messages[1] == f"plan:\n{answers[i]}"
        assert len(progress[i].messages) == 6
