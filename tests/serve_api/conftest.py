"""One loopback server per test module, serving offline agents through the wire routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.serve_api.support import (
    BACKEND,
    Blocker,
    ReasoningModel,
    Server,
    get_weather,
    weather_reply,
)

import exo.serve
from exo import Agent, Runner
from exo.errors import ModelError
from exo.models import register_provider, unregister_provider
from exo.models.base import Provider
from exo.testing import FunctionModel, ScriptedModel, call


@dataclass
class Served:
    """The running server and what it serves."""

    server: Server
    hub: Any  # exo.serve._hub.Hub
    models: dict[str, Any]
    blocker: Blocker

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    blocker = Blocker()
    models: dict[str, Any] = {
        "weather": FunctionModel(weather_reply, model="weather"),
        "thinker": ReasoningModel(weather_reply, model="thinker"),
        "blocker": FunctionModel(lambda messages, info: call("wait_forever"), model="blocker"),
        "broken": ScriptedModel(
            [RuntimeError("upstream said no to key sk-test-SECRET0123456789")] * 50,
            model="broken",
        ),
        "refuser": ScriptedModel(
            [ModelError("the provider is down", backend=BACKEND, model="refuser")] * 50,
            model="refuser",
        ),
    }

    def provider(model: str) -> Provider:
        found: Provider = models[model]
        return found

    register_provider(BACKEND, provider)
    agents: dict[str, Agent[Any]] = {
        "weather": Agent(
            name="weather",
            model=f"{BACKEND}:weather",
            instructions="You report the weather.",
            tools=[get_weather],
            planning_enabled=True,
        ),
        "thinker": Agent(name="thinker", model=f"{BACKEND}:thinker", tools=[get_weather]),
        "blocker": Agent(name="blocker", model=f"{BACKEND}:blocker", tools=[blocker.wait_forever]),
        "approver": Agent(
            name="approver",
            model=f"{BACKEND}:weather",
            tools=[get_weather],
            approve_tools=["get_weather"],
        ),
        "broken": Agent(name="broken", model=f"{BACKEND}:broken", max_retries=0),
        "refuser": Agent(name="refuser", model=f"{BACKEND}:refuser", max_retries=0),
    }
    # The real app (exo.serve.app: guard, error handlers, run store), not the routes alone,
    # so the wire formats are tested as `exo serve` serves them.
    database = tmp_path_factory.mktemp("serve_api") / "exo.db"
    application = exo.serve.app(
        list(agents.values()), database_url=str(database), runner=Runner(tool_threads=4)
    )
    hub = application.state.hub
    try:
        with Server(application) as server:
            yield Served(server=server, hub=hub, models=models, blocker=blocker)
    finally:
        unregister_provider(BACKEND)
