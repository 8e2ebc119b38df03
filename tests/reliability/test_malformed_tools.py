"""Malformed tool calls from the model, through every wire protocol, streaming and not.

Each bad call must come back to the model as an error result it can act on, the tool must
never run with made-up arguments, the model's next turn must work, and the saved transcript
must replay through every provider's converter into a request the real API would accept
(checked structurally by the fake server: tool calls answered, argument types right).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exo import Agent
from exo.models.base import Provider
from exo.types import AssistantMessage, ToolResult
from reliability.fakeserver import FakeServer, answer, tools
from reliability.support import BACKENDS, drive

ProviderFactory = Callable[..., Provider]

CASES = {
    "truncated-json": ("add", '{"a": 1, "b": '),
    "empty-string": ("add", ""),
    "null": ("add", "null"),
    "a-list": ("add", "[1, 2]"),
    "a-string": ("add", '"one and two"'),
    "wrong-types": ("add", '{"a": "one", "b": [2]}'),
    "missing-field": ("add", '{"a": 1}'),
    "unknown-tool": ("subtract", '{"a": 1, "b": 2}'),
}

calls: list[tuple[int, int]] = []


def add(a: int, b: int) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


AGENT = Agent(name="adder", model="test:m", instructions="Use the tools.", tools=[add])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
async def test_malformed_tool_call_is_an_error_the_model_can_act_on(
    server: FakeServer, providers: ProviderFactory, case: str, backend: str, stream: bool
) -> None:
    calls.clear()
    name, arguments = CASES[case]
    server.script(
        tools((name, arguments)),
        tools(("add", '{"a": 1, "b": 2}')),
        answer("1 + 2 = 3"),
    )
    result = await drive(AGENT, "add 1 and 2", provider=providers(backend), stream=stream)

    assert result.output == "1 + 2 = 3" and result.steps == 3
    assert calls == [(1, 2)]  # never called with made-up arguments
    ((text, is_error),) = server.attempts[1].seen.results  # what the model read
    if case == "unknown-tool":
        assert "Unknown tool 'subtract'" in text and "add" in text
    else:
        assert "Invalid arguments for tool 'add'" in text
        assert "Call the tool again" in text
    if backend == "anthropic":
        assert is_error
    first = result.messages[3]
    assert isinstance(first, ToolResult) and first.is_error
    assert server.attempts[2].seen.results[1] == ("3", False)  # the next turn worked
    assert server.rejected == []

    # the saved transcript replays through every backend's converter
    server.reset()
    for target in BACKENDS:
        server.script(answer("replayed"))
        again = await drive(
            AGENT,
            "and once more",
            provider=providers(target),
            stream=stream,
            messages=result.messages,
        )
        assert again.output == "replayed"
    assert server.count() == len(BACKENDS)
    assert server.rejected == [], [a.problems for a in server.rejected]
    assert all(len(a.seen.results) == 2 for a in server.attempts)


async def test_a_bad_call_does_not_fail_its_parallel_siblings(
    server: FakeServer, providers: ProviderFactory
) -> None:
    calls.clear()
    server.script(
        tools(("add", '{"a": 2, "b": 3}'), ("add", "{oops"), ("nope", "{}"), ("add", "[]")),
        answer("done"),
    )
    result = await drive(AGENT, "go", provider=providers("anthropic"), stream=True)
    assert result.output == "done"
    assert calls == [(2, 3)]
    assert [r[1] for r in server.attempts[1].seen.results] == [False, True, True, True]
    assistant = result.messages[2]
    assert isinstance(assistant, AssistantMessage) and len(assistant.tool_calls) == 4
