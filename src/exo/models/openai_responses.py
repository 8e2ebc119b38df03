"""OpenAI Responses API through the official SDK (``openai-responses:gpt-5``).

Stateless by design (``store: false``): each call sends the whole exo transcript as input
items (see ``_openai_responses_convert`` for the mapping and why), and the reasoning items of
reasoning models come back with their encrypted content so they can be carried, verbatim, to
the next turn of this backend (:class:`~exo.types.ReasoningBlock` with
``provider="openai-responses"``; other backends never receive them).

Like :class:`~exo.models.openai.OpenAIProvider`, the raw path (default) posts pre-serialized
JSON with ``AsyncOpenAI.post`` and parses the raw body; ``raw=False`` uses
``client.responses.create(...)`` and the SDK's models for whole responses, and for streams the
SDK's request with exo's event reader (the SDK's event models cost ~200 µs per event).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, Unpack

from exo.errors import ModelError
from exo.models._openai_common import (
    ClientOptions,
    OpenAIBase,
    ProviderOptions,
    errors,
)
from exo.models._openai_responses_convert import (
    BACKEND,
    is_reasoning_model,
    parse_response,
    reasoning_block,
    responses_body,
)
from exo.models._transport import sdk_stream
from exo.models._wire import (
    arguments,
    opt_obj,
    opt_str,
    required_items,
    sdk_dict,
    text,
)
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from exo.types import AssistantMessage, ReasoningBlock, ToolCall

__all__ = ["OpenAIResponsesProvider", "ProviderOptions", "openai_responses_provider"]

_PATH = "/responses"
_FINAL = frozenset({"response.completed", "response.incomplete"})
_REASONING_DELTAS = frozenset(
    {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
)

Delta = TextDelta | ReasoningDelta | ToolCallDelta


class OpenAIResponsesProvider(OpenAIBase):
    """A model behind the OpenAI Responses API.

    Args:
        model: The model name (``"gpt-5"``).
        encrypted_reasoning: Ask for ``reasoning.encrypted_content`` (needed to carry
            reasoning across turns). ``None`` (the default) asks for it on reasoning models
            only (o1, o3, o4, gpt-5, codex): other models reject it.
        **options: ``api_key``, ``base_url``, ``http_client``, ``client``, ``timeout``,
            ``raw``, ``extra_body`` and the rest of
            :class:`~exo.models._openai_common.ClientOptions`.

    Raises:
        ModelError: no API key was found (the message names the variable to set).
    """

    _path = _PATH

    def __init__(
        self,
        model: str,
        *,
        encrypted_reasoning: bool | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(model, backend=BACKEND, **options)
        self.encrypted_reasoning = encrypted_reasoning

    def _body(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        encrypted = self.encrypted_reasoning
        if encrypted is None:
            encrypted = is_reasoning_model(self._model)
        return responses_body(
            request,
            self._model,
            stream=stream,
            encrypted_reasoning=encrypted,
            extra=self.extra_body,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one Responses call and return the whole response."""
        watch = self._watch(request)
        body = self._body(request, stream=False)
        try:
            if self.raw:
                data: Mapping[str, Any] = self._json(await self._fetch(_PATH, body, watch))
            else:
                created = await watch.wait(
                    self._client.responses.create(**body, timeout=watch.timeout), idle=False
                )
                data = sdk_dict(created)
            return self._final(data)
        except ModelError as error:
            failure = error
        except errors() as exc:
            failure = self._error(exc)
        raise self._redact(failure)  # outside the except block: see OpenAIBase._error

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed call: text, reasoning and tool-call deltas, then the response."""
        return self._stream_raw(request) if self.raw else self._stream_sdk(request)

    def _error(self, exc: BaseException) -> ModelError:
        """As for every OpenAI backend, but a bare 404 says the server lacks this API."""
        error = super()._error(exc)
        if error.status == 404 and _not_openai_error(exc):
            missing = ModelError(
                f"the server at {self.base_url} has no {_PATH.lstrip('/')} endpoint: "
                "it does not implement the OpenAI Responses API",
                backend=self._backend,
                model=self._model,
                status=404,
                hint=f"use 'openai:{self._model}' (Chat Completions), which OpenAI-compatible "
                "servers implement, or check the base URL",
            )
            missing.__cause__, missing.__suppress_context__ = exc, True
            return missing
        return error

    def _final(self, data: Mapping[str, Any], *, whole: bool = True) -> ModelResponse:
        """The response ``data`` holds; a failed one is its error (WireError if malformed).

        ``whole``: ``data`` is a whole body, which must carry its ``output`` list to be a
        response at all; the final event of a stream may be bare (what streamed is kept).
        """
        if data.get("status") == "failed":
            raise self._event_error(data.get("error") or {"message": "the response failed"})
        if whole:
            required_items(data, "output", "the response's output")
        return parse_response(data, model=self._model)

    async def _stream_sdk(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        # The SDK builds and sends the request; its event models are skipped, as for Chat:
        # building one from the union of every event type costs ~200 us per event, and the
        # parser reads the event's JSON object either way.
        watch = self._watch(request)
        body = self._body(request, stream=True)
        failure: ModelError | None = None
        try:
            manager = self._client.responses.with_streaming_response.create(
                **body, timeout=watch.timeout
            )
            async with (
                sdk_stream(manager, watch) as http_response,
                aclosing(self._read_stream(http_response, watch)) as items,
            ):
                async for item in items:
                    yield item
        except ModelError as error:
            failure = error
        except errors() as exc:
            failure = self._error(exc)
        finally:
            watch.close()  # the stream's timer (Watch.read)
        if failure is not None:
            raise self._redact(failure)

    def _stream_state(self) -> _StreamState:
        return _StreamState(self)

    def _whole_answer(self, content: bytes) -> ModelResponse:
        return self._final(self._json(content))


def _not_openai_error(exc: BaseException) -> bool:
    """Whether a 404 came without an OpenAI error object (a route the server lacks), rather
    than with one (``model_not_found`` and the like)."""
    body = getattr(exc, "body", None)
    return not (isinstance(body, Mapping) and (body.get("code") or body.get("type")))


class _StreamState:
    """Turn Responses stream events into deltas; keep what the final response needs."""

    __slots__ = ("by_item", "calls", "final", "out", "provider", "reasoning", "text")

    def __init__(self, provider: OpenAIResponsesProvider) -> None:
        self.provider = provider
        self.out: list[Delta] = []
        self.by_item: dict[str, int] = {}  # function_call item id -> tool-call index
        self.calls: list[list[str]] = []  # [call_id, name, arguments...]
        self.text: list[str] = []
        self.reasoning: list[ReasoningBlock] = []
        self.final: ModelResponse | None = None

    def feed(self, name: str | None, data: bytes) -> None:
        """Consume one event (its name and data); its deltas go to :attr:`out`."""
        event = self.provider._json(data)
        if name == "error":  # whatever its data's type says
            raise self.provider._event_error(event.get("error") or event)
        self.handle(event)

    def handle(self, event: Mapping[str, Any]) -> None:
        """Consume one event (as a dict).

        Raises:
            WireError: a part of the event has the wrong type.
            ModelError: the event reports a failure.
        """
        kind = opt_str(event.get("type"))
        if kind == "response.output_text.delta":
            piece = text(event.get("delta"), "an output_text delta")
            self.text.append(piece)
            self.out.append(TextDelta(text=piece))
        elif kind == "response.function_call_arguments.delta":
            slot = self.by_item.get(opt_str(event.get("item_id")) or "")
            if slot is not None:
                piece = text(event.get("delta"), "a function call arguments delta")
                self.calls[slot].append(piece)
                self.out.append(ToolCallDelta(index=slot, arguments=piece))
        elif kind in _REASONING_DELTAS:
            self.out.append(ReasoningDelta(text=text(event.get("delta"), "a reasoning delta")))
        elif kind == "response.output_item.added":
            self._item_added(opt_obj(event.get("item"), "an added output item"))
        elif kind == "response.output_item.done":
            item = opt_obj(event.get("item"), "a finished output item")
            if item.get("type") == "reasoning":
                self.reasoning.append(reasoning_block(item))
        elif kind in _FINAL:
            self.final = self.provider._final(
                opt_obj(event.get("response"), "the response"), whole=False
            )
        elif kind == "response.failed":
            response = event.get("response")
            error = response.get("error") if isinstance(response, Mapping) else None
            raise self.provider._event_error(error or {"message": "failed"})
        elif kind == "error":
            raise self.provider._event_error(event.get("error") or event)

    def _item_added(self, item: Mapping[str, Any]) -> None:
        if item.get("type") != "function_call":
            return  # messages stream as text deltas; built-in tools ran on the server
        slot = len(self.calls)
        self.by_item[opt_str(item.get("id")) or f"#{slot}"] = slot
        call_id, name = opt_str(item.get("call_id")) or "", opt_str(item.get("name")) or ""
        given = item.get("arguments")
        pieces = arguments(given, "a function call's arguments") if given else ""
        self.calls.append([call_id, name, pieces])
        self.out.append(ToolCallDelta(index=slot, id=call_id, name=name, arguments=pieces))

    def result(self, done: bool = False) -> ModelResponse:
        """The final response, from ``response.completed`` (or what streamed, if it is bare);
        ``done`` (a ``[DONE]`` line) is not this API's end marker."""
        final = self.final
        if final is None:
            raise ModelError(
                "the stream ended before the response was complete",
                backend=BACKEND,
                model=self.provider.model,
                retryable=True,
            )
        message = final.message
        if message.content or message.tool_calls or not (self.text or self.calls):
            return final
        # a server that sent an empty output list in response.completed: keep what streamed
        calls = [ToolCall(id=c[0], name=c[1], arguments="".join(c[2:]) or "{}") for c in self.calls]
        return ModelResponse(
            message=AssistantMessage(
                content="".join(self.text), tool_calls=calls, reasoning=self.reasoning
            ),
            usage=final.usage,
            finish_reason="tool_calls" if calls else final.finish_reason,
            model=final.model,
            id=final.id,
        )


def openai_responses_provider(
    model: str, **options: Unpack[ProviderOptions]
) -> OpenAIResponsesProvider:
    """Build the ``openai-responses:`` provider (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``)."""
    return OpenAIResponsesProvider(model, **options)
