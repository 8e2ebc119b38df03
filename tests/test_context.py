"""Context: sharing with the planner and children, context tools, history windowing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from exo import Agent, ConfigError, Context, ToolContext, run
from exo._window import DEFAULT_NOTE, estimate_tokens, window_messages
from exo.testing import ScriptedModel, call
from exo.types import (
    AssistantMessage,
    ImageBlock,
    Message,
    SystemMessage,
    ToolCall,
    ToolResult,
    UserMessage,
    text_of,
)

CONTEXT_TOOLS = ["add_todo", "complete_todo", "list_todos", "list_notes", "read_note"]


def _results(messages: list[Message]) -> list[ToolResult]:
    return [m for m in messages if isinstance(m, ToolResult)]


# --------------------------------------------------------------------------- the Context


async def test_each_run_gets_a_fresh_context_unless_one_is_given() -> None:
    seen: list[Context] = []

    def probe(ctx: ToolContext) -> str:
        """Probe."""
        seen.append(ctx.context)
        return "ok"

    agent = Agent(name="a", model="test:m", tools=[probe])
    for _ in range(2):
        await run(agent, "go", provider=ScriptedModel([call("probe"), "done"]))
    assert seen[0] is not seen[1]

    shared = Context({"user": "ada"})
    agent = Agent(name="a", model="test:m", tools=[probe], context=shared)
    for _ in range(2):
        await run(agent, "go", provider=ScriptedModel([call("probe"), "done"]))
    assert seen[2] is shared and seen[3] is shared
    given = Context()
    await run(agent, "go", provider=ScriptedModel([call("probe"), "done"]), context=given)
    assert seen[4] is given


def test_fork_shares_data_but_not_the_todo_list() -> None:
    parent = Context({"k": 1}, notes={"guide": "be brief"})
    parent.add_todo("parent item")
    child = parent.fork()
    child.state["k"] = 2
    child.notes["new"] = "x"
    art = child.artifacts.put("payload")
    child.add_todo("child item")
    assert parent.state == {"k": 2}
    assert parent.notes == {"guide": "be brief", "new": "x"}
    assert parent.artifacts[art.id].content == "payload"
    assert [t.text for t in parent.todos] == ["parent item"]
    assert [t.text for t in child.todos] == ["child item"]


def test_todo_methods_number_items_from_one() -> None:
    context = Context()
    assert context.todo_text() == "The todo list is empty."
    assert context.add_todo("a") == 1
    assert context.add_todo("b") == 2
    assert context.complete_todo(2).done
    assert context.todo_text() == "1. [ ] a\n2. [x] b"
    with pytest.raises(IndexError):
        context.complete_todo(3)
    with pytest.raises(IndexError):
        context.complete_todo(0)


def test_agent_rejects_a_non_context() -> None:
    with pytest.raises(ConfigError, match=r"context must be an exo\.Context"):
        Agent(name="a", model="test:m", context={"state": 1})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- context tools


async def test_context_tools_are_opt_in() -> None:
    model = ScriptedModel(["hi"])
    await run(Agent(name="a", model="test:m"), "x", provider=model)
    assert model.requests[0].tools == []
    model = ScriptedModel(["hi"])
    await run(Agent(name="a", model="test:m", context_tools=True), "x", provider=model)
    assert [t.name for t in model.requests[0].tools] == CONTEXT_TOOLS


async def test_the_model_keeps_a_todo_list_in_the_context() -> None:
    model = ScriptedModel(
        [
            [call("add_todo", item="search"), call("add_todo", item="summarize")],
            call("complete_todo", number=1),
            [call("list_todos"), call("complete_todo", number=7), call("add_todo", item=" ")],
            "done",
        ]
    )
    context = Context()
    agent = Agent(name="a", model="test:m", context_tools=True)
    result = await run(agent, "go", provider=model, context=context)
    assert [(t.text, t.done) for t in context.todos] == [("search", True), ("summarize", False)]
    results = _results(result.messages)
    assert results[2].content == "Completed todo 1: search\n1. [x] search\n2. [ ] summarize"
    assert results[3].content == "1. [x] search\n2. [ ] summarize"
    assert results[4].is_error
    assert "there is no todo 7; the list has items 1 to 2" in text_of(results[4].content)
    assert results[5].is_error and "empty" in text_of(results[5].content)


async def test_the_model_lists_and_reads_notes_and_artifacts() -> None:
    context = Context(notes={"style": "Write in British English. " * 3})
    context.artifacts.put("A" * 50, tool_name="fetch")
    model = ScriptedModel(
        [
            call("list_notes"),
            [
                call("read_note", name="style", offset=0, length=10),
                call("read_note", name="art_1", offset=40),
                call("read_note", name="nope"),
            ],
            "done",
        ]
    )
    agent = Agent(name="a", model="test:m", context_tools=True)
    result = await run(agent, "go", provider=model, context=context)
    listing, style, art, missing = _results(result.messages)
    assert listing.content == "- style (78 characters)\n- art_1 (50 characters, result of fetch)"
    assert style.content == (
        '[style: characters 0-10 of 78; next page: read_note(name="style", offset=10, '
        "length=10)]\nWrite in B"
    )
    assert art.content == "[art_1: characters 40-50 of 50 (end)]\n" + "A" * 10
    assert missing.is_error
    assert "known: style, art_1" in text_of(missing.content)


async def test_the_planner_shares_the_context_but_gets_no_context_tools() -> None:
    seen: list[tuple[str, int]] = []

    def probe(ctx: ToolContext) -> str:
        """Probe."""
        seen.append((ctx.agent_name, id(ctx.context)))
        return "ok"

    model = ScriptedModel(
        {
            "a_planner": [call("probe"), "1. probe"],
            "a": [call("probe"), "done"],
        }
    )
    context = Context()
    agent = Agent(
        name="a",
        model="test:m",
        tools=[probe],
        context_tools=True,
        allow_self_spawn=True,
        planning_enabled=True,
    )
    await run(agent, "go", provider=model, context=context)
    tools = {r.agent_name: [t.name for t in r.tools] for r in model.requests}
    assert tools["a_planner"] == ["probe"]
    assert tools["a"] == ["probe", "spawn_self", *CONTEXT_TOOLS]
    assert seen == [("a_planner", id(context)), ("a", id(context))]


async def test_children_keep_their_own_todos_but_share_state() -> None:
    def whoami(ctx: ToolContext) -> str:
        """Say who the user is."""
        return str(ctx.context.state["user"])

    model = ScriptedModel(
        {
            "a": [call("add_todo", item="delegate"), call("spawn_self", tasks=["t"]), "done"],
            "a_child_1": [[call("add_todo", item="child step"), call("whoami")], "child done"],
        }
    )
    context = Context({"user": "ada"})
    agent = Agent(
        name="a", model="test:m", tools=[whoami], context_tools=True, allow_self_spawn=True
    )
    await run(agent, "go", provider=model, context=context)
    assert [t.text for t in context.todos] == ["delegate"]
    child_last = [r for r in model.requests if r.agent_name == "a_child_1"][-1]
    add, who = _results(child_last.messages)
    assert add.content == "Added todo 1.\n1. [ ] child step"
    assert who.content == "ada"


async def test_a_user_tool_named_like_a_context_tool_is_refused() -> None:
    def add_todo(item: str) -> str:
        """Mine."""
        return item

    with pytest.raises(ConfigError, match="'add_todo' is the name of a built-in tool"):
        Agent(name="a", model="test:m", tools=[add_todo], context_tools=True)  # at construction
    plain = Agent(name="a", model="test:m", tools=[add_todo])
    assert (await run(plain, "go", provider=ScriptedModel(["x"]))).output == "x"


# --------------------------------------------------------------------------- windowing

SYSTEM = SystemMessage(content="You are a careful agent. " * 20)


def _exchange(i: int, size: int = 400) -> list[Message]:
    calls = [ToolCall(id=f"c{i}a", name="search", arguments='{"q": "x"}')]
    calls.append(ToolCall(id=f"c{i}b", name="fetch", arguments="{}"))
    return [
        AssistantMessage(content=f"step {i}", tool_calls=calls),
        ToolResult(tool_call_id=f"c{i}a", tool_name="search", content="r" * size),
        ToolResult(tool_call_id=f"c{i}b", tool_name="fetch", content="f" * size),
    ]


def _long_run(steps: int) -> list[Message]:
    messages: list[Message] = [SYSTEM, UserMessage(content="the task")]
    for i in range(steps):
        messages += _exchange(i)
    return messages


def _check_pairs(messages: list[Message]) -> None:
    """Every tool result follows its call's assistant message, and every call has results."""
    open_ids: set[str] = set()
    for message in messages:
        if isinstance(message, AssistantMessage):
            assert not open_ids, f"calls {open_ids} lost their results"
            open_ids = {c.id for c in message.tool_calls}
        elif isinstance(message, ToolResult):
            assert message.tool_call_id in open_ids, f"{message.tool_call_id} lost its call"
            open_ids.discard(message.tool_call_id)
        else:
            assert not open_ids, f"calls {open_ids} lost their results"
    assert not open_ids


def test_a_transcript_within_budget_is_sent_as_it_is() -> None:
    messages = _long_run(2)
    window = window_messages(messages, 10_000)
    assert window.messages == messages
    assert window.dropped == []
    assert window.tokens == estimate_tokens(messages)


def test_windowing_keeps_the_system_prompt_the_task_and_tool_pairs() -> None:
    messages = _long_run(30)
    budget = 2_000
    assert estimate_tokens(messages) > 3 * budget
    window = window_messages(messages, budget)
    kept = window.messages
    assert kept[0] is SYSTEM  # the very same message, in first place
    assert kept[1] == UserMessage(content="the task")
    assert window.tokens <= budget
    _check_pairs(kept)
    assert kept[-3:] == messages[-3:]  # the newest exchange is whole
    marker = kept[2]
    assert isinstance(marker, UserMessage)
    assert marker.content == DEFAULT_NOTE.format(count=len(window.dropped))
    assert window.dropped == messages[2 : 2 + len(window.dropped)]
    assert len(kept) - 1 + len(window.dropped) == len(messages)


def test_the_cut_stays_put_while_the_transcript_grows_a_little() -> None:
    messages = _long_run(30)
    first = window_messages(messages, 2_000)
    grown = window_messages([*messages, *_exchange(30, size=20)], 2_000)
    assert grown.dropped == first.dropped
    assert grown.messages[: len(first.messages)] == first.messages
    much_more = window_messages([*messages, *_long_run(10)[2:]], 2_000)
    assert len(much_more.dropped) > len(first.dropped)
    _check_pairs(much_more.messages)


def test_step_zero_drops_only_what_must_go() -> None:
    messages = _long_run(30)
    tight = window_messages(messages, 2_000, step=0)
    chunky = window_messages(messages, 2_000)
    assert len(tight.dropped) <= len(chunky.dropped)
    assert tight.tokens <= 2_000
    # one more unit kept would not fit
    assert tight.tokens + estimate_tokens(tight.dropped[-3:]) > 2_000


def test_history_before_the_task_goes_first_and_a_plan_stays_with_the_task() -> None:
    history: list[Message] = [UserMessage(content="old question " * 50)]
    history += [AssistantMessage(content="old answer " * 50)]
    plan = SystemMessage(content="Planner output: 1. search")
    messages: list[Message] = [SYSTEM, *history, plan, UserMessage(content="the task")]
    for i in range(6):
        messages += _exchange(i, size=100)
    budget = estimate_tokens(messages) - 100
    window = window_messages(messages, budget, step=0)
    assert window.dropped == history[:1]
    marker = UserMessage(content=DEFAULT_NOTE.format(count=1))
    assert window.messages[:5] == [SYSTEM, marker, history[1], plan, messages[4]]
    _check_pairs(window.messages)
    tighter = window_messages(messages, 900, step=0)
    assert plan in tighter.messages and UserMessage(content="the task") in tighter.messages
    _check_pairs(tighter.messages)


def test_when_nothing_more_can_go_the_window_says_it_is_over_budget() -> None:
    messages: list[Message] = [SYSTEM, UserMessage(content="x" * 40_000)]
    window = window_messages(messages, 100)
    assert window.messages == messages
    assert window.tokens > 100


def test_custom_note_counter_and_media() -> None:
    image = UserMessage(content=[ImageBlock(url="https://example.com/a.png")])
    messages: list[Message] = [SYSTEM, image, AssistantMessage(content="seen"), *_long_run(3)[1:]]
    assert estimate_tokens([image]) >= 1_000
    window = window_messages(
        messages,
        estimate_tokens(messages) - 500,
        note="[summary of {count} messages: the user showed an image]",
        step=0,
    )
    assert window.dropped == [image]
    assert window.messages[1] == UserMessage(
        content="[summary of 1 messages: the user showed an image]"
    )
    counted = window_messages(messages, 10, count_tokens=len)  # one "token" per message
    _check_pairs(counted.messages)
    assert counted.messages[0] is SYSTEM


def test_the_window_boundary_and_what_is_pinned_exactly() -> None:
    def ten_each(messages: Sequence[Message]) -> int:
        return 10 * len(messages)

    messages: list[Message] = [
        SystemMessage(content="sys"),
        UserMessage(content="u1"),
        AssistantMessage(content="a1"),
        UserMessage(content="u2"),
        AssistantMessage(content="a2"),
        SystemMessage(content="plan 1"),
        SystemMessage(content="plan 2"),
        UserMessage(content="task"),
        AssistantMessage(content="newest"),
    ]

    def sent(max_tokens: int) -> list[str]:
        window = window_messages(
            messages, max_tokens, count_tokens=ten_each, note="[{count} left out]", step=0
        )
        return [text_of(m.content) for m in window.messages]

    assert sent(90) == [text_of(m.content) for m in messages]  # exactly the budget: all sent
    assert sent(89) == [
        "sys",
        "[1 left out]",
        "a1",
        "u2",
        "a2",
        "plan 1",
        "plan 2",
        "task",
        "newest",
    ]
    # over any budget: the system prompt, the task with the system messages right before it,
    # and the newest message are never dropped
    assert sent(10) == ["sys", "[4 left out]", "plan 1", "plan 2", "task", "newest"]
