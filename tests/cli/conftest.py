"""Shared helpers for the ``exo`` command tests: agent files on the offline ``test:`` backend."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo.models import unregister_provider

TOOLS_PY = '''
def search(query: str) -> str:
    """Search the web.

    Args:
        query: What to look for.
    """
    return f"results for {query}"
'''

AGENT_PY = """
from exo import Agent
from agent_tools import search

agent = Agent(
    name="tester",
    model="test:exec",
    instructions="Be brief.",
    tools=[search],
    planning_enabled=True,
)

def make_agent():
    return agent.replace(name="made")

not_an_agent = 42
"""

BROKEN_PY = """
from exo import Agent
from exo.errors import ModelError
from exo.models import register_provider


class Broken:
    backend = "broken"
    model = "x"

    def _fail(self):
        return ModelError("upstream exploded", backend="broken", model="x", status=500)

    async def complete(self, request):
        raise self._fail()

    async def stream(self, request):
        raise self._fail()
        yield

    def with_model(self, model):
        return self

    async def aclose(self):
        pass


register_provider("broken", lambda name: Broken())
agent = Agent(name="b", model="broken:x")


def explode():
    raise RuntimeError("instructions went wrong")


crashing = Agent(name="c", model="test:x", instructions=explode)
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    """A directory with ``agent.py`` (planning agent on test:, one tool) and ``agent_tools.py``."""
    (tmp_path / "agent_tools.py").write_text(textwrap.dedent(TOOLS_PY))
    (tmp_path / "agent.py").write_text(textwrap.dedent(AGENT_PY))
    return tmp_path


@pytest.fixture
def broken_file(tmp_path: Path) -> Iterator[Path]:
    """``broken.py``: an agent whose (registered, test-only) backend always fails."""
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent(BROKEN_PY))
    yield path
    unregister_provider("broken")
