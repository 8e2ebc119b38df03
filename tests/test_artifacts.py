"""Artifacts: large tool results parked in the run's context, pointers, paging, errors."""

from __future__ import annotations

import re
import threading

import pytest

from exo import Agent, ConfigError, Context, ImageBlock, TextBlock, ToolContext, run, tool
from exo.artifacts import DEFAULT_PAGE, ArtifactStore, page_text
from exo.errors import ToolError
from exo.testing import AgentInfo, FunctionModel, Reply, ScriptedModel, call
from exo.types import Message, ToolResult, text_of

BIG = "".join(f"line {i:04d}\n" for i in range(400))  # 4,000 characters


def fetch() -> str:
    """Fetch a big page."""
    return BIG


def small() -> str:
    """Return a little text."""
    return "tiny"


def _results(messages: list[Message]) -> list[ToolResult]:
    return [m for m in messages if isinstance(m, ToolResult)]


def _tools_of(model: ScriptedModel | FunctionModel) -> list[list[str]]:
    return [[t.name for t in r.tools] for r in model.requests]


async def test_a_large_result_is_parked_and_replaced_by_a_pointer() -> None:
    model = ScriptedModel([call("fetch"), "done"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[fetch], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model, context=context)
    (pointer,) = _results(result.messages)
    text = text_of(pointer.content)
    assert "art_1" in text
    assert "4,000 characters" in text
    assert "line 0000" in text  # the preview
    assert len(text) < 600
    assert BIG not in text
    assert context.artifacts["art_1"].content == BIG
    assert context.artifacts["art_1"].tool_name == "fetch"
    # the model saw the pointer, not the content
    assert BIG not in text_of(_results(model.requests[1].messages)[0].content)


async def test_small_results_are_left_alone() -> None:
    model = ScriptedModel([call("small"), "done"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[small], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model, context=context)
    assert _results(result.messages)[0].content == "tiny"
    assert len(context.artifacts) == 0
    assert _tools_of(model) == [["small"], ["small"]]


async def test_retrieve_artifact_is_offered_only_once_something_is_parked() -> None:
    model = ScriptedModel([call("small"), call("fetch"), "done"])
    agent = Agent(name="a", model="test:m", tools=[small, fetch], artifact_threshold=1_000)
    await run(agent, "go", provider=model)
    assert _tools_of(model) == [
        ["small", "fetch"],
        ["small", "fetch"],
        ["small", "fetch", "retrieve_artifact"],
    ]


async def test_large_output_tools_are_always_parked() -> None:
    @tool(large_output=True)
    def report() -> str:
        """Make a report."""
        return "short but flagged"

    model = ScriptedModel([call("report"), call("retrieve_artifact", artifact_id="art_1"), "ok"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[report], artifact_threshold=0)
    result = await run(agent, "go", provider=model, context=context)
    pointer, page = _results(result.messages)
    assert text_of(pointer.content).startswith("[Artifact art_1: the result of report")
    assert page.content == "[art_1: characters 0-17 of 17 (end)]\nshort but flagged"
    assert context.artifacts["art_1"].content == "short but flagged"


async def test_threshold_zero_and_no_flagged_tool_means_no_artifacts_and_no_reader() -> None:
    model = ScriptedModel([call("fetch"), "done"])
    agent = Agent(name="a", model="test:m", tools=[fetch], artifact_threshold=0)
    result = await run(agent, "go", provider=model)
    assert _results(result.messages)[0].content == BIG
    assert _tools_of(model) == [["fetch"], ["fetch"]]


async def test_the_model_pages_through_an_artifact() -> None:
    pages: list[str] = []

    def fn(messages: list[Message], info: AgentInfo) -> Reply:
        last = messages[-1]
        if not isinstance(last, ToolResult):
            return call("fetch")
        text = text_of(last.content)
        if last.tool_name == "retrieve_artifact":
            pages.append(text)
        if "(end)]" in text:
            return "read it all"
        match = re.search(r"offset=(\d+)", text) if pages else None
        offset = int(match.group(1)) if match else 0
        return call("retrieve_artifact", artifact_id="art_1", offset=offset, length=1500)

    agent = Agent(name="a", model="test:m", tools=[fetch], artifact_threshold=1_000)
    result = await run(agent, "go", provider=FunctionModel(fn))
    assert result.output == "read it all"
    assert [p.split("\n", 1)[0] for p in pages] == [
        '[art_1: characters 0-1500 of 4000; next page: retrieve_artifact(artifact_id="art_1", '
        "offset=1500, length=1500)]",
        '[art_1: characters 1500-3000 of 4000; next page: retrieve_artifact(artifact_id="art_1", '
        "offset=3000, length=1500)]",
        "[art_1: characters 3000-4000 of 4000 (end)]",
    ]
    assert "".join(p.split("\n", 1)[1] for p in pages) == BIG
    # pages are not parked again even though they exceed the threshold
    assert not any(
        text_of(r.content).startswith("[Artifact") for r in _results(result.messages)[1:]
    )


async def test_an_unknown_artifact_id_is_a_clear_tool_error() -> None:
    model = ScriptedModel([call("fetch"), call("retrieve_artifact", artifact_id="art_99"), "sorry"])
    agent = Agent(name="a", model="test:m", tools=[fetch], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model)
    error = _results(result.messages)[1]
    assert error.is_error
    assert "unknown artifact 'art_99'" in text_of(error.content)
    assert "art_1" in text_of(error.content)
    assert result.output == "sorry"


async def test_an_offset_past_the_end_and_bad_arguments_are_tool_errors() -> None:
    model = ScriptedModel(
        [
            call("fetch"),
            [
                call("retrieve_artifact", artifact_id="art_1", offset=9_999),
                call("retrieve_artifact", artifact_id="art_1", offset=-1),
            ],
            "ok",
        ]
    )
    agent = Agent(name="a", model="test:m", tools=[fetch], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model)
    past, negative = _results(result.messages)[1:]
    assert past.is_error and "past the end of 'art_1' (4,000 characters)" in str(past.content)
    assert negative.is_error and "offset" in str(negative.content)


async def test_content_block_results_with_images_are_never_cut() -> None:
    blocks: list[TextBlock | ImageBlock] = [
        TextBlock(text=BIG),
        ImageBlock(url="https://example.com/x.png"),
    ]

    @tool(large_output=True)
    def shot() -> list[TextBlock | ImageBlock]:
        """Take a screenshot."""
        return blocks

    model = ScriptedModel([call("shot"), "seen"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[shot], artifact_threshold=100)
    result = await run(agent, "go", provider=model, context=context)
    assert _results(result.messages)[0].content == blocks
    assert len(context.artifacts) == 0


async def test_text_block_results_are_parked_like_text() -> None:
    def blocks() -> list[TextBlock]:
        """Return text blocks."""
        return [TextBlock(text=BIG[:2000]), TextBlock(text=BIG[2000:])]

    model = ScriptedModel([call("blocks"), "ok"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[blocks], artifact_threshold=1_000)
    await run(agent, "go", provider=model, context=context)
    assert context.artifacts["art_1"].content == BIG


async def test_artifact_ids_stay_unique_across_runs_sharing_a_context() -> None:
    context = Context()
    agent = Agent(
        name="a", model="test:m", tools=[fetch], artifact_threshold=1_000, context=context
    )
    for _ in range(2):
        await run(agent, "go", provider=ScriptedModel([call("fetch"), "done"]))
    assert context.artifacts.ids() == ["art_1", "art_2"]


async def test_the_planner_shares_the_context_but_never_gets_retrieve_artifact() -> None:
    seen: list[tuple[str, int]] = []

    def probe(ctx: ToolContext) -> str:
        """Look at the context."""
        seen.append((ctx.agent_name, id(ctx.context)))
        return "probed"

    model = ScriptedModel(
        {
            "a_planner": [call("probe"), call("fetch"), "plan: read it"],
            "a": [call("fetch"), call("probe"), "done"],
        }
    )
    context = Context()
    agent = Agent(
        name="a",
        model="test:m",
        tools=[fetch, probe],
        artifact_threshold=1_000,
        planning_enabled=True,
    )
    await run(agent, "go", provider=model, context=context)
    assert seen == [("a_planner", id(context)), ("a", id(context))]
    planner_tools = {
        n for r in model.requests if r.agent_name == "a_planner" for n in (t.name for t in r.tools)
    }
    assert planner_tools == {"fetch", "probe"}
    executor_tools = [t.name for t in model.requests[-1].tools]
    assert "retrieve_artifact" in executor_tools
    # the planner's fetch was not parked (it could not read it back); the executor's was
    planner_fetch = next(
        r
        for r in model.requests
        if r.agent_name == "a_planner"
        and _results(r.messages)
        and _results(r.messages)[-1].tool_name == "fetch"
    )
    assert _results(planner_fetch.messages)[-1].content == BIG
    assert context.artifacts.ids() == ["art_1"]


async def test_a_user_tool_named_retrieve_artifact_is_refused_when_parking_is_on() -> None:
    def retrieve_artifact(artifact_id: str) -> str:
        """Mine."""
        return ""

    with pytest.raises(ConfigError, match="built-in tool"):  # at construction
        Agent(name="a", model="test:m", tools=[retrieve_artifact, fetch])
    quiet = Agent(name="a", model="test:m", tools=[retrieve_artifact], artifact_threshold=0)
    assert (await run(quiet, "go", provider=ScriptedModel(["x"]))).output == "x"


def test_the_store_gives_unique_ids_from_many_threads() -> None:
    store = ArtifactStore()

    def put_many() -> None:
        for _ in range(200):
            store.put("x")

    threads = [threading.Thread(target=put_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 800
    assert len(set(store.ids())) == 800
    store.clear()
    assert store.put("y").id == "art_801"


def test_page_text_reports_where_it_is() -> None:
    assert page_text("abcdef", name="n", offset=2, length=2, tool="t", key="k") == (
        '[n: characters 2-4 of 6; next page: t(k="n", offset=4, length=2)]\ncd'
    )
    assert page_text("", name="n", offset=0, length=5, tool="t", key="k") == (
        "[n: characters 0-0 of 0 (end)]\n"
    )
    with pytest.raises(ToolError, match="past the end"):
        page_text("abc", name="n", offset=3, length=1, tool="t", key="k")


@pytest.mark.parametrize(("size", "parked"), [(999, False), (1_000, False), (1_001, True)])
async def test_the_threshold_parks_only_results_longer_than_it(size: int, parked: bool) -> None:
    def sized() -> str:
        """Return text of a known length."""
        return "x" * size

    model = ScriptedModel([call("sized"), "done"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[sized], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model, context=context)
    content = text_of(_results(result.messages)[0].content)
    assert content.startswith("[Artifact art_1") is parked
    assert len(context.artifacts) == int(parked)


async def test_retrieve_artifact_caps_a_page_at_its_maximum() -> None:
    huge = "".join(f"{i:09d}\n" for i in range(2_000))  # 20,000 characters
    # the cap is max(DEFAULT_PAGE, threshold): 8,000 here, however much the model asks for
    assert DEFAULT_PAGE == 8_000

    def dump() -> str:
        """Dump a huge file."""
        return huge

    model = ScriptedModel(
        [
            call("dump"),
            call("retrieve_artifact", artifact_id="art_1", offset=0, length=50_000),
            "done",
        ]
    )
    agent = Agent(name="a", model="test:m", tools=[dump], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model)
    page = text_of(_results(result.messages)[1].content)
    header, body = page.split("\n", 1)
    assert header == (
        '[art_1: characters 0-8000 of 20000; next page: retrieve_artifact(artifact_id="art_1", '
        "offset=8000, length=8000)]"
    )
    assert body == huge[:8_000]


async def test_a_threshold_above_the_default_page_raises_the_page_cap() -> None:
    huge = "y" * 30_000

    def dump() -> str:
        """Dump a huge file."""
        return huge

    model = ScriptedModel(
        [call("dump"), call("retrieve_artifact", artifact_id="art_1", length=50_000), "done"]
    )
    agent = Agent(name="a", model="test:m", tools=[dump], artifact_threshold=12_000)
    result = await run(agent, "go", provider=model)
    pointer, page = (text_of(r.content) for r in _results(result.messages))
    # the pointer suggests default pages; a request may read up to the threshold at once
    assert "length=8000) (4 pages of up to 8000 characters)" in pointer
    assert page.split("\n", 1)[0].startswith("[art_1: characters 0-12000 of 30000; next page")


async def test_the_pointer_names_its_pages_and_the_artifact_keeps_where_it_came_from() -> None:
    @tool(large_output=True)
    def report() -> str:
        """Make a report."""
        return "short but flagged"

    model = ScriptedModel([[call("fetch"), call("report")], "done"])
    context = Context()
    agent = Agent(name="a", model="test:m", tools=[fetch, report], artifact_threshold=1_000)
    result = await run(agent, "go", provider=model, context=context)
    calls = result.messages[1].tool_calls  # type: ignore[union-attr]
    big, flagged = _results(result.messages)
    assert [big.tool_call_id, flagged.tool_call_id] == [c.id for c in calls]
    assert not big.is_error and not flagged.is_error
    assert text_of(big.content).endswith(
        '…\nRead it with retrieve_artifact(artifact_id="art_1", offset=0, length=1000) '
        "(4 pages of up to 1000 characters).]"
    )
    assert text_of(flagged.content).endswith(
        'Preview: short but flagged\nRead it with retrieve_artifact(artifact_id="art_2", '
        "offset=0, length=1000) (1 page of up to 1000 characters).]"
    )
    stored = context.artifacts["art_1"]
    assert (stored.tool_name, stored.tool_call_id, stored.agent_name) == ("fetch", calls[0].id, "a")


def test_an_offset_past_the_end_says_which_offsets_exist() -> None:
    with pytest.raises(ToolError, match=r"use an offset from 0 to 2$"):
        page_text("abc", name="n", offset=3, length=1, tool="t", key="k")
    for offset in (1, 1_000):
        with pytest.raises(ToolError, match="past the end"):
            page_text("a", name="n", offset=offset, length=1, tool="t", key="k")
    # offset 0 of an empty text is a valid (empty) page, not an error
    assert page_text("", name="n", offset=0, length=1, tool="t", key="k").endswith("(end)]\n")
    assert page_text("a", name="n", offset=0, length=1, tool="t", key="k") == (
        "[n: characters 0-1 of 1 (end)]\na"
    )
