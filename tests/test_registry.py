"""The backend registry: model strings, lazy backends, per-loop provider cache."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from exo import Agent, AgentError, ConfigError, run
from exo.models import (
    get_provider,
    known_backends,
    parse_model,
    register_provider,
    unregister_provider,
)
from exo.testing import ScriptedModel


class Closing(ScriptedModel):
    instances: ClassVar[list[Closing]] = []

    def __init__(self, model: str) -> None:
        super().__init__(["ok"] * 10, model=model)
        self.closed = 0
        Closing.instances.append(self)

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
def closing_backend() -> object:
    Closing.instances.clear()
    register_provider("closing", Closing)
    yield
    unregister_provider("closing")


def test_parse_model() -> None:
    assert parse_model("openai:gpt-4o") == ("openai", "gpt-4o")
    assert parse_model("local:/models/a:b.gguf") == ("local", "/models/a:b.gguf")
    with pytest.raises(ConfigError):
        parse_model("gpt-4o")


def test_known_backends_are_listed_without_importing_them() -> None:
    import sys

    names = known_backends()
    assert {"openai", "anthropic", "openai-responses", "ollama", "local", "test"} <= set(names)
    before = set(sys.modules)
    known_backends()
    assert set(sys.modules) == before


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(AgentError, match=r"no backend 'nope' \(known: anthropic, .*\)"):
        get_provider("nope:x")


def test_missing_key_is_reported_at_run_time_naming_the_variable() -> None:
    agent = Agent(name="a", model="openai:gpt-4o")  # construction needs no key
    with pytest.raises(AgentError, match="OPENAI_API_KEY"):
        run.sync(agent, "hi")


def test_providers_are_shared_within_a_loop_and_closed_with_it(closing_backend: object) -> None:
    agent = Agent(name="a", model="closing:m")

    async def two_runs() -> None:
        await asyncio.gather(run(agent, "1"), run(agent, "2"))

    asyncio.run(two_runs())
    assert len(Closing.instances) == 1  # one provider for both runs of the loop
    assert Closing.instances[0].closed == 1  # closed when asyncio.run shut the loop down
    run.sync(agent, "3")
    assert len(Closing.instances) == 2 and Closing.instances[1].closed == 1


async def test_no_task_is_left_for_the_cache(closing_backend: object) -> None:
    before = asyncio.all_tasks()
    await run(Agent(name="a", model="closing:m"), "x")
    assert asyncio.all_tasks() == before


def test_register_provider_rejects_bad_names() -> None:
    with pytest.raises(ConfigError):
        register_provider("a:b", Closing)
