"""spawn_self: limits, concurrency, failures, usage, events, budgets and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from exo import Agent, ConfigError, Context, ToolContext, run
from exo.errors import ModelError
from exo.testing import AgentInfo, FunctionModel, Reply, ScriptedModel, call
from exo.types import (
    ErrorEvent,
    Message,
    RunCompleteEvent,
    TextEvent,
    ToolResult,
    text_of,
)


def _agent(**kwargs: object) -> Agent:
    settings: dict[str, object] = {"name": "boss", "model": "test:m", "allow_self_spawn": True}
    settings.update(kwargs)
    return Agent(**settings)  # type: ignore[arg-type]


def _tool_names(info: AgentInfo) -> set[str]:
    return {t.name for t in info.tools}


def _results(messages: list[Message]) -> list[ToolResult]:
    return [m for m in messages if isinstance(m, ToolResult)]


def spawn_once(tasks: Callable[[str], list[str]]) -> Callable[[list[Message], AgentInfo], Reply]:
    """A model: spawn ``tasks(agent)`` once if spawn_self is offered, then report results."""

    def fn(messages: list[Message], info: AgentInfo) -> Reply:
        results = _results(messages)
        if "spawn_self" in _tool_names(info) and not results:
            return call("spawn_self", tasks=tasks(info.agent_name))
        seen = "; ".join(text_of(r.content) for r in results)
        return f"{info.agent_name} done [{seen}]"

    return fn


# --------------------------------------------------------------------------- offering the tool


async def test_spawn_self_is_off_by_default() -> None:
    model = ScriptedModel(["hi"])
    await run(Agent(name="a", model="test:m"), "x", provider=model)
    assert [t.name for t in model.requests[0].tools] == []


async def test_spawn_self_schema_takes_a_list_of_tasks() -> None:
    model = ScriptedModel(["hi"])
    await run(_agent(max_spawn_children=3), "x", provider=model)
    (spec,) = model.requests[0].tools
    assert spec.name == "spawn_self"
    assert spec.parameters["required"] == ["tasks"]
    assert spec.parameters["properties"]["tasks"]["type"] == "array"
    assert spec.parameters["properties"]["tasks"]["items"] == {"type": "string"}
    assert "At most 3 tasks per call" in spec.description


async def test_a_user_tool_named_spawn_self_is_refused() -> None:
    def spawn_self(tasks: list[str]) -> str:
        """Mine."""
        return ""

    with pytest.raises(ConfigError, match="built-in tool"):
        await run(_agent(tools=[spawn_self]), "x", provider=ScriptedModel(["hi"]))


async def test_the_planner_never_gets_spawn_self() -> None:
    model = ScriptedModel(
        {
            "boss_planner": ["1. do it"],
            "boss": [call("spawn_self", tasks=["t"]), "ok"],
            "boss_child_1": ["child answer"],
        }
    )
    result = await run(_agent(planning_enabled=True), "x", provider=model)
    by_agent = {r.agent_name: [t.name for t in r.tools] for r in model.requests}
    assert by_agent["boss_planner"] == []
    assert by_agent["boss"] == ["spawn_self"]
    assert result.output == "ok"
    # children run without planning: no "boss_child_1_planner" request
    assert model.agents == ["boss_planner", "boss", "boss_child_1", "boss"]


# --------------------------------------------------------------------------- answers


async def test_a_single_task_returns_the_childs_answer_verbatim() -> None:
    model = ScriptedModel(
        {"boss": [call("spawn_self", tasks=["find X"]), "final"], "boss_child_1": ["X is 42"]}
    )
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.content == "X is 42"
    assert not tool_result.is_error
    (child,) = result.children
    assert (child.name, child.task, child.output, child.error) == (
        "boss_child_1",
        "find X",
        "X is 42",
        None,
    )
    assert child.steps == 1
    # the child saw only its task and the agent's instructions, not the parent's transcript
    child_request = next(r for r in model.requests if r.agent_name == "boss_child_1")
    assert [text_of(m.content) for m in child_request.messages if m.role == "user"] == ["find X"]


async def test_several_tasks_return_one_labelled_block_per_task() -> None:
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["alpha", "beta"]), "final"],
            "boss_child_1": ["A!"],
            "boss_child_2": ["B!"],
        }
    )
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.content == (
        "[Task 1 of 2, boss_child_1]\nTask: alpha\nAnswer:\nA!\n\n"
        "[Task 2 of 2, boss_child_2]\nTask: beta\nAnswer:\nB!"
    )
    assert [c.name for c in result.children] == ["boss_child_1", "boss_child_2"]


async def test_children_run_concurrently() -> None:
    barrier = asyncio.Barrier(3)

    async def fn(messages: list[Message], info: AgentInfo) -> Reply:
        if info.agent_name == "boss":
            if not _results(messages):
                return call("spawn_self", tasks=["a", "b", "c"])
            return "all met"
        # Each child waits until all three are inside a model call at once: sequential
        # children would never get past this (the wait_for guard turns a hang into a failure).
        await asyncio.wait_for(barrier.wait(), 10)
        return f"{info.agent_name} passed"

    result = await run(_agent(), "go", provider=FunctionModel(fn))
    assert [c.output for c in result.children] == [
        "boss_child_1 passed",
        "boss_child_2 passed",
        "boss_child_3 passed",
    ]
    assert all(c.error is None for c in result.children)


async def test_children_are_copies_with_the_agents_tools_and_instructions() -> None:
    seen: list[str] = []

    def lookup(key: str, ctx: ToolContext) -> str:
        """Look a key up."""
        seen.append(ctx.agent_name)
        return f"{key}={ctx.context.state['db'][key]}"

    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["look up k"]), "final"],
            "boss_child_1": [call("lookup", key="k"), "found"],
        }
    )
    agent = _agent(tools=[lookup], instructions="Be terse.", temperature=0.3)
    await run(agent, "go", provider=model, context=Context({"db": {"k": "v"}}))
    child_requests = [r for r in model.requests if r.agent_name == "boss_child_1"]
    assert [t.name for t in child_requests[0].tools] == ["lookup"]  # depth 1: no spawn_self
    assert child_requests[0].messages[0].content == "Be terse."
    assert child_requests[0].settings.temperature == 0.3
    assert seen == ["boss_child_1"]
    assert _results(child_requests[1].messages)[0].content == "k=v"


# --------------------------------------------------------------------------- limits


async def test_too_many_tasks_in_one_call_is_a_tool_error_and_the_run_goes_on() -> None:
    model = ScriptedModel({"boss": [call("spawn_self", tasks=["a", "b", "c"]), "gave up"]})
    result = await run(_agent(max_spawn_children=2), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.is_error
    assert "at most 2 tasks per call" in text_of(tool_result.content)
    assert result.output == "gave up"
    assert model.agents == ["boss", "boss"]  # no child ever ran
    assert result.children == []


@pytest.mark.parametrize(
    ("tasks", "message"),
    [([], "at least one task"), (["ok", "  "], "a task is empty")],
)
async def test_empty_tasks_are_tool_errors(tasks: list[str], message: str) -> None:
    model = ScriptedModel({"boss": [call("spawn_self", tasks=tasks), "fine"]})
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.is_error
    assert message in text_of(tool_result.content)
    assert result.children == []


async def test_a_model_spawning_in_a_loop_is_stopped_by_max_spawn_total() -> None:
    def fn(messages: list[Message], info: AgentInfo) -> Reply:
        if info.agent_name != "boss":
            return "child work"
        results = _results(messages)
        if results and results[-1].is_error:
            return "stopped: " + text_of(results[-1].content)
        return call("spawn_self", tasks=["more"])  # forever, until refused

    model = FunctionModel(fn)
    result = await run(_agent(max_spawn_total=3, max_steps=50), "go", provider=model)
    assert [c.name for c in result.children] == [
        "boss_child_1",
        "boss_child_2",
        "boss_child_3",
    ]
    assert "max_spawn_total=3" in result.output
    assert model.agents.count("boss") == 5  # 3 spawns, 1 refused, 1 answer


async def test_the_per_run_cap_counts_all_tasks_of_a_call() -> None:
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["a", "b", "c"]), "done"],
        }
    )
    result = await run(_agent(max_spawn_total=2), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.is_error
    assert "may start 2 more children" in text_of(tool_result.content)
    assert result.children == []


async def test_parallel_spawn_calls_in_one_turn_share_the_cap_and_number_children_apart() -> None:
    model = ScriptedModel(
        {
            "boss": [
                [call("spawn_self", tasks=["a", "b"]), call("spawn_self", tasks=["c", "d"])],
                "done",
            ],
            "boss_child_1": ["1"],
            "boss_child_2": ["2"],
        }
    )
    result = await run(_agent(max_spawn_total=3), "go", provider=model)
    first, second = _results(result.messages)
    assert not first.is_error
    assert second.is_error and "may start 1 more child in all" in text_of(second.content)
    assert [c.name for c in result.children] == ["boss_child_1", "boss_child_2"]


async def test_children_cannot_spawn_at_the_default_depth() -> None:
    model = FunctionModel(spawn_once(lambda name: [f"sub of {name}"]))
    result = await run(_agent(), "go", provider=model)
    assert model.agents == ["boss", "boss_child_1", "boss"]
    child_request = model.requests[1]
    assert "spawn_self" not in {t.name for t in child_request.tools}
    assert result.children[0].output == "boss_child_1 done []"


async def test_the_depth_limit_holds_at_every_depth() -> None:
    model = FunctionModel(spawn_once(lambda name: [f"sub of {name}", f"other of {name}"]))
    result = await run(_agent(max_spawn_depth=2, max_spawn_total=100), "go", provider=model)
    depth2 = {"boss_child_1_child_1", "boss_child_1_child_2"}
    depth2 |= {"boss_child_2_child_1", "boss_child_2_child_2"}
    assert set(model.agents) == {"boss", "boss_child_1", "boss_child_2"} | depth2
    for request in model.requests:
        offered = "spawn_self" in {t.name for t in request.tools}
        assert offered == (request.agent_name not in depth2)
    assert len(result.children) == 2
    assert result.children[0].output.startswith("boss_child_1 done [[Task 1 of 2")


async def test_the_total_cap_covers_the_whole_run_tree() -> None:
    model = FunctionModel(spawn_once(lambda name: ["deeper"]))
    await run(_agent(max_spawn_depth=5, max_spawn_total=2), "go", provider=model)
    # boss -> child_1 -> child_1_child_1, which is refused: the pool of 2 is used up
    assert model.agents == [
        "boss",
        "boss_child_1",
        "boss_child_1_child_1",
        "boss_child_1_child_1",
        "boss_child_1",
        "boss",
    ]
    grandchild_last = model.requests[3]
    refusal = _results(grandchild_last.messages)[-1]
    assert refusal.is_error
    assert "max_spawn_total=2" in text_of(refusal.content)


async def test_exactly_the_limits_are_allowed() -> None:
    # max_spawn_children tasks in one call, and a spawn with one model call left for children
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["a", "b"]), "both done"],
            "boss_child_1": ["1"],
            "boss_child_2": ["2"],
        }
    )
    result = await run(_agent(max_spawn_children=2, max_steps=2), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert not tool_result.is_error
    assert [(c.output, c.steps) for c in result.children] == [("1", 1), ("2", 1)]
    assert result.output == "both done"


async def test_the_tool_description_says_whether_children_may_spawn() -> None:
    model = FunctionModel(spawn_once(lambda name: ["sub"]))
    await run(
        _agent(max_spawn_depth=2, max_spawn_children=3, max_spawn_total=7), "go", provider=model
    )
    descriptions = {
        r.agent_name: next(t.description for t in r.tools if t.name == "spawn_self")
        for r in model.requests
        if any(t.name == "spawn_self" for t in r.tools)
    }
    assert set(descriptions) == {"boss", "boss_child_1"}
    assert descriptions["boss"].startswith("Run copies of yourself")
    assert "At most 3 tasks per call and 7 children in all." in descriptions["boss"]
    assert descriptions["boss"].endswith("Children may spawn children of their own.")
    assert descriptions["boss_child_1"].endswith("Children cannot spawn further.")


# --------------------------------------------------------------------------- failures


async def test_a_failing_child_is_a_tool_error_and_the_parent_goes_on() -> None:
    boom = ModelError("upstream exploded", backend="test", model="m", status=400)
    model = ScriptedModel(
        {"boss": [call("spawn_self", tasks=["risky"]), "recovered"], "boss_child_1": [boom]}
    )
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.is_error
    assert "boss_child_1" in text_of(tool_result.content)
    assert "upstream exploded" in text_of(tool_result.content)
    assert result.output == "recovered"
    (child,) = result.children
    assert child.error is not None and "ModelError" in child.error
    assert child.output == ""


async def test_one_failing_child_among_several_is_reported_in_its_block() -> None:
    boom = ModelError("nope", backend="test", model="m", status=400)
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["good", "bad"]), "partial"],
            "boss_child_1": ["fine"],
            "boss_child_2": [boom],
        }
    )
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert not tool_result.is_error
    text = text_of(tool_result.content)
    assert "[Task 1 of 2, boss_child_1]\nTask: good\nAnswer:\nfine" in text
    assert "[Task 2 of 2, boss_child_2: FAILED]\nTask: bad\nError: ModelError" in text
    assert [c.error is None for c in result.children] == [True, False]


async def test_children_inherit_the_parents_remaining_steps() -> None:
    def fn(messages: list[Message], info: AgentInfo) -> Reply:
        if info.agent_name == "boss":
            results = _results(messages)
            if len(results) < 2:
                return call("noop") if not results else call("spawn_self", tasks=["loop"])
            return "parent finished"
        return call("noop")  # the child never answers

    def noop() -> str:
        """Do nothing."""
        return "ok"

    model = FunctionModel(fn)
    result = await run(_agent(tools=[noop], max_steps=5), "go", provider=model)
    # the parent spent 2 calls before spawning, so the child may make 3, not a fresh 5
    assert model.agents.count("boss_child_1") == 3
    (child,) = result.children
    assert child.steps == 3
    assert child.error is not None and "MaxStepsExceeded" in child.error
    assert child.usage.requests == 3
    assert result.output == "parent finished"


async def test_when_every_child_fails_the_tool_error_lists_each() -> None:
    boom = ModelError("nope", backend="test", model="m", status=400)
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["a", "b"]), "all failed"],
            "boss_child_1": [boom],
            "boss_child_2": [boom],
        }
    )
    result = await run(_agent(), "go", provider=model)
    (tool_result,) = _results(result.messages)
    assert tool_result.is_error
    head, first, second = text_of(tool_result.content).split("\n")
    assert head.endswith("every child failed:")
    assert first.startswith("[Task 1: boss_child_1] ModelError: ") and "nope" in first
    assert second.startswith("[Task 2: boss_child_2] ModelError: ") and "nope" in second


async def test_long_tasks_are_shortened_in_the_block_labels() -> None:
    long_task = "investigate " + "very " * 40 + "carefully"
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["a", long_task]), "done"],
            "boss_child_1": ["1"],
            "boss_child_2": ["2"],
        }
    )
    result = await run(_agent(), "go", provider=model)
    text = text_of(_results(result.messages)[0].content)
    label = next(line for line in text.splitlines() if line.startswith("Task: invest"))
    assert label == "Task: " + long_task[:119] + "…"
    assert "Task: a\n" in text  # short tasks are shown whole


# --------------------------------------------------------------------------- usage and events


async def test_child_usage_is_added_to_the_parent_and_reported_per_child() -> None:
    model = FunctionModel(spawn_once(lambda name: ["x", "y"]))
    result = await run(_agent(max_spawn_depth=2, max_spawn_total=10), "go", provider=model)
    assert result.usage.requests == len(model.requests)  # every call counted exactly once
    total = result.execute_usage
    for child in result.children:
        total = total + child.usage
    assert result.usage == total
    assert result.usage_by_phase["children"].requests == len(model.requests) - 2
    # each child's usage includes its own children (2 calls + 2 grandchildren of 1 call)
    assert [c.usage.requests for c in result.children] == [4, 4]
    assert all(c.steps == 2 for c in result.children)


async def test_a_failed_childs_usage_still_counts_its_own_childrens_calls() -> None:
    boom = ModelError("upstream exploded", backend="test", model="m", status=400)
    model = ScriptedModel(
        {
            "boss": [call("spawn_self", tasks=["risky"]), "recovered"],
            # the child spawns two grandchildren, who answer; then its own next call fails
            "boss_child_1": [call("spawn_self", tasks=["g1", "g2"]), boom],
            "boss_child_1_child_1": ["g1 done"],
            "boss_child_1_child_2": ["g2 done"],
        }
    )
    result = await run(_agent(max_spawn_depth=2), "go", provider=model)
    assert result.output == "recovered"
    (child,) = result.children
    assert child.error is not None and "upstream exploded" in child.error
    # the child's one paid call and its two grandchildren's; the failed call cost nothing
    assert child.usage.requests == 3
    assert result.usage_by_phase["children"] == child.usage
    assert result.usage.requests == 5  # = the boss's 2 + the child's subtree
    assert result.usage == result.execute_usage + child.usage
    assert child.steps == 2  # its own two calls, not its children's


async def test_detailed_stream_carries_child_events_tagged_with_name_and_lineage() -> None:
    model = FunctionModel(spawn_once(lambda name: ["x"]))
    agent = _agent(max_spawn_depth=2)
    events = [e async for e in run.stream(agent, "go", provider=model, detailed=True)]
    texts = {(e.agent_name, e.lineage) for e in events if isinstance(e, TextEvent)}
    assert texts == {
        ("boss", ()),
        ("boss_child_1", ("boss",)),
        ("boss_child_1_child_1", ("boss", "boss_child_1")),
    }
    child_types = [e.type for e in events if e.agent_name == "boss_child_1"]
    assert child_types[0] == "run_start"
    assert {"step", "usage", "tool_call", "tool_result", "text"} <= set(child_types)
    # the stream still ends with the parent's one RunCompleteEvent
    completes = [e for e in events if isinstance(e, RunCompleteEvent)]
    assert completes == [events[-1]]
    assert events[-1].agent_name == "boss"


async def test_default_stream_carries_only_the_parents_events() -> None:
    model = FunctionModel(spawn_once(lambda name: ["x"]))
    events = [e async for e in run.stream(_agent(), "go", provider=model)]
    assert {e.agent_name for e in events} == {"boss"}
    assert all(e.lineage == () for e in events)


async def test_a_failing_childs_error_event_does_not_reach_the_parent_stream() -> None:
    boom = ModelError("nope", backend="test", model="m", status=400)
    model = ScriptedModel(
        {"boss": [call("spawn_self", tasks=["bad"]), "ok"], "boss_child_1": [boom]}
    )
    events = [e async for e in run.stream(_agent(), "go", provider=model, detailed=True)]
    assert not any(isinstance(e, ErrorEvent) for e in events)
    assert any(e.agent_name == "boss_child_1" and e.type == "run_start" for e in events)
    assert isinstance(events[-1], RunCompleteEvent)


# --------------------------------------------------------------------------- cancellation


class _Hang:
    """A model whose children block forever and record their cancellation."""

    def __init__(self, children: int) -> None:
        self.children = children
        self.started = 0
        self.all_started = asyncio.Event()
        self.cancelled: list[str] = []

    async def __call__(self, messages: list[Message], info: AgentInfo) -> Reply:
        if info.agent_name == "boss":
            return call("spawn_self", tasks=[f"t{i}" for i in range(self.children)])
        self.started += 1
        if self.started == self.children:
            self.all_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(info.agent_name)
            raise
        return "never"


async def test_cancelling_the_parent_cancels_every_child() -> None:
    hang = _Hang(3)
    task = asyncio.create_task(run(_agent(), "go", provider=FunctionModel(hang)))
    await asyncio.wait_for(hang.all_started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(hang.cancelled) == ["boss_child_1", "boss_child_2", "boss_child_3"]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_leaving_a_stream_early_cancels_every_child() -> None:
    hang = _Hang(2)
    stream = run.stream(_agent(), "go", provider=FunctionModel(hang), detailed=True)
    async for event in stream:
        if event.lineage:  # a child's first event: the children are running
            break
    await asyncio.wait_for(hang.all_started.wait(), 10)
    await stream.aclose()
    assert sorted(hang.cancelled) == ["boss_child_1", "boss_child_2"]
    assert asyncio.all_tasks() == {asyncio.current_task()}
