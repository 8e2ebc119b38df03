"""Fit any MCP server's tool names to the model APIs' rule: ``^[a-zA-Z0-9_-]{1,64}$``.

A name is prefixed (``prefix_name``) when the server has a prefix, then every character
outside the rule becomes ``_`` and a name longer than 64 is cut. Names that had to change
and then collide with another name get a suffix made from a hash of the server's own name,
so the result does not depend on the order the server lists its tools in.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

from exo.errors import ConfigError

__all__ = ["MAX_NAME", "tool_names"]

MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_-]")


def _fit(name: str) -> str:
    return (_BAD.sub("_", name) or "_")[:MAX_NAME]


def _suffixed(name: str, original: str) -> str:
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def tool_names(remote: Sequence[str], *, prefix: str | None, server: str) -> list[str]:
    """The names the model sees for ``remote`` (the server's names), in the same order.

    Raises:
        ConfigError: the server lists one name twice, or two names still collide.
    """
    full = [f"{prefix}_{n}" if prefix else n for n in remote]
    fitted = [_fit(n) for n in full]
    unchanged = {f for f, n in zip(fitted, full, strict=True) if f == n}
    seen = Counter(fitted)  # counted once: a server may list thousands of tools
    result: list[str] = []
    for original, name in zip(full, fitted, strict=True):
        collides = name != original and (name in unchanged or seen[name] > 1)
        result.append(_suffixed(name, original) if collides else name)
    if len(set(result)) != len(result):
        twice = sorted(n for n, k in Counter(result).items() if k > 1)
        raise ConfigError(
            f"MCP server {server!r} lists tools whose names collide: {', '.join(twice)}",
            parameter="tools",
            hint="the server must give each tool a name of its own",
        )
    return result
