"""Fixtures of the reliability suite: one fake provider server, providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from exo.models.base import Provider
from reliability.clients import make_provider
from reliability.fakeserver import FakeServer

ProviderFactory = Callable[..., Provider]


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    """The fake server, started once for the session."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeServer) -> Iterator[FakeServer]:
    """The fake server, with a clean script and record for this test."""
    fake_server.reset()
    yield fake_server
    fake_server.settle()
    fake_server.reset()


@pytest.fixture
async def providers(server: FakeServer) -> AsyncIterator[ProviderFactory]:
    """Build real providers pointed at the fake server; all are closed after the test."""
    made: list[Provider] = []

    def build(backend: str, **options: Any) -> Provider:
        provider = make_provider(backend, server, **options)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()
