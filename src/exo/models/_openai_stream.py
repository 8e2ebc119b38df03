"""The streamed call of the OpenAI backends (Chat Completions and Responses), both paths.

Each API brings a :class:`StreamState` (its events into deltas and the final response);
this module runs the call around it. On the raw path the whole call (POST, reading, errors)
is one generator, :func:`stream_raw`, with the read loop in its own frame: a delta crosses
no generator but this one (and the retry layer and the run loop above it). The SDK path
(``raw=False``) reads the SDK's HTTP response with :func:`read_stream`, the same loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Protocol

from exo.errors import ModelError
from exo.models import _openai_common as common  # a cycle: used at call time only
from exo.models._openai_sse import SSEReader
from exo.models._transport import Reply, Watch
from exo.models._wire import replay
from exo.models.base import ModelChunk, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from exo.models._openai_common import OpenAIBase

__all__ = ["StreamState", "read_stream", "stream_raw"]


class StreamState(Protocol):
    """What one API's stream reader keeps while its events arrive."""

    out: list[Any]
    """Deltas the last :meth:`feed` made, for the caller to pass on and clear."""

    def feed(self, name: str | None, data: bytes) -> None:
        """Consume one event (its ``event:`` name and its data)."""
        ...

    def result(self, done: bool) -> ModelResponse:
        """The final response; ``done``: the stream ended with ``[DONE]``."""
        ...


async def read_stream(
    provider: OpenAIBase, response: Reply, watch: Watch
) -> AsyncGenerator[ModelChunk, None]:
    """Read a streamed response: deltas as they come, then the whole response."""
    if provider._check_stream_type(response):
        # a server that ignored stream=true and answered in one piece
        for item in replay(provider._whole_answer(await provider._read(response, watch))):
            yield item
        return
    state = provider._stream_state()
    out = state.out
    reader = SSEReader(response, watch)
    try:
        while (events := await reader.next()) is not None:
            for name, data in events:
                state.feed(name, data)
                if out:
                    for delta in out:
                        yield delta
                    out.clear()
    finally:
        await reader.aclose()
    yield state.result(reader.done)


async def stream_raw(
    provider: OpenAIBase, request: ModelRequest
) -> AsyncGenerator[ModelChunk, None]:
    """A streamed call on the raw path: POST, then read the events (:func:`read_stream`'s
    loop, inlined), within one timer (:meth:`Watch.read`); every error leaves redacted."""
    watch = provider._watch(request)
    body = provider._body(request, stream=True)
    response: Reply | None = None
    failure: ModelError | None = None
    try:
        response = await watch.read(provider._send(provider._path, body, watch.timeout))
        if provider._check_stream_type(response):
            # a server that ignored stream=true and answered in one piece
            for item in replay(provider._whole_answer(await provider._read(response, watch))):
                yield item
        else:
            state = provider._stream_state()
            out = state.out
            reader = SSEReader(response, watch)
            try:
                while (events := await reader.next()) is not None:
                    for name, data in events:
                        state.feed(name, data)
                        if out:
                            for delta in out:
                                yield delta
                            out.clear()
            finally:
                await reader.aclose()
            yield state.result(reader.done)
    except ModelError as error:
        failure = error
    except common.errors() as exc:
        failure = provider._error(exc)
    finally:
        watch.close()
        if response is not None:
            await common.close_quietly(response)
    if failure is not None:
        raise provider._redact(failure)
