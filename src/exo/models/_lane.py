"""exo's own HTTP lane to a provider: one long-lived ``aiohttp.ClientSession``, URL and headers
built once, as the official SDK builds them.

Going through ``AsyncOpenAI.post`` / ``AsyncAnthropic.post`` costs several hundred µs of CPU
per call (options models, URL merging, header building, the auth hook, the httpx-to-aiohttp
shim), far more than exo's own work. The SDK stays the source of truth for what it is good
at: the lane asks the SDK client to build one request for the path (its ``_build_request``,
so the URL, auth, default headers, organisation/project and custom headers are exactly what
the SDK would send), keeps that URL and those headers, and posts every call's body over its
own session with them. A non-2xx answer becomes the SDK's own exception (its
``_make_status_error_from_response``), so the error mapping downstream sees what it always
saw; the response is handed on as an ``httpx2.Response`` so that the readers, the size caps
(:func:`~exo.models._transport.guard`) and the deadlines (:class:`~exo.models._transport.Watch`)
are the same code as on the SDK path.

The lane is used only when exo builds the SDK client itself with a static key and no
``http_client=``: a client handed in, a mock transport, a token provider or custom auth keep
the SDK's own path (see :func:`eligible`). In that case the provider need not import the SDK
at all: it hands the lane a :class:`~exo.models._sdk_headers.Recipe` (the SDK's URL and
headers, prepared without it) and a function that builds the SDK client, which the lane calls
only when it needs the SDK (an error status, to raise the SDK's own exception; a
configuration the recipe does not cover, to build the request).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx2

from exo.models import _transport
from exo.models._sdk_headers import Recipe
from exo.models._transport import Guarded, Reply, ResponseTooLarge, guard

try:
    import aiohttp
except ImportError:  # pragma: no cover - aiohttp is optional: the SDK's own path then
    aiohttp = None  # type: ignore[assignment]

__all__ = ["Lane", "LaneReply", "eligible", "make_lane"]

_LOG = logging.getLogger("exo.models.lane")

_PER_REQUEST = frozenset({"content-length", "x-stainless-retry-count"})
"""Headers the SDK computes per request; the lane sets its own (the body's length, no retry)."""

_DYNAMIC_AUTH = ("_provider_runtime", "_api_key_provider", "workload_identity", "_token_cache")
"""SDK client attributes that, when set, make auth change per request: no lane then."""


def eligible(client: Any) -> bool:
    """Whether ``client``'s requests can be prepared once and replayed (static auth only)."""
    if getattr(client, "custom_auth", None) is not None:
        return False
    return all(getattr(client, name, None) is None for name in _DYNAMIC_AUTH)


def make_lane(client: Any) -> Lane | None:
    """A lane for ``client`` when aiohttp is installed and its auth is static, else ``None``."""
    return Lane(lambda: client) if aiohttp is not None and eligible(client) else None


def lazy_lane(sdk_client: Callable[[], Any], recipe: Recipe | None) -> Lane | None:
    """A lane for a client exo builds with a static key, when aiohttp is installed.

    Args:
        sdk_client: Builds (once) and returns the SDK client; called only when the SDK is
            needed.
        recipe: The SDK's URL and headers prepared without it (``None``: ask the SDK).
    """
    return Lane(sdk_client, recipe=recipe) if aiohttp is not None else None


def _as_httpx(exc: Exception) -> httpx2.HTTPError:
    """The httpx2 error for an aiohttp one, as the SDK's aiohttp transport maps them, so that
    every backend's error mapping sees the same failures on both paths."""
    message = str(exc)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx2.ProxyError(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(message)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx2.ReadTimeout(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx2.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        return httpx2.ReadError(message)
    return httpx2.RemoteProtocolError(message)  # a reply that is not valid HTTP


class _Prepared(NamedTuple):
    url: str
    headers: dict[str, str]
    request: httpx2.Request  # for the SDK's exceptions, which carry one
    proxy: str | None
    per_call: dict[str, str] | None
    """The headers passed with each call: none, as they are the session's own defaults
    (aiohttp merges them without copying and checking each one per call), unless a proxy is
    in the way (aiohttp would also send a session's defaults to the proxy, the key as a
    ``Proxy-Authorization``)."""


def _env_proxy(url: str) -> str | None:
    """The proxy URL the environment sets for ``url`` (with its credentials), if any."""
    from urllib.request import getproxies, proxy_bypass

    parsed = httpx2.URL(url)
    if proxy_bypass(parsed.host):
        return None
    return getproxies().get(parsed.scheme)


class _Body(httpx2.AsyncByteStream):
    """An aiohttp response body as an httpx2 byte stream (an iterator: nothing is left
    suspended when a read is cancelled)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.content.readany()
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc) from exc
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection (body read to the end) or close it; never waits."""
        response = self._response
        if response.content.at_eof():
            response.release()  # read to the end: the connection goes back to the pool
        else:
            response.close()  # unread bytes would poison the next request on it


_PLAIN = frozenset({"", "identity"})
_BOM = b"\xef\xbb\xbf"


def _too_large() -> ResponseTooLarge:
    """What :class:`~exo.models._transport.Guarded` raises past the body cap, word for word."""
    return ResponseTooLarge(
        f"the response is larger than {_transport.MAX_BODY_BYTES // 2**20} MiB; reading stopped"
    )


class LaneReply:
    """A 2xx answer read straight from aiohttp, under the size caps.

    What the readers need of an ``httpx2.Response`` (headers, the body in chunks or whole,
    ``aclose``) without building one: its header copy and its decoder and chunker
    generators cost ~18 µs per call. Only for a body sent as is (no ``Content-Encoding``):
    a compressed one goes through ``httpx2.Response``, whose decoders it needs.
    """

    __slots__ = ("_body", "_lines", "_raw", "_stream", "headers", "status_code")

    def __init__(self, raw: aiohttp.ClientResponse) -> None:
        self._raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self._lines = "event-stream" in raw.headers.get("Content-Type", "")
        self._body = _Body(raw)
        self._stream = Guarded(self._body, lines=self._lines)

    def aiter_bytes(self) -> Guarded:
        """The body's chunks as they arrive (size caps on, a leading BOM dropped)."""
        return self._stream.__aiter__()

    async def aread(self) -> bytes:
        """The whole body; the connection goes back to the pool (or is closed on failure)."""
        if self._lines:  # an event stream answered whole: its line cap too
            try:
                chunks = [chunk async for chunk in self._stream]
            finally:
                self._body.close()
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # a JSON body: read straight from aiohttp (no iterator layers per chunk), under the
        # same size cap, its BOM dropped as Guarded drops it
        content = self._raw.content
        chunks = []
        total = 0
        try:
            while chunk := await content.readany():
                total += len(chunk)
                if total > _transport.MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc) from exc
        finally:
            self._body.close()
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return data[len(_BOM) :] if data.startswith(_BOM) else data

    async def aclose(self) -> None:
        """Release the connection (read to the end) or close it (unread bytes left)."""
        self._body.close()

    def close(self) -> None:
        """:meth:`aclose` without awaiting: it never has to wait (no shield needed)."""
        self._body.close()


class Lane:
    """POSTs to one SDK client's endpoints over exo's own aiohttp session.

    Args:
        sdk_client: Returns the SDK client (``openai.AsyncOpenAI`` or
            ``anthropic.AsyncAnthropic``), built on the first call.
        recipe: The SDK's URL and headers, prepared without importing it; without one the
            lane asks the SDK client to build them.
    """

    def __init__(self, sdk_client: Callable[[], Any], *, recipe: Recipe | None = None) -> None:
        self._sdk_client = sdk_client
        self._recipe = recipe
        self._prepared: dict[str, _Prepared] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}  # per path: its own headers
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _prepare(self, path: str) -> _Prepared:
        """The URL and headers the SDK would send to ``path`` (built once)."""
        recipe = self._recipe
        if recipe is not None:
            url = recipe.url(path)
            headers = dict(recipe.headers)
        else:
            url, headers = await self._sdk_prepare(path)
        headers["x-stainless-retry-count"] = "0"
        # the proxy the environment names (HTTP(S)_PROXY, NO_PROXY), as the SDK's transport
        # would use; looked up once here: aiohttp's trust_env does it in a thread per request
        proxy = await asyncio.to_thread(_env_proxy, url)
        per_call = None if proxy is None else headers
        prepared = _Prepared(url, headers, httpx2.Request("POST", url), proxy, per_call)
        self._prepared[path] = prepared
        # the URL and where its headers came from, never the headers (they carry the key)
        source = "prepared without the SDK" if recipe is not None else "built by the SDK"
        _LOG.debug("lane: POST %s, headers %s, proxy %s", url, source, bool(proxy))
        return prepared

    async def _sdk_prepare(self, path: str) -> tuple[str, dict[str, str]]:
        """The URL and headers of a POST to ``path``, as the SDK client builds them."""
        client = self._sdk_client()
        # the SDK's own options type (openai._models or anthropic._models)
        sdk = importlib.import_module(f"{type(client).__module__.partition('.')[0]}._models")
        options = sdk.FinalRequestOptions.construct(
            method="post", url=path, content=b"", timeout=client.timeout
        )
        options = await client._prepare_options(options)
        request: httpx2.Request = client._build_request(options, retries_taken=0)
        await client._prepare_request(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _PER_REQUEST}
        return str(request.url), headers

    def _session_here(self, path: str, prepared: _Prepared) -> aiohttp.ClientSession:
        """The session for ``path`` in the running event loop (a provider may outlive a
        loop: tests), whose default headers are the path's (unless a proxy is in the way)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._sessions, self._loop = {}, loop
        session = self._sessions.get(path)
        if session is None or session.closed:
            # decompression left to httpx2 (the headers it sees say what the body is), no
            # aiohttp timeout (exo's Watch owns the deadlines), proxies as _prepare found
            # them (trust_env would look them up again in a thread on every request)
            session = self._sessions[path] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
                headers=prepared.headers if prepared.per_call is None else None,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return session

    async def post(self, path: str, body: bytes) -> Reply:
        """POST ``body`` (JSON bytes) to ``path``; return the unread response (2xx only),
        its body under the size caps (:func:`~exo.models._transport.guard`).

        Raises:
            openai.APIStatusError | anthropic.APIStatusError: a non-2xx status, as the SDK
                raises it (its own class for the status, the parsed error body).
            aiohttp.ClientError: the connection failed.
        """
        prepared = self._prepared.get(path) or await self._prepare(path)
        url, _, request, proxy, headers = prepared
        try:
            raw = await self._session_here(path, prepared).post(
                url, data=body, headers=headers, proxy=proxy
            )
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc) from exc
        if raw.status < 300 and raw.headers.get("Content-Encoding", "") in _PLAIN:
            return LaneReply(raw)
        # an error (the SDK's exception carries an httpx2 response), or a compressed body
        response = guard(
            httpx2.Response(raw.status, headers=raw.raw_headers, stream=_Body(raw), request=request)
        )
        if raw.status >= 300:
            try:
                await response.aread()  # under the size caps, as every body
            finally:
                await response.aclose()
            raise self._sdk_client()._make_status_error_from_response(response)
        return response

    async def aclose(self) -> None:
        """Close the sessions (when their event loop still runs)."""
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            if not session.closed:
                with contextlib.suppress(RuntimeError):  # the loop that owned it is gone
                    await session.close()
