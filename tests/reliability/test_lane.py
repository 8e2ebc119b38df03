"""exo's own HTTP lane (the raw path) sends what the official SDK sends: same URL, same headers.

The lane asks the SDK to build the request once and replays its URL and headers over exo's own
aiohttp session; these tests compare, at the HTTP boundary (the fake server), a raw-path call
with an SDK-path call (``raw=False``) of the same provider settings, per backend.
"""

from __future__ import annotations

import pytest

from exo.models.base import ModelRequest
from exo.types import UserMessage
from reliability.conftest import ProviderFactory
from reliability.fakeserver import FakeServer, answer, fail
from reliability.support import BACKENDS

# set per request by the SDK or the HTTP client; everything else must be identical
_PER_REQUEST = {"content-length", "x-stainless-retry-count", "x-stainless-read-timeout"}
_CLIENT_OWN = {"host", "accept-encoding", "connection"}


def _headers(server: FakeServer, index: int) -> dict[str, str]:
    headers = server.attempts[index].headers
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _PER_REQUEST | _CLIENT_OWN}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_raw_lane_sends_the_sdk_headers(
    backend: str, server: FakeServer, providers: ProviderFactory
) -> None:
    request = ModelRequest(messages=[UserMessage(content="hi")])
    server.script(answer("one"), answer("two"))
    raw = providers(backend, raw=True)
    sdk = providers(backend, raw=False)
    assert getattr(raw, "_lane", None) is not None  # the raw path goes through the lane
    assert (await raw.complete(request)).message.content == "one"
    assert (await sdk.complete(request)).message.content == "two"
    lane, official = _headers(server, 0), _headers(server, 1)
    assert lane == official
    assert server.attempts[0].key == server.attempts[1].key == "test-key"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_lane_status_error_is_the_sdk_error(
    backend: str, server: FakeServer, providers: ProviderFactory
) -> None:
    request = ModelRequest(messages=[UserMessage(content="hi")])
    server.script(fail(429, retry_after="7"), fail(429, retry_after="7"))
    errors = []
    for raw in (True, False):
        with pytest.raises(Exception) as caught:
            await providers(backend, raw=raw).complete(request)
        errors.append(caught.value)
    lane, official = errors
    assert type(lane) is type(official)
    assert (lane.status, lane.retryable, lane.retry_after) == (429, True, 7.0)  # type: ignore[attr-defined]
    assert (official.status, official.retryable, official.retry_after) == (429, True, 7.0)  # type: ignore[attr-defined]
    assert str(lane) == str(official)
