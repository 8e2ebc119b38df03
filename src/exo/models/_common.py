"""Small helpers every provider adapter shares."""

from __future__ import annotations

__all__ = ["transport_reason"]


def transport_reason(exc: BaseException) -> str:
    """Describe a transport failure by its innermost cause.

    SDK connection errors often wrap the real reason (a reset, a refused connection) and
    have empty text themselves; this walks ``__cause__`` to the bottom and names the type
    when the text is empty.
    """
    inner = exc
    seen = {id(inner)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    text = str(inner).strip()
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__
