"""Checking a resume: ``run(agent, resume=state, approvals=..., plan=...)``.

:func:`restore` turns ``result.state`` of a paused run (after any JSON round-trip) back into
its :class:`~exo._state.RunState` and checks the answers. Every mistake is a
:class:`~exo.errors.ConfigError` raised before anything runs: a state that is malformed, not
paused or from another agent; an answer for a call that is not pending, a pending call with
no answer, an answer that is not ``True`` / ``False`` / a string; ``plan=`` for a run paused
on tools, or ``approvals=`` for one paused on its plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from exo._state import RunState
from exo.approval import STATE_FORMAT, Answer, PausedKind, requests_adapter
from exo.errors import ConfigError
from exo.types import ApprovalRequest, AssistantMessage, RunResult

if TYPE_CHECKING:
    from exo.agent import Agent

__all__ = ["Paused", "restore"]


@dataclass(slots=True, kw_only=True)
class Paused:
    """A checked resume: the restored state and the checked answers.

    Attributes:
        kind: What the run paused on.
        state: The run's state as it was when it paused.
        answers: Tool call id → answer (``kind="tools"``).
        plan: The answer for the plan (``kind="plan"``).
    """

    kind: PausedKind
    state: RunState
    answers: dict[str, Answer]
    plan: Answer = True

    @property
    def task(self) -> Any:
        """The user's input (for a plan pause)."""
        assert self.state.original_input is not None
        return self.state.original_input.content


def restore(agent: Agent[Any], resume: object, approvals: object, plan: object) -> Paused:
    """Check a resume (state and answers) and restore the paused run.

    Raises:
        ConfigError: the state is malformed, not paused or another agent's; an answer is
            unknown, missing or not ``True`` / ``False`` / a string.
    """
    kind, pending, state = _load(resume)
    if state.agent_name != agent.name:
        raise ConfigError(
            f"run(resume=...): this state is a run of agent {state.agent_name!r}, not of "
            f"{agent.name!r}",
            parameter="resume",
            hint="resume a paused run with the agent that started it",
        )
    if kind == "plan":
        if approvals:
            raise ConfigError(
                "run(resume=...): the run paused on its plan, so answer it with plan=True, "
                "False or the edited plan text, not approvals=",
                parameter="approvals",
            )
        if plan is None:
            raise ConfigError(
                "run(resume=...): the run paused on its plan and plan= is missing",
                parameter="plan",
                hint="pass plan=True to accept it, plan=False to run unplanned, or the edited text",
            )
        if not isinstance(plan, bool | str):
            raise _bad_answer("plan", plan)
        if state.plan is None or state.original_input is None:
            raise _malformed("a plan pause without its plan or input")
        return Paused(kind="plan", state=state, answers={}, plan=plan)
    if plan is not None:
        raise ConfigError(
            "run(resume=...): plan= answers a paused plan, but this run paused on tool calls",
            parameter="plan",
            hint="answer them with approvals={call_id: True | False | 'reason'}",
        )
    return Paused(kind="tools", state=state, answers=_check_approvals(pending, approvals))


def _check_approvals(pending: list[ApprovalRequest], approvals: object) -> dict[str, Answer]:
    ids = [r.call_id for r in pending]
    if approvals is None:
        approvals = {}
    if not isinstance(approvals, Mapping):
        raise ConfigError(
            f"run(): approvals must be a dict of call id → True | False | 'reason', got "
            f"{type(approvals).__name__}",
            parameter="approvals",
        )
    unknown = [k for k in approvals if k not in ids]
    if unknown:
        raise ConfigError(
            f"run(): approvals names {unknown[0]!r}, which is not a pending call of this run; "
            f"the pending calls are {ids}",
            parameter="approvals",
        )
    missing = [i for i in ids if i not in approvals]
    if missing:
        names = {r.call_id: r.tool_name for r in pending}
        shown = ", ".join(f"{i!r} ({names[i]})" for i in missing)
        raise ConfigError(
            f"run(): approvals has no answer for the pending call {shown}",
            parameter="approvals",
            hint="answer every call in result.pending: True, False or a reason to deny",
        )
    answers: dict[str, Answer] = {}
    for key, value in approvals.items():
        if not isinstance(value, bool | str):
            raise _bad_answer(f"approvals[{key!r}]", value)
        answers[key] = value
    return answers


def _load(resume: object) -> tuple[PausedKind, list[ApprovalRequest], RunState]:
    if isinstance(resume, RunResult):
        raise ConfigError(
            "run(resume=...) takes the result's state, not the result",
            parameter="resume",
            hint="pass resume=result.state",
        )
    if isinstance(resume, str | bytes):
        try:
            resume = json.loads(resume)
        except ValueError:
            raise _malformed("it is not JSON") from None
    if not isinstance(resume, dict):
        raise _malformed(f"it is a {type(resume).__name__}, not a dict")
    if resume.get("format") != STATE_FORMAT:
        if "messages" in resume or "agent_name" in resume:
            raise ConfigError(
                "run(resume=...): this state is not paused: only result.state of a paused "
                "run (status 'paused') can be resumed",
                parameter="resume",
            )
        raise _malformed(f"its format is not {STATE_FORMAT!r}")
    kind = resume.get("paused")
    if kind not in ("tools", "plan"):
        raise _malformed("'paused' is neither 'tools' nor 'plan'")
    try:
        pending = requests_adapter().validate_python(resume.get("pending"))
        state = RunState.from_json(json.dumps(resume.get("run")))
    except (ValidationError, TypeError, ValueError) as exc:
        raise _malformed(f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if not pending:
        raise ConfigError(
            "run(resume=...): this state is not paused (nothing is pending)", parameter="resume"
        )
    if kind == "tools":
        _check_turn(state, pending)
    return kind, pending, state


def _check_turn(state: RunState, pending: list[ApprovalRequest]) -> None:
    last = state.messages[-1] if state.messages else None
    if not isinstance(last, AssistantMessage) or not last.tool_calls:
        raise _malformed("its transcript does not end with the held tool calls")
    ids = {c.id for c in last.tool_calls}
    own = [r for r in pending if r.agent_name == state.agent_name and r.lineage == state.lineage]
    if any(r.kind != "tool" for r in pending) or any(r.call_id not in ids for r in own):
        raise _malformed("a pending request is not a call of the held turn")
    if len(own) < len(pending) and not any(h.children for h in state.held.values()):
        raise _malformed("a child's request, but no child waits")


def _malformed(why: str) -> ConfigError:
    return ConfigError(
        f"run(resume=...): the state is malformed ({why})",
        parameter="resume",
        hint="pass result.state of a paused run as it was (json.dumps / json.loads round-trip "
        "it unchanged)",
    )


def _bad_answer(parameter: str, value: object) -> ConfigError:
    return ConfigError(
        f"run(): {parameter} must be True, False or a string, got {type(value).__name__} "
        f"({value!r:.80})",
        parameter=parameter,
    )
