"""pydantic ``TypeAdapter``\\ s built on first use rather than at import.

Building an adapter walks its type and compiles a validator and a serializer: 5-25 ms each
for exo's transcripts, run state and results. Built at import, they cost every ``import
exo`` (and every ``exo --help``) that never serializes anything; built on first use, only
the programs that do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["lazy_adapter"]


class _LazyAdapter:
    """Stands for ``TypeAdapter(tp)``: builds it on the first attribute looked up."""

    __slots__ = ("_adapter", "_type")

    def __init__(self, tp: Any) -> None:
        self._type = tp
        self._adapter: Any = None

    def __getattr__(self, name: str) -> Any:
        # only names not found on this object come here: the adapter's own
        adapter = self._adapter
        if adapter is None:
            from pydantic import TypeAdapter

            adapter = self._adapter = TypeAdapter(self._type)
        return getattr(adapter, name)

    def __repr__(self) -> str:
        return f"lazy TypeAdapter({self._type!r})"


def lazy_adapter(tp: Any) -> Any:
    """A stand-in for ``TypeAdapter(tp)`` that builds the adapter on first use.

    Annotate the result with the adapter's type (``TypeAdapter[list[Message]]``): it
    answers every attribute the adapter has (``validate_json``, ``dump_python``, …).
    """
    return _LazyAdapter(tp)
