"""Model backends: parse ``"backend:model"``, find the backend, build a provider.

The registry is explicit: built-in backends are known by name and their modules imported only
when first used (so ``import exo`` never imports a vendor SDK), and your own backends are added
with :func:`register_provider`. Nothing registers itself at import time.

Providers are cached per event loop and model string, so a thousand concurrent runs on one
model share one provider and one HTTP client. The cache entry dies with its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from exo.errors import AgentError, ConfigError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)

__all__ = [
    "BUILTIN_BACKENDS",
    "BackendInfo",
    "ModelChunk",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "Provider",
    "ProviderFactory",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolSpec",
    "get_provider",
    "known_backends",
    "parse_model",
    "register_provider",
    "unregister_provider",
]

ProviderFactory = Callable[[str], Provider]
"""Builds a provider for a model name (the part after ``backend:``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendInfo:
    """A built-in backend: where its factory lives and what it needs.

    Attributes:
        name: The backend prefix (``"openai"``).
        factory: ``"module:function"`` of its :data:`ProviderFactory`, imported on first use.
        env_vars: Environment variables it reads (the first one is its API key, if any).
        extra: The pip extra that installs what it needs (``exo-agents[openai]``).
        description: One line for ``exo models``.
        needs_key: Whether it is unusable without the first env var.
        default_base_url: For the OpenAI-compatible presets: the server they talk to when
            their ``{NAME}_BASE_URL`` is not set (``None`` for every other backend).
    """

    name: str
    factory: str
    env_vars: tuple[str, ...] = ()
    extra: str | None = None
    description: str = ""
    needs_key: bool = True
    default_base_url: str | None = None

    def configured(self) -> bool:
        """Whether this machine has what the backend needs (its API key, when it needs one)."""
        return not self.needs_key or bool(self.env_vars and os.environ.get(self.env_vars[0]))


def _compat(name: str, key: str, base_url: str, desc: str, needs_key: bool = True) -> BackendInfo:
    return BackendInfo(
        name=name,
        factory=f"exo.models.openai:{name.replace('-', '_')}_provider",
        env_vars=(key, f"{name.upper().replace('-', '_')}_BASE_URL"),
        extra="openai",
        description=f"{desc} (OpenAI-compatible, default {base_url})",
        needs_key=needs_key,
        default_base_url=base_url,
    )


BUILTIN_BACKENDS: dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo(
            name="openai",
            factory="exo.models.openai:openai_provider",
            env_vars=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
            extra="openai",
            description="OpenAI Chat Completions API",
        ),
        BackendInfo(
            name="openai-responses",
            factory="exo.models.openai_responses:openai_responses_provider",
            env_vars=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
            extra="openai",
            description="OpenAI Responses API",
        ),
        BackendInfo(
            name="anthropic",
            factory="exo.models.anthropic:anthropic_provider",
            env_vars=("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            extra="anthropic",
            description="Anthropic Messages API",
        ),
        _compat("ollama", "OLLAMA_API_KEY", "http://localhost:11434/v1", "Ollama", False),
        _compat("vllm", "VLLM_API_KEY", "http://localhost:8000/v1", "vLLM", False),
        _compat("lmstudio", "LMSTUDIO_API_KEY", "http://localhost:1234/v1", "LM Studio", False),
        _compat("openrouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", "OpenRouter"),
        _compat("deepseek", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1", "DeepSeek"),
        _compat("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1", "Groq"),
        _compat("together", "TOGETHER_API_KEY", "https://api.together.xyz/v1", "Together AI"),
        BackendInfo(
            name="local",
            factory="exo.models.local:local_provider",
            env_vars=("EXO_LOCAL_MODEL_PATH",),
            extra="local",
            description="GGUF model in process via llama-cpp-python (local:gemma-3-270m)",
            needs_key=False,
        ),
        BackendInfo(
            name="test",
            factory="exo.testing:test_provider",
            description="Offline test model (exo.testing.TestModel); no network",
            needs_key=False,
        ),
    )
}

_registered: dict[str, ProviderFactory] = {}
_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Provider]] = (
    weakref.WeakKeyDictionary()
)
_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


async def _close_at_loop_end(providers: dict[str, Provider]) -> AsyncGenerator[None, None]:
    """Close a loop's cached providers when the loop shuts down.

    An async generator parked at its ``yield`` is registered with its event loop, and
    ``asyncio.run`` (like ``loop.shutdown_asyncgens()``) closes it at the end: its ``finally``
    then closes the HTTP clients, with no task left running meanwhile, and drops the loop's
    entries from both maps. That last step matters: the generator holds its loop (its
    finalizer is a method of the loop), so while ``_closers`` keeps it, the weak key could
    never die and every ``run.sync`` call would leave its loop alive.
    """
    loop = asyncio.get_running_loop()
    try:
        yield
    finally:
        for provider in list(providers.values()):
            with contextlib.suppress(Exception):
                await provider.aclose()
        providers.clear()
        _cache.pop(loop, None)
        _closers.pop(loop, None)


def _loop_cache(loop: asyncio.AbstractEventLoop) -> dict[str, Provider]:
    providers = _cache.get(loop)
    if providers is None:
        _forget_closed_loops()
        providers = _cache[loop] = {}
        closer = _close_at_loop_end(providers)
        step = closer.__anext__()  # registers the generator with the running loop
        with contextlib.suppress(StopIteration):  # it stops at its yield
            step.send(None)
        _closers[loop] = closer
    return providers


def _forget_closed_loops() -> None:
    """Drop entries of loops closed without ``shutdown_asyncgens()`` (nothing else would)."""
    for loop in [lp for lp in _closers if lp.is_closed()]:
        _cache.pop(loop, None)
        _closers.pop(loop, None)


def parse_model(model: str) -> tuple[str, str]:
    """Split ``"backend:model"`` into its two parts.

    Raises:
        ConfigError: the string is not of that form.
    """
    if not isinstance(model, str):
        raise ConfigError(
            f"model must be a string like 'openai:gpt-4o', got {type(model).__name__}",
            parameter="model",
        )
    backend, sep, name = model.partition(":")
    backend = backend.strip()
    if not sep or not backend or not name.strip():
        raise ConfigError(
            f"model {model!r} is not of the form 'backend:model'",
            parameter="model",
            hint="write e.g. 'openai:gpt-4o', 'anthropic:claude-sonnet-4-6', 'local:gemma-3-270m'",
        )
    return backend, name.strip()


def known_backends() -> list[str]:
    """Names of every backend: built-in and registered."""
    return sorted(set(BUILTIN_BACKENDS) | set(_registered))


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``"name:model"`` strings resolve through ``factory(model)``.

    A registered name takes precedence over a built-in backend of the same name.
    """
    if not name or ":" in name:
        raise ConfigError(f"backend name {name!r} must be non-empty and contain no ':'")
    _registered[name] = factory
    for providers in _cache.values():
        for key in [k for k in providers if k.startswith(f"{name}:")]:
            del providers[key]


def unregister_provider(name: str) -> None:
    """Remove a backend added with :func:`register_provider` (no error if absent)."""
    _registered.pop(name, None)
    for providers in _cache.values():
        for key in [k for k in providers if k.startswith(f"{name}:")]:
            del providers[key]


def _factory(backend: str) -> ProviderFactory:
    if backend in _registered:
        return _registered[backend]
    info = BUILTIN_BACKENDS.get(backend)
    if info is None:
        raise AgentError(
            f"no backend {backend!r} (known: {', '.join(known_backends())})",
            hint="check the model string, or add your backend with exo.models.register_provider()",
        )
    module_name, _, attr = info.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = f"pip install 'exo-agents[{info.extra}]'" if info.extra else "reinstall exo-agents"
        raise AgentError(
            f"backend {backend!r} needs a package that is not installed ({exc.name or exc})",
            hint=extra,
        ) from exc
    factory: ProviderFactory = getattr(module, attr)
    return factory


def get_provider(model: str, *, cached: bool = True) -> Provider:
    """Return a provider for ``"backend:model"``.

    Inside a running event loop the provider is cached per loop and model string, so its HTTP
    client is shared, and closed when the loop shuts down (``asyncio.run`` does that); pass
    ``cached=False`` for a fresh one (yours to ``aclose()``).

    Raises:
        ConfigError: the string is malformed.
        AgentError: the backend is unknown or not installed.
        ModelError: the backend is not configured (its API key is missing).
    """
    backend, name = parse_model(model)
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if cached and loop is not None:
        hit = _loop_cache(loop).get(model)
        if hit is not None:
            return hit
    provider = _factory(backend)(name)
    if cached and loop is not None:
        _loop_cache(loop)[model] = provider
    return provider
