"""Human approval: tools and plans that wait for a person, pausing and resuming runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from exo import Agent, ConfigError, ModelError, run, tool
from exo._state import RunState
from exo.memory import InMemoryMemory
from exo.planning import STRING_TEMPLATE
from exo.testing import ScriptedModel, call
from exo.types import (
    ApprovalRequest,
    ApprovalRequiredEvent,
    RunCompleteEvent,
    StreamEvent,
    ToolResult,
    UserMessage,
)

RAN: list[str] = []


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    RAN.append(f"delete {path}")
    return f"deleted {path}"


def read_file(path: str) -> str:
    """Read a file."""
    RAN.append(f"read {path}")
    return f"contents of {path}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def agent(**kw: Any) -> Agent:
    base: dict[str, Any] = dict(name="ops", model="test:x", tools=[delete_file, read_file])
    base.update(kw)
    return Agent(**base)


def tool_results(messages: list[Any]) -> list[ToolResult]:
    return [m for m in messages if isinstance(m, ToolResult)]


# --------------------------------------------------------------------------- pause and resume


async def test_a_call_that_needs_approval_pauses_before_the_tool_runs() -> None:
    model = ScriptedModel([call("delete_file", path="a.txt"), "Deleted."])
    result = await run(agent(), "delete a.txt", provider=model)
    assert result.status == "paused"
    assert result.output == ""
    assert RAN == []  # the tool did not run
    assert len(model.requests) == 1  # nothing more was sent to the model
    (request,) = result.pending
    assert request == ApprovalRequest(
        kind="tool",
        call_id=request.call_id,
        tool_name="delete_file",
        arguments={"path": "a.txt"},
        agent_name="ops",
        lineage=(),
    )
    assert result.state is not None
    assert json.loads(json.dumps(result.state)) == result.state  # plain JSON data
    assert json.loads(json.dumps(result.to_dict()))["status"] == "paused"
    assert result.steps == 1 and result.usage.requests == 1


async def test_an_approved_call_runs_after_a_json_round_trip_without_double_counting() -> None:
    model = ScriptedModel([call("delete_file", path="a.txt"), "Deleted."])
    paused = await run(agent(), "delete a.txt", provider=model)
    state = json.loads(json.dumps(paused.state))
    call_id = paused.pending[0].call_id
    done = await run(agent(), resume=state, approvals={call_id: True}, provider=model)
    assert done.status == "completed" and done.pending == [] and done.state is None
    assert done.output == "Deleted."
    assert RAN == ["delete a.txt"]
    assert len(model.requests) == 2
    assert done.usage.requests == 2 and done.steps == 2
    (result,) = tool_results(done.messages)
    assert (result.content, result.is_error) == ("deleted a.txt", False)
    assert done.new_messages[0] == UserMessage(content="delete a.txt")
    assert [type(m).__name__ for m in done.new_messages] == [
        "UserMessage",
        "AssistantMessage",
        "ToolResult",
        "AssistantMessage",
    ]
    # the model's second request carries the whole turn, once
    assert model.requests[1].messages == done.messages[:-1]


@pytest.mark.parametrize(
    ("answer", "shown"),
    [(False, "was not approved, so it did not run. "), ("not on Fridays", ": not on Fridays.")],
)
async def test_a_denied_call_becomes_an_error_result_the_model_reads(
    answer: bool | str, shown: str
) -> None:
    model = ScriptedModel([call("delete_file", path="a.txt"), "I did not delete it."])
    paused = await run(agent(), "delete a.txt", provider=model)
    done = await run(
        agent(), resume=paused.state, approvals={paused.pending[0].call_id: answer}, provider=model
    )
    assert RAN == []
    (result,) = tool_results(model.requests[1].messages)
    assert result.is_error and shown in str(result.content)
    assert str(result.content).startswith("Error: the call of 'delete_file' was not approved")
    assert done.output == "I did not delete it."


async def test_the_whole_turn_is_held_and_siblings_run_after_the_answer() -> None:
    model = ScriptedModel([[call("read_file", path="r"), call("delete_file", path="d")], "ok"])
    paused = await run(agent(), "go", provider=model)
    assert [r.tool_name for r in paused.pending] == ["delete_file"]
    assert RAN == []  # not even the call that needs no approval ran
    done = await run(
        agent(), resume=paused.state, approvals={paused.pending[0].call_id: "no"}, provider=model
    )
    assert RAN == ["read r"]
    results = tool_results(done.messages)
    assert [(r.tool_name, r.is_error) for r in results] == [
        ("read_file", False),
        ("delete_file", True),
    ]


async def test_approve_tools_by_name_and_by_function_of_the_arguments() -> None:
    model = ScriptedModel([call("read_file", path="secret.txt"), "x"])
    paused = await run(agent(approve_tools=["read_file"]), "read", provider=model)
    assert paused.status == "paused" and paused.pending[0].tool_name == "read_file"

    async def sensitive(name: str, arguments: dict[str, Any]) -> bool:
        return "secret" in arguments.get("path", "")

    chooser = agent(tools=[read_file], approve_tools=sensitive)
    model = ScriptedModel([call("read_file", path="notes.txt"), "x"])
    assert (await run(chooser, "read", provider=model)).status == "completed"
    model = ScriptedModel([call("read_file", path="secret.txt"), "x"])
    assert (await run(chooser, "read", provider=model)).status == "paused"


async def test_an_approval_handler_answers_in_process() -> None:
    asked: list[ApprovalRequest] = []

    async def handler(request: ApprovalRequest) -> bool | str:
        asked.append(request)
        return request.arguments["path"] == "ok.txt" or "refused"

    model = ScriptedModel(
        [[call("delete_file", path="ok.txt"), call("delete_file", path="no.txt")], "done"]
    )
    result = await run(agent(approval_handler=handler), "go", provider=model)
    assert result.status == "completed"
    assert [r.arguments["path"] for r in asked] == ["ok.txt", "no.txt"]
    assert RAN == ["delete ok.txt"]
    assert [r.is_error for r in tool_results(result.messages)] == [False, True]


async def test_stream_yields_the_request_and_ends_paused_like_run() -> None:
    model = ScriptedModel([call("delete_file", path="a.txt"), "Deleted."])
    events: list[StreamEvent] = [e async for e in run.stream(agent(), "go", provider=model)]
    assert [e.type for e in events] == ["tool_call", "approval_required", "run_complete"]
    required, complete = events[1], events[2]
    assert isinstance(required, ApprovalRequiredEvent) and isinstance(complete, RunCompleteEvent)
    assert required.requests == complete.result.pending
    assert complete.result.status == "paused"
    resumed = [
        e
        async for e in run.stream(
            agent(),
            resume=complete.result.state,
            approvals={required.requests[0].call_id: True},
            provider=model,
        )
    ]
    assert resumed[0].type == "tool_result"
    assert isinstance(resumed[-1], RunCompleteEvent) and resumed[-1].result.output == "Deleted."


async def test_memory_saves_only_the_completed_turn() -> None:
    memory = InMemoryMemory()
    ops = agent(memory=memory)
    model = ScriptedModel([call("delete_file", path="a.txt"), "Deleted."])
    paused = await run(ops, "delete a.txt", provider=model, conversation_id="c1")
    assert await memory.load("c1") == []  # never a paused half
    done = await run(
        ops, resume=paused.state, approvals={paused.pending[0].call_id: True}, provider=model
    )
    assert done.conversation_id == "c1"
    saved = await memory.load("c1")
    assert saved == done.new_messages and saved[0] == UserMessage(content="delete a.txt")
    assert len(saved) == 4


# --------------------------------------------------------------------------- plans

PLAN = "1. Look\n2. Delete"


def planner_agent(**kw: Any) -> Agent:
    return agent(planning_enabled=True, approve_plan=True, **kw)


async def test_plan_approval_pauses_after_the_planner_and_injects_the_edited_plan() -> None:
    model = ScriptedModel({"ops_planner": [PLAN], "ops": ["Done."]})
    paused = await run(planner_agent(), "clean up", provider=model)
    assert paused.status == "paused" and model.agents == ["ops_planner"]
    (request,) = paused.pending
    assert (request.kind, request.call_id, request.plan) == ("plan", "plan", PLAN)
    edited = "1. Look only\n2. Report  \n"
    state = json.loads(json.dumps(paused.state))
    done = await run(planner_agent(), resume=state, plan=edited, provider=model)
    assert model.agents == ["ops_planner", "ops"]
    assert model.requests[1].messages[-1] == UserMessage(
        content=STRING_TEMPLATE.format(task="clean up", plan=edited)
    )
    assert model.requests[1].messages[-1].content == (
        f"Original task:\nclean up\n\nPlanner output:\n{edited}\n\n"
        "Use the planner output while completing the task."
    )
    assert done.usage.requests == 2  # the planner's call counted once
    assert done.plan is not None and done.plan.text == edited
    assert done.new_messages[0] == UserMessage(content="clean up")


@pytest.mark.parametrize(("answer", "injected"), [(True, True), (False, False)])
async def test_plan_accepted_or_rejected(answer: bool, injected: bool) -> None:
    model = ScriptedModel({"ops_planner": [PLAN], "ops": ["Done."]})
    paused = await run(planner_agent(), "clean up", provider=model)
    await run(planner_agent(), resume=paused.state, plan=answer, provider=model)
    sent = model.requests[1].messages[-1]
    expected = STRING_TEMPLATE.format(task="clean up", plan=PLAN) if injected else "clean up"
    assert sent == UserMessage(content=expected)


async def test_no_plan_to_inject_means_nothing_to_approve() -> None:
    failing = ModelError("planner down", backend="test", model="x")
    model = ScriptedModel({"ops_planner": [failing], "ops": ["Done."]})
    result = await run(
        planner_agent(planning_on_error="skip", max_retries=0), "clean up", provider=model
    )
    assert result.status == "completed" and result.output == "Done."
    model = ScriptedModel({"ops_planner": ["   "], "ops": ["Done."]})
    assert (await run(planner_agent(), "clean up", provider=model)).status == "completed"


async def test_plan_handler_edits_the_plan_in_process() -> None:
    model = ScriptedModel({"ops_planner": [PLAN], "ops": ["Done."]})
    ops = planner_agent(approval_handler=lambda r: r.plan + "\n3. Report")
    result = await run(ops, "clean up", provider=model)
    assert result.status == "completed"
    assert model.requests[1].messages[-1] == UserMessage(
        content=STRING_TEMPLATE.format(task="clean up", plan=PLAN + "\n3. Report")
    )


async def test_the_planner_never_runs_a_tool_that_needs_approval_unasked() -> None:
    model = ScriptedModel({"ops_planner": [call("delete_file", path="x"), PLAN], "ops": ["Done."]})
    result = await run(agent(planning_enabled=True), "go", provider=model)
    assert RAN == []
    (denied,) = tool_results(model.requests[1].messages)
    assert denied.is_error and "planner cannot ask" in str(denied.content)
    assert result.status == "completed"


# --------------------------------------------------------------------------- children


async def test_a_childs_request_reaches_the_inherited_handler_with_its_lineage() -> None:
    asked: list[ApprovalRequest] = []

    def handler(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    model = ScriptedModel(
        {
            "ops": [call("spawn_self", tasks=["delete a"]), "All done."],
            "ops_child_1": [call("delete_file", path="a"), "deleted a"],
        }
    )
    result = await run(agent(allow_self_spawn=True, approval_handler=handler), "go", provider=model)
    assert result.output == "All done."
    (request,) = asked
    assert (request.agent_name, request.lineage, request.tool_name) == (
        "ops_child_1",
        ("ops",),
        "delete_file",
    )
    assert RAN == ["delete a"]


async def test_a_paused_child_pauses_the_parent_then_resumes_child_then_parent() -> None:
    model = ScriptedModel(
        {
            "ops": [
                [call("spawn_self", tasks=["delete a", "read b"]), call("read_file", path="p")],
                "All done.",
            ],
            "ops_child_1": [call("delete_file", path="a"), "deleted a"],
            "ops_child_2": [call("read_file", path="b"), "read b"],
        }
    )
    ops = agent(allow_self_spawn=True)
    paused = await run(ops, "go", provider=model)
    assert paused.status == "paused"
    (request,) = paused.pending
    assert (request.agent_name, request.lineage, request.tool_name, request.arguments) == (
        "ops_child_1",
        ("ops",),
        "delete_file",
        {"path": "a"},
    )
    assert sorted(RAN) == ["read b", "read p"]  # the rest of the tree ran up to the pause
    before = len(model.requests)
    assert before == 4  # ops, child 1 (paused), child 2 twice
    state = json.loads(json.dumps(paused.state))
    done = await run(ops, resume=state, approvals={request.call_id: True}, provider=model)
    assert done.status == "completed" and done.output == "All done."
    assert sorted(RAN) == ["delete a", "read b", "read p"]  # nothing ran twice
    assert model.agents[before:] == ["ops_child_1", "ops"]  # the child goes on, then the parent
    assert [(c.name, c.output, c.steps) for c in done.children] == [
        ("ops_child_1", "deleted a", 2),
        ("ops_child_2", "read b", 2),
    ]
    assert done.usage.requests == len(model.requests) == 6  # every call counted once
    spawned, read = tool_results(done.messages)
    assert "deleted a" in str(spawned.content) and "read b" in str(spawned.content)
    assert read.content == "contents of p"


async def test_a_turn_paused_twice_own_call_then_child_runs_each_call_once() -> None:
    model = ScriptedModel(
        {
            "ops": [
                [call("delete_file", path="mine"), call("spawn_self", tasks=["delete theirs"])],
                "ok",
            ],
            "ops_child_1": [call("delete_file", path="theirs"), "deleted theirs"],
        }
    )
    ops = agent(allow_self_spawn=True)
    first = await run(ops, "go", provider=model)
    assert [r.agent_name for r in first.pending] == ["ops"] and RAN == []
    second = await run(
        ops, resume=first.state, approvals={first.pending[0].call_id: True}, provider=model
    )
    assert second.status == "paused" and RAN == ["delete mine"]
    assert [r.agent_name for r in second.pending] == ["ops_child_1"]
    done = await run(
        ops, resume=second.state, approvals={second.pending[0].call_id: True}, provider=model
    )
    assert RAN == ["delete mine", "delete theirs"]
    assert [r.content for r in tool_results(done.messages)] == ["deleted mine", "deleted theirs"]
    assert done.usage.requests == len(model.requests) == 4


async def test_a_paused_tree_streams_one_request_event_from_the_top() -> None:
    model = ScriptedModel(
        {
            "ops": [call("spawn_self", tasks=["delete a"]), "ok"],
            "ops_child_1": [call("delete_file", path="a"), "deleted a"],
        }
    )
    stream = run.stream(agent(allow_self_spawn=True), "go", provider=model, detailed=True)
    events = [e async for e in stream]
    required = [e for e in events if isinstance(e, ApprovalRequiredEvent)]
    assert [(e.agent_name, e.lineage) for e in required] == [("ops", ())]
    assert [(r.agent_name, r.lineage) for r in required[0].requests] == [("ops_child_1", ("ops",))]
    last = events[-1]
    assert isinstance(last, RunCompleteEvent) and last.result.pending == required[0].requests


async def test_a_childs_denied_call_reaches_the_child_model() -> None:
    model = ScriptedModel(
        {
            "ops": [call("spawn_self", tasks=["delete a"]), "ok"],
            "ops_child_1": [call("delete_file", path="a"), "kept a"],
        }
    )
    ops = agent(allow_self_spawn=True)
    paused = await run(ops, "go", provider=model)
    call_id = paused.pending[0].call_id
    done = await run(ops, resume=paused.state, approvals={call_id: "no"}, provider=model)
    assert RAN == [] and done.output == "ok"
    (denied,) = tool_results(model.requests[-2].messages)  # what the child's model read
    assert denied.is_error and str(denied.content).endswith(
        "was not approved, so it did not run: no. Do not repeat it; go on without it or ask "
        "the user."
    )


# --------------------------------------------------------------------------- bad resumes


async def _paused() -> tuple[Any, str]:
    model = ScriptedModel([call("delete_file", path="a.txt")])
    paused = await run(agent(), "go", provider=model)
    return paused.state, paused.pending[0].call_id


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda s, i: dict(resume=s, approvals={"nope": True, i: True}), "not a pending call"),
        (lambda s, i: dict(resume=s, approvals={}), "no answer for the pending call"),
        (lambda s, i: dict(resume=s, approvals={i: 1}), "must be True, False or a string"),
        (lambda s, i: dict(resume=s, approvals={i: True}, plan=True), "paused on tool calls"),
        (lambda s, i: dict(resume={**s, "run": {"x": 1}}), "malformed"),
        (lambda s, i: dict(resume="{not json"), "malformed"),
        (lambda s, i: dict(resume=[1]), "malformed"),
        (lambda s, i: dict(resume={**s, "pending": []}), "not paused"),
        (
            lambda s, i: dict(resume=json.loads(RunState(agent_name="ops", model="m").to_json())),
            "not paused",
        ),
        (lambda s, i: dict(approvals={i: True}), "resume= is missing"),
        (lambda s, i: dict(input="hi", resume=s, approvals={i: True}), "input= must be left out"),
        (lambda s, i: dict(), "needs the task"),
    ],
)
async def test_bad_resumes_are_config_errors(build: Any, message: str) -> None:
    state, call_id = await _paused()
    kwargs = build(state, call_id)
    with pytest.raises(ConfigError, match=message):
        await run(agent(), provider=ScriptedModel([]), **kwargs)


async def test_a_state_from_another_agent_is_refused() -> None:
    state, call_id = await _paused()
    other = agent(name="other")
    with pytest.raises(ConfigError, match="run of agent 'ops', not of 'other'"):
        await run(other, resume=state, approvals={call_id: True}, provider=ScriptedModel([]))


async def test_a_plan_pause_wants_a_plan_answer() -> None:
    model = ScriptedModel({"ops_planner": [PLAN], "ops": ["Done."]})
    paused = await run(planner_agent(), "clean up", provider=model)
    with pytest.raises(ConfigError, match="plan= is missing"):
        await run(planner_agent(), resume=paused.state, provider=model)
    with pytest.raises(ConfigError, match="not approvals="):
        await run(planner_agent(), resume=paused.state, approvals={"plan": True}, provider=model)


def test_settings_are_checked_at_construction() -> None:
    with pytest.raises(ConfigError, match="approve_tools: no tool named 'nope'"):
        agent(approve_tools=["nope"])
    with pytest.raises(ConfigError, match="needs planning_enabled"):
        agent(approve_plan=True)
    with pytest.raises(ConfigError, match="approval_handler must be a function"):
        agent(approval_handler="yes")
    with pytest.raises(ConfigError, match="requires_approval must be True or False"):
        tool(read_file, requires_approval="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- another process

_SCRIPT = """
import asyncio, json, sys
from exo import Agent, run, tool
from exo.testing import FunctionModel, call
from exo.types import ToolResult

@tool(requires_approval=True)
def delete_file(path: str) -> str:
    '''Delete a file.'''
    return f"deleted {path}"

def reply(messages, info):
    last = messages[-1]
    if isinstance(last, ToolResult):
        return f"model saw: {last.content}"
    return call("delete_file", path="a.txt")

model = FunctionModel(reply)
agent = Agent(name="ops", model="test:x", tools=[delete_file])

async def main(mode, path):
    if mode == "start":
        result = await run(agent, "delete a.txt", provider=model)
        with open(path, "w") as f:
            json.dump({"state": result.state, "id": result.pending[0].call_id}, f)
    else:
        saved = json.load(open(path))
        answer = True if mode == "approve" else "not today"
        result = await run(agent, resume=saved["state"], approvals={saved["id"]: answer},
                           provider=model)
        print(json.dumps({"output": result.output, "requests": len(model.requests),
                          "usage": result.usage.requests, "steps": result.steps}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize(
    ("mode", "output"),
    [("approve", "model saw: deleted a.txt"), ("deny", "model saw: Error: the call of")],
)
def test_a_paused_run_resumes_in_another_process(tmp_path: Path, mode: str, output: str) -> None:
    script = tmp_path / "resume.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    state = tmp_path / "state.json"
    subprocess.run([sys.executable, str(script), "start", str(state)], check=True)
    assert json.loads(state.read_text())["state"]["paused"] == "tools"
    done = subprocess.run(
        [sys.executable, str(script), mode, str(state)], check=True, capture_output=True, text=True
    )
    answer = json.loads(done.stdout)
    assert answer["output"].startswith(output)
    if mode == "deny":
        assert "not today" in answer["output"]
    # the new process sent one request: the answer after the tool; counts carry on
    assert (answer["requests"], answer["usage"], answer["steps"]) == (1, 2, 2)
