"""The five spec examples in examples/ run end to end (here on the offline test model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from exo import run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("EXO_MODEL", "test:offline")
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["researcher", "coder", "analyst", "writer_stream", "coordinator"])
async def test_example_plans_then_executes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = load(name, monkeypatch).agent
    assert agent.planning_enabled
    result = await run(agent, "Do the example task")
    assert result.plan is not None and result.plan.text
    assert result.plan.model == "test:offline"
    assert result.output
    first_user = result.messages[1] if agent.instructions else result.messages[0]
    assert "Planner output:\n" + result.plan.text in str(first_user.content)
    assert result.usage.requests == result.plan.steps + result.steps
