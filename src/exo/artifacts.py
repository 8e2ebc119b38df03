"""Artifacts: large tool results parked outside the transcript, read back in pages.

A tool result longer than ``Agent.artifact_threshold`` characters, or any result of a tool
marked ``@tool(large_output=True)``, is stored in the run's
:class:`~exo.context.Context` (``context.artifacts``) and replaced in the transcript by a
short pointer: the artifact id, its size and a preview. From the first parked artifact on,
the run offers the model ``retrieve_artifact(artifact_id, offset, length)`` to read it in
pages. Results with images or documents are never cut.

The planner shares the run's context (so it sees the same store) but never gets
``retrieve_artifact``: built-in tools are added to the executor only.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from exo.errors import ToolError
from exo.tools import Tool, ToolContext
from exo.types import TextBlock, ToolResult

if TYPE_CHECKING:
    from exo._loop import LoopDeps
    from exo._state import RunState
    from exo.context import Context

__all__ = [
    "DEFAULT_PAGE",
    "READERS",
    "RETRIEVE_TOOL",
    "Artifact",
    "ArtifactParker",
    "ArtifactStore",
    "enable_artifacts",
    "page_text",
    "retrieve_tool",
]

RETRIEVE_TOOL = "retrieve_artifact"
"""The name of the built-in tool that reads artifacts."""

DEFAULT_PAGE = 8_000
"""Characters ``retrieve_artifact`` returns when the model does not say."""

READERS = frozenset({RETRIEVE_TOOL, "read_note"})
"""Tools whose (already paged) results are never parked again."""

_PREVIEW = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """One parked tool result.

    Attributes:
        id: Short unique id within its store (``art_1``, ``art_2``, …).
        content: The full text.
        tool_name: The tool that produced it.
        tool_call_id: The call that produced it.
        agent_name: The agent whose tool call produced it.
    """

    id: str
    content: str
    tool_name: str = ""
    tool_call_id: str = ""
    agent_name: str = ""

    @property
    def size(self) -> int:
        """Length of the content in characters."""
        return len(self.content)

    def __repr__(self) -> str:
        return f"Artifact(id={self.id!r}, tool_name={self.tool_name!r}, size={self.size})"


class ArtifactStore:
    """The artifacts of a context, by id; safe to use from tools running in threads."""

    def __init__(self) -> None:
        self._items: dict[str, Artifact] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def put(
        self, content: str, *, tool_name: str = "", tool_call_id: str = "", agent_name: str = ""
    ) -> Artifact:
        """Store ``content`` under a new id and return the artifact."""
        with self._lock:
            self._counter += 1
            artifact = Artifact(
                id=f"art_{self._counter}",
                content=content,
                tool_name=tool_name,
                tool_call_id=tool_call_id,
                agent_name=agent_name,
            )
            self._items[artifact.id] = artifact
        return artifact

    def get(self, artifact_id: str) -> Artifact | None:
        """Return the artifact with this id, or None."""
        return self._items.get(artifact_id)

    def __getitem__(self, artifact_id: str) -> Artifact:
        return self._items[artifact_id]

    def __contains__(self, artifact_id: object) -> bool:
        return artifact_id in self._items

    def __iter__(self) -> Iterator[Artifact]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        """Ids of the stored artifacts, oldest first."""
        return list(self._items)

    def clear(self) -> None:
        """Forget every artifact (ids keep counting up, so old pointers never resolve anew)."""
        with self._lock:
            self._items.clear()

    def __repr__(self) -> str:
        return f"ArtifactStore(ids={self.ids()!r})"


# --------------------------------------------------------------------------- paging


def page_text(text: str, *, name: str, offset: int, length: int, tool: str, key: str) -> str:
    """Return one page of ``text`` with a header saying where it is and how to go on.

    Args:
        text: The whole text.
        name: What the text is called in messages (an artifact id or note name).
        offset: First character of the page.
        length: Most characters in the page.
        tool: The tool that reads the next page (for the hint).
        key: The name of that tool's id argument (for the hint).

    Raises:
        ToolError: ``offset`` is past the end of the text.
    """
    size = len(text)
    if offset > 0 and offset >= size:
        raise ToolError(
            f"offset {offset} is past the end of {name!r} ({size:,} characters); "
            f"use an offset from 0 to {max(size - 1, 0)}"
        )
    end = min(size, offset + length)
    if end >= size:
        where = f"characters {offset}-{end} of {size} (end)"
    else:
        where = (
            f"characters {offset}-{end} of {size}; next page: "
            f'{tool}({key}="{name}", offset={end}, length={length})'
        )
    return f"[{name}: {where}]\n{text[offset:end]}"


@functools.lru_cache(maxsize=64)
def retrieve_tool(max_page: int = DEFAULT_PAGE, default: int = DEFAULT_PAGE) -> Tool:
    """Build the ``retrieve_artifact`` tool.

    Args:
        max_page: Most characters one call returns (longer requests are shortened).
        default: Characters returned when the model gives no ``length``.
    """
    default = min(default, max_page)

    def retrieve_artifact(
        artifact_id: str,
        ctx: ToolContext,
        offset: Annotated[int, Field(ge=0)] = 0,
        length: Annotated[int, Field(ge=1)] = default,
    ) -> str:
        """Read a stored artifact (a large tool result) page by page.

        Args:
            artifact_id: The id from the artifact pointer, e.g. "art_1".
            offset: The first character to read (0 for the start).
            length: How many characters to read.
        """
        store = ctx.context.artifacts
        artifact = store.get(artifact_id.strip())
        if artifact is None:
            known = ", ".join(store.ids()[-20:]) or "none yet"
            raise ToolError(
                f"unknown artifact {artifact_id!r}; the stored artifacts are: {known}. "
                "Use an id exactly as an artifact pointer gives it."
            )
        return page_text(
            artifact.content,
            name=artifact.id,
            offset=offset,
            length=min(length, max_page),
            tool=RETRIEVE_TOOL,
            key="artifact_id",
        )

    return Tool(
        retrieve_artifact,
        description=(
            "Read a stored artifact (a large tool result kept outside the conversation) page "
            f"by page. Pages are at most {max_page} characters; the page header gives the "
            "offset of the next page."
        ),
    )


# --------------------------------------------------------------------------- parking


def _text_of_result(result: ToolResult) -> str | None:
    """The result's text, or None when it holds media (which is never cut)."""
    if isinstance(result.content, str):
        return result.content
    if all(isinstance(b, TextBlock) for b in result.content):
        return "".join(b.text for b in result.content if isinstance(b, TextBlock))
    return None


def pointer_text(artifact: Artifact, page: int) -> str:
    """The short message that stands in the transcript for a parked result."""
    preview = artifact.content[:_PREVIEW]
    more = "…" if artifact.size > _PREVIEW else ""
    pages = -(-artifact.size // page)
    return (
        f"[Artifact {artifact.id}: the result of {artifact.tool_name} "
        f"({artifact.size:,} characters) is stored outside the conversation.\n"
        f"Preview: {preview}{more}\n"
        f'Read it with {RETRIEVE_TOOL}(artifact_id="{artifact.id}", offset=0, '
        f"length={page}) ({pages} page{'s' if pages != 1 else ''} of up to {page} characters).]"
    )


class ArtifactParker:
    """The loop's ``on_tool_result`` hook: park large results, leave the rest alone.

    Args:
        threshold: Park text results longer than this many characters (0: only results of
            ``large_output`` tools are parked).
        page: The page size the pointer suggests.
        on_park: Called after each artifact is parked (the run uses it to offer
            ``retrieve_artifact`` from then on).
        exempt: More tool names whose results are never parked (:data:`READERS` never are).
    """

    def __init__(
        self,
        *,
        threshold: int,
        page: int = DEFAULT_PAGE,
        on_park: Callable[[Artifact], None] | None = None,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.threshold = threshold
        self.page = page
        self.on_park = on_park
        self.exempt = exempt | READERS

    def should_park(self, result: ToolResult, tool: Tool | None, text: str) -> bool:
        """Whether this result goes to the store."""
        if tool is None or tool.name in self.exempt or not text:
            return False
        if tool.large_output and not result.is_error:
            return True
        return 0 < self.threshold < len(text)

    async def __call__(
        self, result: ToolResult, tool: Tool | None, state: RunState, context: Context
    ) -> ToolResult:
        """Return ``result`` unchanged, or a pointer to the artifact it became."""
        text = _text_of_result(result)
        if text is None or not self.should_park(result, tool, text):
            return result
        artifact = context.artifacts.put(
            text,
            tool_name=result.tool_name,
            tool_call_id=result.tool_call_id,
            agent_name=state.agent_name,
        )
        if self.on_park is not None:
            self.on_park(artifact)
        return ToolResult(
            tool_call_id=result.tool_call_id,
            tool_name=result.tool_name,
            content=pointer_text(artifact, self.page),
            is_error=result.is_error,
        )


def enable_artifacts(deps: LoopDeps, *, threshold: int) -> bool:
    """Park this run's large tool results; offer ``retrieve_artifact`` once one is parked.

    Nothing is installed when no result could ever be parked (``threshold`` 0 and no
    ``large_output`` tool).

    Returns:
        Whether parking is on (then ``retrieve_artifact`` is a reserved tool name).
    """
    if threshold <= 0 and not any(t.large_output for t in deps.tools.values()):
        return False
    page = min(DEFAULT_PAGE, threshold) if threshold > 0 else DEFAULT_PAGE

    def offer_reader(_: Artifact) -> None:
        if RETRIEVE_TOOL not in deps.tools:
            deps.tools[RETRIEVE_TOOL] = retrieve_tool(max(DEFAULT_PAGE, threshold), page)
            deps.specs = [t.spec for t in deps.tools.values()]

    deps.on_tool_result = ArtifactParker(threshold=threshold, page=page, on_park=offer_reader)
    return True
