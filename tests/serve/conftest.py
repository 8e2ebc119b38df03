"""Fixtures: a real server on loopback, with and without a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exo.serve import app
from serve.harness import GATE, Server, agents

TOKEN = "test-token-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``exo serve`` with a token, its database in a temporary directory."""
    GATE.clear()
    running = Server(app(agents(), token=TOKEN, database_url=str(tmp_path / "exo.db")))
    try:
        yield running
    finally:
        GATE.set()
        running.stop()


@pytest.fixture
def auth() -> dict[str, str]:
    """The header that authenticates API requests."""
    return {"Authorization": f"Bearer {TOKEN}"}
