"""Tools can't kill a run: every outcome of a tool is a result the model sees.

Classes, not examples: every exception type a tool may raise (sync and async), every kind of
odd return value, text that cannot be encoded; and the two things that do pass through: a
real cancellation of the run and KeyboardInterrupt.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from exo import Agent, TextBlock, ToolResult, UserMessage, run
from exo.testing import AgentInfo, FunctionModel, call
from exo.types import Message


def _model(tool_name: str, arguments: str = "{}") -> FunctionModel:
    """Call ``tool_name`` once, then answer with what the tool result said."""

    def reply(messages: list[Message], info: AgentInfo) -> Any:
        results = [m for m in messages if isinstance(m, ToolResult)]
        if not results:
            return call(tool_name, arguments)
        return "done"

    return FunctionModel(reply)


def _result_of(model: FunctionModel) -> ToolResult:
    last = model.requests[-1].messages[-1]
    assert isinstance(last, ToolResult)
    return last


class _Odd(Exception):
    def __str__(self) -> str:
        raise RuntimeError("even __str__ fails")


class _Custom(BaseException):
    """A BaseException subclass outside the usual tree."""


EXCEPTIONS: list[BaseException] = [
    ValueError("bad value"),
    KeyError("missing"),
    TypeError("wrong type"),
    RuntimeError("boom"),
    StopIteration(),
    StopAsyncIteration(),
    GeneratorExit(),
    asyncio.CancelledError(),
    SystemExit(2),
    TimeoutError("slow"),
    OSError(2, "No such file", "/tmp/\udcff"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    RecursionError("deep"),
    MemoryError(),
    _Odd(),
    _Custom("custom base exception"),
    ExceptionGroup("several", [ValueError("a"), KeyError("b")]),
]


def _raiser(exc: BaseException, *, is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def tool_async() -> str:
            """Fails."""
            raise exc

        return tool_async

    def tool_sync() -> str:
        """Fails."""
        raise exc

    return tool_sync


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
async def test_any_exception_a_tool_raises_is_an_error_result(
    exc: BaseException, is_async: bool
) -> None:
    fn = _raiser(exc, is_async=is_async)
    agent = Agent(name="a", model="test:m", tools=[fn])
    model = _model(fn.__name__)
    result = await asyncio.wait_for(run(agent, "go", provider=model), 30)  # never a hang
    assert result.output == "done"
    seen = _result_of(model)
    assert seen.is_error
    assert isinstance(seen.content, str)
    assert f"raised {type(exc).__name__}" in seen.content
    seen.content.encode("utf-8")  # always sendable


def _first_item() -> str:
    """next() on an empty iterator: a StopIteration (as RuntimeError in a coroutine)."""
    return next(iter([]))


async def _first_item_async() -> str:
    """The same inside a coroutine, where Python turns it into a RuntimeError."""
    return next(iter([]))


@pytest.mark.parametrize("fn", [_first_item, _first_item_async])
async def test_stop_iteration_is_named_as_such(fn: Callable[..., Any]) -> None:
    agent = Agent(name="a", model="test:m", tools=[fn])
    model = _model(fn.__name__)
    await asyncio.wait_for(run(agent, "go", provider=model), 30)
    assert f"tool {fn.__name__!r} raised StopIteration" in str(_result_of(model).content)


class _BadStr:
    def __str__(self) -> str:
        raise ValueError("no text for you")

    __repr__ = __str__


class _StrNotStr:
    def __str__(self) -> Any:
        return 42


class _Point(BaseModel):
    x: int


def _deep(n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        out = [out]
    return out


def _cyclic() -> list[Any]:
    a: list[Any] = []
    a.append(a)
    return a


# (value, what the model must see: a fragment of the content, or None for an error result)
RETURNS: list[tuple[str, Any, str | None]] = [
    ("none", None, "null"),
    ("int", 7, "7"),
    ("nan", math.nan, "NaN"),
    ("bytes", b"\xff\x00raw", "raw"),
    ("set", {1}, "{1}"),
    ("tuple_keys", {(1, 2): "v"}, "(1, 2)"),
    ("surrogate", "name-\udcff", "name-\\udcff"),
    ("surrogate_pair", "\ud83d\ude00", "\U0001f600"),
    ("surrogate_in_dict", {"k": "\ud800"}, "\\ud800"),
    ("surrogate_block", TextBlock(text="x\udc80"), None),
    ("model", _Point(x=1), '{"x":1}'),
    ("cyclic", _cyclic(), "[[...]]"),
    ("bad_str", _BadStr(), "cannot be turned into text"),
    ("str_not_str", _StrNotStr(), "cannot be turned into text"),
    ("huge_int", 10**5000, "cannot be turned into text"),
    ("deep", _deep(100_000), None),
    ("generator", (i for i in range(3)), "generator"),
]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("label", "value", "fragment"), RETURNS, ids=[r[0] for r in RETURNS])
async def test_any_return_value_becomes_sendable_content(
    label: str, value: Any, fragment: str | None, is_async: bool
) -> None:
    if is_async:

        async def give() -> Any:
            """Returns an odd value."""
            return value

    else:

        def give() -> Any:
            """Returns an odd value."""
            return value

    agent = Agent(name="a", model="test:m", tools=[give])
    model = _model("give")
    result = await run(agent, "go", provider=model)
    assert result.output == "done"
    seen = _result_of(model)
    blocks = seen.content if isinstance(seen.content, list) else [TextBlock(text=seen.content)]
    for block in blocks:
        assert isinstance(block, TextBlock)
        block.text.encode("utf-8")  # no lone surrogate survives
    if fragment is not None:
        assert fragment in "".join(b.text for b in blocks if isinstance(b, TextBlock))
    # The whole transcript serializes (memory and every wire format need that).
    json.dumps([str(m) for m in result.messages]).encode("utf-8")


async def test_a_sync_tool_returning_an_awaitable_is_awaited() -> None:
    async def later() -> str:
        return "awaited"

    def gives_coroutine() -> Any:
        """Returns a coroutine."""
        return later()

    agent = Agent(name="a", model="test:m", tools=[gives_coroutine])
    model = _model("gives_coroutine")
    await run(agent, "go", provider=model)
    assert _result_of(model).content == "awaited"


@pytest.mark.parametrize(
    "task",
    ["lone \ud800 surrogate", [TextBlock(text="block \udcff")]],
    ids=["text", "blocks"],
)
async def test_lone_surrogates_in_the_input_are_escaped_once(task: Any) -> None:
    agent = Agent(name="a", model="test:m")
    model = FunctionModel(lambda messages, info: "ok")
    result = await run(agent, task, provider=model, messages=[UserMessage(content="before \udc80")])
    sent = model.requests[0].messages
    texts = [m.content if isinstance(m.content, str) else m.content[0].text for m in sent]  # type: ignore[union-attr]
    for text in texts:
        assert isinstance(text, str)
        text.encode("utf-8")
    assert "\\udc80" in texts[0]
    assert result.new_messages[0] == sent[-1]


class _Args(BaseModel):
    n: int


def _validates_inside(n: int) -> str:
    """Raises pydantic's ValidationError from its own body."""
    _Args.model_validate({"n": "not a number"})
    return "unreachable"


async def test_a_validation_error_inside_the_tool_is_not_blamed_on_the_arguments() -> None:
    agent = Agent(name="a", model="test:m", tools=[_validates_inside])
    model = _model("_validates_inside", '{"n": 1}')
    await run(agent, "go", provider=model)
    content = str(_result_of(model).content)
    assert "raised ValidationError" in content
    assert "Invalid arguments" not in content
    with pytest.raises(ValidationError):
        _validates_inside(1)


async def test_bad_arguments_are_still_reported_as_bad_arguments() -> None:
    agent = Agent(name="a", model="test:m", tools=[_validates_inside])
    model = _model("_validates_inside", '{"n": "x"}')
    await run(agent, "go", provider=model)
    assert "Invalid arguments for tool '_validates_inside'" in str(_result_of(model).content)


async def test_a_real_cancellation_still_cancels_the_run() -> None:
    started = asyncio.Event()

    async def waits() -> str:
        """Waits forever."""
        started.set()
        await asyncio.Event().wait()
        return "never"

    agent = Agent(name="a", model="test:m", tools=[waits])
    task = asyncio.create_task(run(agent, "go", provider=_model("waits")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_cancelled_run_whose_tool_turns_the_cancellation_into_an_error_is_cancelled() -> (
    None
):
    started = asyncio.Event()

    async def swallows() -> str:
        """Turns its cancellation into another error."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("I was cancelled") from None
        return "never"

    agent = Agent(name="a", model="test:m", tools=[swallows])
    task = asyncio.create_task(run(agent, "go", provider=_model("swallows")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_keyboard_interrupt_passes_through(is_async: bool) -> None:
    fn = _raiser(KeyboardInterrupt(), is_async=is_async)
    agent = Agent(name="a", model="test:m", tools=[fn])
    with pytest.raises(KeyboardInterrupt):
        run.sync(agent, "go", provider=_model(fn.__name__))


async def test_parallel_calls_with_odd_outcomes_keep_their_siblings() -> None:
    def stop() -> str:
        """StopIteration."""
        raise StopIteration

    def bad() -> Any:
        """Unprintable."""
        return _BadStr()

    async def fine() -> str:
        """Works."""
        return "fine"

    def reply(messages: list[Message], info: AgentInfo) -> Any:
        if any(isinstance(m, ToolResult) for m in messages):
            return "done"
        return [call("stop"), call("bad"), call("fine")]

    agent = Agent(name="a", model="test:m", tools=[stop, bad, fine])
    model = FunctionModel(reply)
    result = await run(agent, "go", provider=model)
    results = [m for m in result.messages if isinstance(m, ToolResult)]
    assert [r.tool_name for r in results] == ["stop", "bad", "fine"]
    assert [r.is_error for r in results] == [True, True, False]
