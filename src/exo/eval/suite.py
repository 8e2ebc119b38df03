"""What an eval suite is: tasks, the tools they are solved with, and checks a program runs.

A suite is a :class:`Suite`; :func:`load_suite` finds one by name (``"basic"`` is
``exo.eval.suites.basic``), by module (``"mypkg.evals:SUITE"``) or by file
(``"evals/mine.py"``, attribute ``SUITE``). Every task brings a *reference solution*: the tool
calls that solve it and the final answer. :func:`reference_model` replays those, so a suite
checks itself offline (the reference passes every task) and the harness can be tested on a
model that is known to be right.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exo.errors import ConfigError
from exo.testing import AgentInfo, FunctionModel, Reply, call
from exo.tools import Tool
from exo.types import Message, ToolResult, UserMessage, text_of

__all__ = [
    "Check",
    "Step",
    "Suite",
    "Task",
    "answer_of",
    "file_has",
    "file_lines",
    "load_suite",
    "reference_model",
    "says",
]

Check = Callable[[str, Path], bool]
"""``check(output, workdir) -> passed``: the answer text and the task's workspace."""


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call of a reference solution."""

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One task: a prompt, its starting files, how to check it, and a reference solution.

    Attributes:
        id: Short unique name (``"city-diff-1"``).
        prompt: What the agent is asked.
        check: Decides whether a run passed (see :data:`Check`).
        reference: The tool calls that solve it, in order.
        answer: The reference's final answer.
        files: Files written into the fresh workspace before the run (name → text).
    """

    id: str
    prompt: str
    check: Check
    reference: tuple[Step, ...] = ()
    answer: str = ""
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    """A named set of tasks and the tools every task is solved with.

    Attributes:
        name: The suite's name.
        description: One line on what it measures.
        instructions: The agent's instructions when the eval's agent has none.
        tasks: The tasks.
        tools: ``tools(workdir)`` returns fresh tools bound to one run's workspace.
    """

    name: str
    description: str
    instructions: str
    tasks: tuple[Task, ...]
    tools: Callable[[Path], Sequence[Tool | Callable[..., Any]]]

    def __post_init__(self) -> None:
        ids = [t.id for t in self.tasks]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"suite {self.name!r} has duplicate task ids", parameter="suite")


# --------------------------------------------------------------------------- checks

_ANSWER = re.compile(r"answer\s*:", re.IGNORECASE)


def answer_of(output: str) -> str:
    """The part of ``output`` that is the answer: after the last ``ANSWER:``, else all of it.

    Thousands separators between digits are removed (``182,000`` → ``182000``).
    """
    parts = _ANSWER.split(output)
    text = parts[-1] if len(parts) > 1 else output
    return re.sub(r"(?<=\d)[,_ ](?=\d{3}\b)", "", text)


def _mentions(text: str, value: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w]|\.\d)", text, re.IGNORECASE) is not None


def says(expected: str, *, wrong: Sequence[str] = ()) -> Check:
    """Pass when the answer mentions ``expected`` as a whole word and none of ``wrong``."""

    def check(output: str, workdir: Path) -> bool:
        text = answer_of(output)
        return _mentions(text, expected) and not any(_mentions(text, w) for w in wrong)

    return check


def file_lines(name: str, lines: Sequence[str]) -> Check:
    """Pass when file ``name`` holds exactly ``lines`` (surrounding blanks ignored)."""

    def check(output: str, workdir: Path) -> bool:
        path = workdir / name
        if not path.is_file():
            return False
        got = [ln.strip() for ln in path.read_text().strip().splitlines()]
        return got == list(lines)

    return check


def file_has(name: str, *values: str) -> Check:
    """Pass when file ``name`` mentions every one of ``values`` as a whole word."""

    def check(output: str, workdir: Path) -> bool:
        path = workdir / name
        if not path.is_file():
            return False
        text = answer_of(path.read_text())
        return all(_mentions(text, v) for v in values)

    return check


# --------------------------------------------------------------------------- loading


def load_suite(reference: str) -> Suite:
    """Load a suite by name, ``module[:attr]`` or file path (attribute ``SUITE``).

    Raises:
        ConfigError: nothing loadable is found, or it is not a :class:`Suite`.
    """
    target, _, attr = reference.partition(":")
    attr = attr or "SUITE"
    if target.endswith(".py"):
        module = _import_file(Path(target))
    else:
        name = target if "." in target else f"exo.eval.suites.{target}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"no eval suite {reference!r} ({exc})",
                parameter="suite",
                hint="name a shipped suite such as 'basic', a module, or a .py file",
            ) from exc
    suite = getattr(module, attr, None)
    if not isinstance(suite, Suite):
        raise ConfigError(
            f"{reference!r} has no exo.eval.Suite named {attr!r}",
            parameter="suite",
            hint="define SUITE = Suite(...) in the module",
        )
    return suite


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"suite file {str(path)!r} does not exist", parameter="suite")
    spec = importlib.util.spec_from_file_location(f"_exo_suite_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import suite file {str(path)!r}", parameter="suite")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- reference model


def _task_of(messages: list[Message], suite: Suite) -> Task | None:
    users = [text_of(m.content) for m in messages if isinstance(m, UserMessage)]
    last = users[-1] if users else ""
    # The prompt that appears latest in the text (a plan may quote the task too).
    found = [t for t in suite.tasks if t.prompt in last]
    return max(found, key=lambda t: len(t.prompt)) if found else None


def reference_model(suite: Suite, *, solve: bool = True) -> FunctionModel:
    """A test model that solves every task of ``suite`` with its reference (or fails them).

    Planner calls (agents named ``*_planner``) get a one-line plan. With ``solve=False`` the
    model answers "I do not know." to everything: a model known to fail.
    """

    def reply(messages: list[Message], info: AgentInfo) -> Reply:
        if info.agent_name.endswith("_planner"):
            return "1. Look up what is needed.\n2. Compute, then answer."
        task = _task_of(messages, suite)
        if not solve or task is None:
            return "I do not know."
        done = sum(isinstance(m, ToolResult) for m in messages)
        if done < len(task.reference):
            step = task.reference[done]
            return call(step.tool, json.dumps(dict(step.arguments)))
        return task.answer

    return FunctionModel(reply, model="reference" if solve else "clueless")
