"""A plan is capped: over ``planning_max_chars`` it is cut with a visible marker and a warning;
at or under the cap it goes into the spec's templates byte for byte.
"""

from __future__ import annotations

import pytest

from exo import Agent, ConfigError, run
from exo.planning import CUT_MARKER, STRING_TEMPLATE, SYSTEM_TEMPLATE, cap_plan
from exo.testing import ScriptedModel
from exo.types import RunCompleteEvent, SystemMessage, TextBlock, WarningEvent


def _agent(limit: int) -> Agent:
    return Agent(name="a", model="test:m", planning_enabled=True, planning_max_chars=limit)


@pytest.mark.parametrize("size", [1, 99, 100])
async def test_a_plan_within_the_cap_is_injected_byte_for_byte(size: int) -> None:
    plan = "p" * size
    model = ScriptedModel({"a_planner": [plan], "a": ["done"]})
    events = [e async for e in run.stream(_agent(100), "task", provider=model)]
    assert not any(isinstance(e, WarningEvent) for e in events)
    sent = model.requests[1].messages[-1].content
    assert sent == STRING_TEMPLATE.format(task="task", plan=plan)


@pytest.mark.parametrize("size", [101, 1000, 1_000_000])
async def test_a_longer_plan_is_cut_with_a_marker_and_a_warning(size: int) -> None:
    plan = "p" * size
    model = ScriptedModel({"a_planner": [plan], "a": ["done"]})
    events = [e async for e in run.stream(_agent(100), "task", provider=model)]
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert [w.code for w in warnings] == ["plan_cut"]
    assert f"{size:,} characters" in warnings[0].message
    cut = "p" * 100 + CUT_MARKER.format(kept=100, total=size)
    sent = model.requests[1].messages[-1].content
    assert sent == STRING_TEMPLATE.format(task="task", plan=cut)
    result = events[-1]
    assert isinstance(result, RunCompleteEvent)
    assert result.result.plan is not None and result.result.plan.text == cut


async def test_content_block_input_gets_the_cut_plan_in_its_system_message() -> None:
    model = ScriptedModel({"a_planner": ["q" * 500], "a": ["done"]})
    await run(_agent(10), [TextBlock(text="task")], provider=model)
    system = model.requests[1].messages[-2]
    assert system == SystemMessage(
        content=SYSTEM_TEMPLATE.format(plan="q" * 10 + CUT_MARKER.format(kept=10, total=500))
    )


def test_the_default_cap_is_20000_characters() -> None:
    assert Agent(name="a", model="test:m").planning_max_chars == 20_000
    assert cap_plan("x" * 20_000, 20_000) == ("x" * 20_000, None)
    assert cap_plan("x" * 20_001, 20_000)[1] == 20_001


@pytest.mark.parametrize("bad", [0, -5, True, "100"])
def test_planning_max_chars_is_validated(bad: object) -> None:
    with pytest.raises(ConfigError):
        Agent(name="a", model="test:m", planning_max_chars=bad)  # type: ignore[arg-type]
