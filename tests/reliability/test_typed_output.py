"""Typed output (``Agent(output_type=...)``) on every backend, at the HTTP boundary.

Real providers (official SDKs inside) talk to the fake server: each request is checked the
way the real API checks it (an output format, a strict schema, a forced tool choice), and
the ``structured`` responder answers in the way the request asked: as text for a native
JSON format (Chat Completions ``response_format``, Responses ``text.format``), as a
``final_result`` tool call for the tool mode (Anthropic, OpenAI-compatible servers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from exo import Agent, OutputValidationError, run, tool
from exo.memory import InMemoryMemory
from exo.models.base import Provider
from exo.types import OutputEvent
from reliability.conftest import ProviderFactory
from reliability.fakeserver import Attempt, FakeServer, structured, tools

# Every way a backend asks: (backend, Chat Completions output mode).
MODES = [
    ("openai", "native"),
    ("openai", "tool"),
    ("openai-responses", None),
    ("anthropic", None),
]
MODE_IDS = ["chat-native", "chat-tool", "responses", "anthropic"]


class City(BaseModel):
    name: str
    population: int


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


@dataclass
class Point:
    x: int
    y: int


class Pair(TypedDict):
    left: str
    right: str


KINDS: list[tuple[str, Any, str, Any]] = [
    ("model", City, '{"name": "Lyon", "population": 513000}', City(name="Lyon", population=513000)),
    ("dataclass", Point, '{"x": 1, "y": 2}', Point(x=1, y=2)),
    ("typeddict", Pair, '{"left": "a", "right": "b"}', {"left": "a", "right": "b"}),
    (
        "list",
        list[City],
        '{"response": [{"name": "Nice", "population": 340000}]}',
        [City(name="Nice", population=340000)],
    ),
    (
        "dict",
        dict[str, Point],
        '{"home": {"x": 0, "y": 0}}',
        {"home": Point(x=0, y=0)},
    ),
    ("literal", Literal["yes", "no"], '{"response": "no"}', "no"),
    ("union", Cat | Dog, '{"response": {"kind": "dog", "good": true}}', Dog(kind="dog", good=True)),
]


def _provider(providers: ProviderFactory, backend: str, mode: str | None, raw: bool) -> Provider:
    return providers(backend, raw=raw, output_mode=mode)


def _names(body: dict[str, Any]) -> list[str]:
    return [t.get("name") or t["function"]["name"] for t in body.get("tools", [])]


def _assert_asked(attempt: Attempt, backend: str, mode: str | None, agent: Agent[Any]) -> None:
    """The exact request field each backend sends for a typed answer."""
    spec = agent.output
    assert spec is not None
    body, schema = attempt.body, spec.spec.schema
    name, strict = spec.spec.name, spec.spec.strict
    if backend == "openai" and mode == "native":
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": strict},
        }
        assert "final_result" not in _names(body)
    elif backend == "openai-responses":
        assert body["text"] == {
            "format": {"type": "json_schema", "name": name, "schema": schema, "strict": strict}
        }
    elif backend == "openai":
        assert "response_format" not in body
        tool_def = body["tools"][-1]
        assert tool_def["function"]["name"] == "final_result"
        assert tool_def["function"]["parameters"] == schema
        assert body["tool_choice"] == "required"
    else:
        tool_def = body["tools"][-1]
        assert (tool_def["name"], tool_def["input_schema"]) == ("final_result", schema)
        others = len(body["tools"]) > 1
        expected = {"type": "any"} if others else {"type": "tool", "name": "final_result"}
        assert body["tool_choice"] == expected
        said = "then give your final answer by calling the final_result tool" in attempt.seen.system
        assert said is others  # told in words only beside other tools


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize(("kind", "tp", "payload", "expected"), KINDS, ids=[k[0] for k in KINDS])
async def test_each_output_type_on_each_backend(
    server: FakeServer,
    providers: ProviderFactory,
    backend: str,
    mode: str | None,
    raw: bool,
    kind: str,
    tp: Any,
    payload: str,
    expected: Any,
) -> None:
    server.responder = structured(payload)
    agent: Agent[Any] = Agent(name="typed", output_type=tp)
    result = await run(agent, "go", provider=_provider(providers, backend, mode, raw))
    assert result.output == expected
    assert type(result.output) is type(expected)
    assert [a.problems for a in server.attempts] == [[]]
    _assert_asked(server.attempts[0], backend, mode, agent)


def test_strict_only_when_the_schema_allows_it() -> None:
    class Loose(BaseModel):
        name: str
        note: str = ""  # optional: not every property is required

    assert Agent(name="a", output_type=City).output.spec.strict is True  # type: ignore[union-attr]
    assert Agent(name="a", output_type=Loose).output.spec.strict is False  # type: ignore[union-attr]
    assert Agent(name="a", output_type=dict[str, int]).output.spec.strict is False  # type: ignore[union-attr]


async def test_a_loose_schema_goes_with_strict_false(
    server: FakeServer, providers: ProviderFactory
) -> None:
    class Loose(BaseModel):
        name: str
        note: str = ""

    server.responder = structured('{"name": "x"}')
    agent = Agent(name="a", output_type=Loose)
    result = await run(agent, "go", provider=_provider(providers, "openai", "native", True))
    assert result.output == Loose(name="x")
    assert server.attempts[0].body["response_format"]["json_schema"]["strict"] is False


@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
async def test_an_invalid_answer_is_sent_back_then_fixed(
    server: FakeServer, providers: ProviderFactory, backend: str, mode: str | None
) -> None:
    server.responder = structured(
        '{"name": "Lyon", "population": "many"}', '{"name": "Lyon", "population": 513000}'
    )
    agent = Agent(name="typed", output_type=City)
    result = await run(agent, "go", provider=_provider(providers, backend, mode, True))
    assert result.output == City(name="Lyon", population=513000)
    assert result.steps == 2
    assert [a.problems for a in server.attempts] == [[], []]
    second = server.attempts[1]
    if mode == "native" or backend == "openai-responses":
        feedback = json.dumps(second.body)  # a user message follows the answer
        assert "population: Input should be a valid integer" in feedback
        assert second.seen.results == []
    else:  # the error is the result of the final_result call
        [(text, _)] = second.seen.results
        assert text.startswith("Your answer does not match the required output format:")
        assert "population: Input should be a valid integer" in text
        assert "Call final_result again" in text


@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
async def test_output_validation_error_after_the_retries(
    server: FakeServer, providers: ProviderFactory, backend: str, mode: str | None
) -> None:
    server.responder = structured('{"name": 1}', '{"name": "Lyon"}', '{"never": "asked"}')
    agent = Agent(name="typed", output_type=City, output_retries=1)
    with pytest.raises(OutputValidationError) as info:
        await run(agent, "go", provider=_provider(providers, backend, mode, True))
    err = info.value
    # Anthropic sends a tool's input as a JSON object, so its text is the SDK's compact dump.
    assert err.raw == ('{"name":"Lyon"}' if backend == "anthropic" else '{"name": "Lyon"}')
    assert err.errors == ["population: Field required"]
    assert err.result.steps == 2
    assert err.result.usage.requests == 2
    assert server.count() == 2
    assert "after 1 correction(s)" in str(err)


@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
async def test_tools_run_before_the_typed_answer(
    server: FakeServer, providers: ProviderFactory, backend: str, mode: str | None
) -> None:
    seen: list[str] = []

    @tool
    def population(city: str) -> int:
        """Look up a city's population."""
        seen.append(city)
        return 513000

    server.responder = structured(
        tools(("population", '{"city": "Lyon"}')), '{"name": "Lyon", "population": 513000}'
    )
    agent = Agent(name="typed", output_type=City, tools=[population])
    result = await run(agent, "go", provider=_provider(providers, backend, mode, True))
    assert seen == ["Lyon"]
    assert result.output.population == 513000
    assert server.attempts[1].seen.results[0][0] == "513000"
    _assert_asked(server.attempts[0], backend, mode, agent)
    assert _names(server.attempts[0].body)[0] == "population"


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
async def test_stream_yields_the_output_as_it_grows(
    server: FakeServer, providers: ProviderFactory, backend: str, mode: str | None, raw: bool
) -> None:
    payload = (
        '{"response": [{"name": "Nice", "population": 340000}, {"name": "Lyon", "population": 1}]}'
    )
    server.responder = structured(payload)
    agent: Agent[list[City]] = Agent(name="typed", output_type=list[City])
    partials: list[Any] = []
    final = None
    async for event in run.stream(agent, "go", provider=_provider(providers, backend, mode, raw)):
        if isinstance(event, OutputEvent):
            partials.append(event.partial)
        elif event.type == "run_complete":
            final = event.result.output
    assert final == [City(name="Nice", population=340000), City(name="Lyon", population=1)]
    assert len(partials) >= 2  # it grows in pieces
    assert partials[-1] == final
    assert all(isinstance(p, list) for p in partials)
    assert len(partials[0]) <= len(partials[-1])


@pytest.mark.parametrize(("backend", "mode"), MODES, ids=MODE_IDS)
async def test_memory_keeps_the_json_the_model_sent(
    server: FakeServer, providers: ProviderFactory, backend: str, mode: str | None
) -> None:
    payload = '{"name":  "Lyon", "population": 513000}'  # odd spacing: kept as it was
    server.responder = structured(payload)
    memory = InMemoryMemory()
    agent = Agent(name="typed", output_type=City, memory=memory)
    provider = _provider(providers, backend, mode, True)
    await run(agent, "go", provider=provider, conversation_id="c1")
    saved = await memory.load("c1")
    answer = saved[1]
    assert answer.role == "assistant"
    sent = answer.tool_calls[0].arguments if answer.tool_calls else answer.content
    # Anthropic sends a tool's input as a JSON object: its text is the compact dump of it.
    assert sent == (
        json.dumps(json.loads(payload), separators=(",", ":"))
        if backend == "anthropic"
        else payload
    )
    # The saved turn is a valid transcript to continue from.
    server.responder = structured('{"name": "Nice", "population": 1}')
    again = await run(agent, "and another", provider=provider, conversation_id="c1")
    assert again.output.name == "Nice"
    assert server.attempts[-1].problems == []


async def test_an_openai_compatible_preset_uses_the_tool(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exo.models import get_provider

    monkeypatch.setenv("OLLAMA_BASE_URL", f"{server.url}/v1")
    provider = get_provider("ollama:llama3", cached=False)
    try:
        server.responder = structured('{"name": "Lyon", "population": 2}')
        agent = Agent(name="typed", output_type=City)
        result = await run(agent, "go", provider=provider)
    finally:
        await provider.aclose()
    assert result.output == City(name="Lyon", population=2)
    _assert_asked(server.attempts[0], "openai", "tool", agent)
