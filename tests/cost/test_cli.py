"""Cost on the command line: the usage line, ``--json`` and ``--max-cost`` /
``--max-tokens-total``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo._cli_render import usage_line
from exo.cli import app
from exo.models import unregister_provider
from exo.types import PlanResult, RunResult, Usage

# The real OpenAI adapter, registered as the "openai" backend, answered at the HTTP boundary.
# Every call reports 1,000 prompt and 100 completion tokens: $0.0035 on gpt-4o ($2.50 in,
# $10 out per MTok in genai-prices). With LOOP set it calls its tool forever.
AGENT_PY = '''
import json, os
import httpx2
from exo import Agent
from exo.models import register_provider
from exo.models.openai import OpenAIProvider

def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return "found"

def answer(request):
    body = json.loads(request.content)
    looping = os.environ.get("EXO_COST_TEST_LOOP") == "1"
    if looping:
        message = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1",
            "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    else:
        message = {"role": "assistant", "content": "the answer"}
    return httpx2.Response(200, json={"id": "x", "object": "chat.completion", "created": 1,
        "model": body["model"], "choices": [{"index": 0, "message": message,
        "finish_reason": "tool_calls" if looping else "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100}})

def factory(model):
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    return OpenAIProvider(model, api_key="sk-test", http_client=client)

register_provider("openai", factory)
agent = Agent(name="priced", model="openai:gpt-4o", tools=[lookup], max_steps=20)
'''


@pytest.fixture
def agent_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "priced.py"
    path.write_text(textwrap.dedent(AGENT_PY))
    yield path
    unregister_provider("openai")


def test_json_includes_the_cost(agent_file: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(agent_file), "task", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cost"]["total"] == "0.0035"
    assert data["cost"]["execute"] == "0.0035"
    assert data["calls"][0][0] == "openai:gpt-4o"


def test_the_usage_line_shows_the_cost(agent_file: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(agent_file), "task"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "the answer"
    assert "(1000 in, 100 out; 1 request, " in result.stderr
    assert "s) · cost $0.0035\n" in result.stderr


def test_max_tokens_total_stops_with_exit_code_5_and_shows_the_spend(
    agent_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXO_COST_TEST_LOOP", "1")
    args = ["run", str(agent_file), "task", "--max-tokens-total", "2500"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 5, result.output
    assert "reached max_tokens_total=2,500 (used 3,300 tokens)" in result.stderr
    assert "tokens: execute 3300 · total 3300 (3000 in, 300 out; 3 requests) · cost $0.0105" in (
        result.stderr
    )


def test_max_cost_stops_the_run(agent_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXO_COST_TEST_LOOP", "1")
    result = CliRunner().invoke(app, ["run", str(agent_file), "task", "--max-cost", "0.005"])
    assert result.exit_code == 5, result.output
    assert "reached max_cost=$0.005 (spent $0.0070)" in result.stderr


def test_a_max_cost_of_zero_is_a_usage_error(agent_file: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(agent_file), "task", "--max-cost", "0"])
    assert result.exit_code == 2, result.output
    assert "max_cost must be a finite amount in US dollars > 0" in result.stderr


def test_the_usage_line_names_what_could_not_be_priced() -> None:
    usage = Usage(requests=1, input_tokens=1_000, output_tokens=100)
    result = RunResult(
        output="",
        messages=[],
        usage=usage + usage,
        execute_usage=usage,
        plan=PlanResult(
            text="p",
            model="openai:gpt-4o",
            usage=usage,
            calls=[("openai:gpt-4o", usage)],
        ),
        calls=[("openai:my-tune", usage)],
    )
    assert usage_line(result).endswith(
        " · cost ≥ $0.0035 (plan $0.0035, execute unknown); no price for openai:my-tune"
    )
    assert result.cost.known == Decimal("0.0035")


def test_json_prints_the_partial_result_when_a_budget_stops_the_run(
    agent_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXO_COST_TEST_LOOP", "1")
    args = ["run", str(agent_file), "task", "--max-cost", "0.005", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 5, result.output
    data = json.loads(result.stdout)  # what was spent, for the script that asked for JSON
    assert data["cost"]["total"] == "0.0070" and data["usage"]["requests"] == 2
    assert "reached max_cost=$0.005 (spent $0.0070)" in result.stderr
