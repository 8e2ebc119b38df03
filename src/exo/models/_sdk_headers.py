"""The URL and headers the official SDKs send, prepared without importing them.

``import openai`` costs 0.3-0.5 s and 15-20 MB (its package imports every API's pydantic
types); ``import anthropic`` as much. exo's own lane (:mod:`exo.models._lane`) needs from the
SDK only the URL and the headers of one POST, and for the configuration exo builds (a static
key, a base URL, the SDK's defaults) those follow a few documented rules: the auth header,
``Accept`` and ``Content-Type``, ``User-Agent`` (``AsyncOpenAI/Python <version>``), the
``X-Stainless-*`` platform headers, ``OpenAI-Organization`` / ``OpenAI-Project`` from the
environment, ``anthropic-version``, the read timeout, and the HTTP client's own defaults.
This module applies them, reading the SDK's version and API version from its files (no
import). Anything it does not cover (custom-header environment variables, an admin key, a
platform other than Linux, macOS or Windows, an SDK whose files it cannot read) returns
``None``, and the lane then asks the SDK itself, as before.

The SDK stays the source of truth: ``tests/models/test_sdk_headers.py`` compares, per
backend, what this module prepares with what the SDK's own request builder produces for the
same configuration, so an SDK upgrade that changes a header fails that test.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import httpx2
from httpx2._client import ACCEPT_ENCODING

__all__ = ["LazyClient", "Recipe", "anthropic_recipe", "loaded_sdk", "openai_recipe"]

_OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
_ANTHROPIC_DEFAULT_URL = "https://api.anthropic.com"
# environment variables that add headers or change auth in a way only the SDK applies
_OPENAI_ENV_SDK_ONLY = ("OPENAI_CUSTOM_HEADERS", "OPENAI_ADMIN_KEY")
_ANTHROPIC_ENV_SDK_ONLY = ("ANTHROPIC_CUSTOM_HEADERS",)


class _NoSDKError(Exception):
    """Stands for an SDK's error classes while it is not imported (never raised)."""


class _NoSDK:
    """An SDK's error classes while it is not imported: until then nothing can raise them,
    so ``isinstance`` against these is false, as it must be."""

    AnthropicError = OpenAIError = APIError = _NoSDKError
    APIStatusError = APITimeoutError = APIConnectionError = _NoSDKError


def loaded_sdk(name: str) -> Any:
    """The SDK package ``name`` if it is imported, else stand-ins for its error classes."""
    return sys.modules.get(name) or _NoSDK


class LazyClient:
    """A provider's SDK client, built (and its SDK imported) on first use.

    Shared by the copies :meth:`with_model` makes, so that they build one client between
    them and :meth:`aclose` closes it.

    Args:
        build: Builds the client.
        client: A client already built (then ``build`` is never called).
    """

    __slots__ = ("_build", "_client")

    def __init__(self, build: Callable[[], Any] | None = None, client: Any = None) -> None:
        self._build = build
        self._client = client

    def get(self) -> Any:
        """The client, built now if it was not yet."""
        if self._client is None:
            assert self._build is not None
            self._client = self._build()
        return self._client

    @property
    def built(self) -> Any:
        """The client if it was built, else ``None``."""
        return self._client


class Recipe(NamedTuple):
    """How to address one provider: its base URL (with the trailing slash the SDK enforces)
    and the headers every request carries (per-request ones excluded)."""

    base_url: httpx2.URL
    headers: dict[str, str]

    def url(self, path: str) -> str:
        """``path`` joined to the base URL as the SDK joins it (``_prepare_url``)."""
        base = self.base_url
        return str(base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii")))


def base_url(url: str | None, default: str) -> httpx2.URL:
    """The SDK's base URL for ``url`` (else ``default``): a trailing slash on its path."""
    parsed = httpx2.URL(url or default)
    path, separator, query = parsed.raw_path.partition(b"?")
    if path.endswith(b"/"):
        return parsed
    return parsed.copy_with(raw_path=path + b"/" + separator + query)


@cache
def _sdk_file_value(package: str, file: str, name: str) -> str | None:
    """A string constant assigned in one of ``package``'s files, read without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations)), file)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf'^{name}\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else None


def _os_name() -> str | None:
    """``X-Stainless-OS`` for the common platforms; ``None`` (ask the SDK) for the rest."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    if system == "linux":
        android = hasattr(sys, "getandroidapilevel") or "android" in platform.release().lower()
        return None if android else "Linux"
    if system == "darwin":
        return None if machine.startswith(("iphone", "ipad")) else "MacOS"
    return "Windows" if system == "windows" else None


def _arch() -> str:
    """``X-Stainless-Arch``, as both SDKs compute it."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine in ("arm", "x86_64"):
        return "arm" if machine == "arm" else "x64"
    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


def _async_library() -> str:
    try:
        import sniffio

        return sniffio.current_async_library()
    except Exception:  # the SDKs say "false" when no async library is found
        return "false"


def _common(client: str, version: str, timeout: float) -> dict[str, str] | None:
    """The headers both SDKs send: the HTTP client's, then the SDK's defaults."""
    os_name = _os_name()
    if os_name is None:
        return None
    return {
        "accept-encoding": ACCEPT_ENCODING,
        "connection": "keep-alive",
        "accept": "application/json",
        "content-type": "application/json",
        "user-agent": f"{client}/Python {version}",
        "x-stainless-lang": "python",
        "x-stainless-package-version": version,
        "x-stainless-os": os_name,
        "x-stainless-arch": _arch(),
        "x-stainless-runtime": platform.python_implementation(),
        "x-stainless-runtime-version": platform.python_version(),
        "x-stainless-async": f"async:{_async_library()}",
        "x-stainless-read-timeout": str(timeout),
    }


def _with_host(url: httpx2.URL, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with ``host`` first, as the HTTP client adds it."""
    return {"host": httpx2.Request("POST", url).headers["host"], **headers}


def openai_recipe(
    *, api_key: str, base_url_: str | None, isolated: bool, timeout: float
) -> Recipe | None:
    """What ``openai.AsyncOpenAI(api_key=, base_url=, timeout=)`` sends, or ``None``.

    Args:
        api_key: The key (``Authorization: Bearer``; none when empty).
        base_url_: The base URL exo passes (``None``: ``OPENAI_BASE_URL``, else OpenAI's).
        isolated: The presets' setting: no ``OpenAI-Organization`` / ``OpenAI-Project``.
        timeout: The client's timeout in seconds (``x-stainless-read-timeout``).
    """
    version = _sdk_file_value("openai", "_version.py", "__version__")
    if version is None or any(name in os.environ for name in _OPENAI_ENV_SDK_ONLY):
        return None
    common = _common("AsyncOpenAI", version, timeout)
    if common is None:
        return None
    url = base_url(base_url_ or os.environ.get("OPENAI_BASE_URL"), _OPENAI_DEFAULT_URL)
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    headers.update(common)
    if not isolated:
        for name, env in (
            ("openai-organization", "OPENAI_ORG_ID"),
            ("openai-project", "OPENAI_PROJECT_ID"),
        ):
            value = os.environ.get(env)
            if value is not None:
                headers[name] = value
    return Recipe(url, _with_host(url, headers))


def anthropic_recipe(*, api_key: str, base_url_: str | None, timeout: float) -> Recipe | None:
    """What ``anthropic.AsyncAnthropic(api_key=, base_url=, timeout=)`` sends, or ``None``."""
    version = _sdk_file_value("anthropic", "_version.py", "__version__")
    api_version = _sdk_file_value("anthropic", "_constants.py", "ANTHROPIC_API_VERSION")
    if version is None or api_version is None:
        return None
    if any(name in os.environ for name in _ANTHROPIC_ENV_SDK_ONLY):
        return None
    common = _common("AsyncAnthropic", version, timeout)
    if common is None:
        return None
    url = base_url(base_url_ or os.environ.get("ANTHROPIC_BASE_URL"), _ANTHROPIC_DEFAULT_URL)
    headers = {"x-stainless-timeout": str(timeout), **common}
    headers["authorization"] = f"Bearer {api_key}"
    headers["anthropic-version"] = api_version
    return Recipe(url, _with_host(url, headers))
