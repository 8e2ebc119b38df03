"""Message content only when opted in; API keys never; failures on the span that failed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from opentelemetry.trace import StatusCode

from exo import Agent, ModelError, RetryPolicy, run
from exo.models.base import Provider
from exo.tracing import CAPTURE_CONTENT_ENV
from reliability.fakeserver import FakeServer, fail
from tracing.conftest import Spans, attributes, no_sleep
from tracing.scenario import CHILD_TASKS, FINAL, PLAN, TASK, run_scenario

CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)


async def test_no_content_by_default(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    await run_scenario(server, providers("openai"), stream=True)
    keys = {k for s in spans.all for k in attributes(s)}
    assert not keys & CONTENT_KEYS
    dump = spans.dump()
    for text in (TASK, "EXEC", PLAN.splitlines()[0], FINAL, *CHILD_TASKS, "value of k", '"x"'):
        assert text not in dump, text


@pytest.mark.parametrize("how", ["env", "agent"])
async def test_content_when_opted_in(
    spans: Spans,
    server: FakeServer,
    providers: Callable[..., Provider],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    if how == "env":
        monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
        await run_scenario(server, providers("openai"), stream=True)
    else:
        await run_scenario(server, providers("openai"), stream=True, trace_content=True)
    root = attributes(spans.one("invoke_agent boss"))
    assert json.loads(root["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": TASK}]}
    ]
    assert json.loads(root["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": FINAL}],
            "finish_reason": "stop",
        }
    ]
    planner = attributes(spans.one("invoke_agent boss_planner"))
    assert json.loads(planner["gen_ai.output.messages"])[0]["parts"][0]["content"] == PLAN
    last_chat = attributes(spans.named("chat gpt-4o")[-1])
    sent = json.loads(last_chat["gen_ai.input.messages"])
    assert [m["role"] for m in sent] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
    ]
    assert sent[0]["parts"] == [{"type": "text", "content": "EXEC"}]
    assert PLAN in sent[1]["parts"][0]["content"]  # the plan as injected
    assert sent[2]["parts"][0] == {
        "type": "tool_call",
        "id": sent[3]["parts"][0]["id"],
        "name": "convert",
        "arguments": {"x": 2},
    }
    assert sent[4]["parts"][0]["result"] == "value of k"
    assert json.loads(last_chat["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": FINAL}],
            "finish_reason": "stop",
        }
    ]
    lookup = attributes(spans.one("execute_tool lookup"))
    assert lookup["gen_ai.tool.call.arguments"] == '{"key": "k"}'
    assert lookup["gen_ai.tool.call.result"] == "value of k"
    convert = spans.one("execute_tool convert")
    assert "gen_ai.tool.call.result" not in attributes(convert)  # only a successful result
    assert convert.status.description == "Error: tool 'convert' raised ValueError: cannot convert 2"
    child = attributes(spans.one("invoke_agent boss_child_1"))  # children follow the parent
    assert CHILD_TASKS[0] in child["gen_ai.input.messages"]


@pytest.mark.parametrize("capture", [False, True], ids=["default", "content"])
async def test_the_api_key_is_in_no_span(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider], capture: bool
) -> None:
    key = f"sk-exo-SENTINEL-{uuid.uuid4().hex}"
    provider = providers("openai", key=key)
    await run_scenario(server, provider, stream=True, trace_content=capture)
    assert server.attempts[-1].key == key  # the key was really sent
    # A server that quotes the key back in its error (a 401 with the full key).
    server.responder = None
    server.expected_key, server.echo_full_key = "another-key", True
    with pytest.raises(ModelError) as raised:
        await run(
            Agent(name="k", model="openai:gpt-4o", trace_content=capture), "hi", provider=provider
        )
    assert raised.value.status == 401
    failed = spans.named("chat gpt-4o")[-1]
    assert attributes(failed)["error.type"] == "401"
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exo.attempt_failed", "exception"]
    assert len(spans.all) == 15  # the scenario's 13 and this run's 2
    assert key not in spans.dump()
    assert key[-12:] not in spans.dump()


async def test_a_model_call_failing_past_its_retries(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    server.script(fail(503), fail(503), fail(503))
    agent = Agent(name="a", model="openai:gpt-4o")
    with pytest.raises(ModelError):
        await run(
            agent,
            "hi",
            provider=providers("openai"),
            retry=RetryPolicy(max_retries=2, sleep=no_sleep),
        )
    assert spans.tree() == [("invoke_agent a", [("chat gpt-4o", [])])]
    chat, root = spans.one("chat gpt-4o"), spans.one("invoke_agent a")
    attempts = [e for e in chat.events if e.name == "exo.attempt_failed"]
    assert [dict(e.attributes or {}) for e in attempts] == [
        {"exo.attempt": n, "error.type": "503"} for n in (1, 2, 3)
    ]
    assert attributes(chat)["exo.retries"] == 2
    for span in (chat, root):
        assert span.status.status_code is StatusCode.ERROR
        assert attributes(span)["error.type"] == "503"
        assert "HTTP 503" in (span.status.description or "")


async def test_captured_content_is_cut_and_encodable_so_the_exporter_keeps_it(
    spans: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from exo.testing import ScriptedModel, call
    from exo.tracing._content import MAX_PART_CHARS

    def read(name: str) -> str:
        """Read a document."""
        return "r" * 200_000

    agent = Agent(
        name="reader", model="test:m", tools=[read], trace_content=True, artifact_threshold=0
    )
    broken = "half an emoji: \ud83d"  # a lone surrogate, as a broken \\u escape decodes
    model = ScriptedModel([call("read", name="n" * 100_000), broken])
    result = await run(agent, "t" * 150_000, provider=model)
    assert result.text == broken
    values = [v for s in spans.all for v in attributes(s).values() if isinstance(v, str)]
    assert max(len(v) for v in values) < 4 * MAX_PART_CHARS  # not 200k, nor the sum of all
    dump = spans.dump()
    assert "[cut: 200,000 characters]" in dump and "[cut: 150,000 characters]" in dump
    for value in values:
        value.encode("utf-8")  # strict: what the OTLP encoder does
    with caplog.at_level("ERROR"):
        encoded = encode_spans(spans.all).SerializeToString()
    assert not [r for r in caplog.records if "Failed to encode" in r.getMessage()]
    assert b"half an emoji: \\\\ud83d" in encoded or b"half an emoji: \\ud83d" in encoded
