"""The plan cache (docs/planning.md, "Plan cache"): hit, miss, TTL, key, stores, processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import exo
from exo import Agent, ConfigError, run
from exo.memory import default_memory_path
from exo.memory_sqlite import SQLiteMemory
from exo.plan_cache import (
    InMemoryPlanCache,
    PlanCache,
    PostgresPlanCache,
    SQLitePlanCache,
    plan_key,
    resolve_plan_cache,
)
from exo.planning import STRING_TEMPLATE
from exo.testing import ScriptedModel
from exo.types import PlanCompleteEvent, Usage, UserMessage, WarningEvent

SRC = Path(exo.__file__).resolve().parents[1]
PLAN = "1. Look it up\n2. Answer"


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def search(query: str) -> str:
    """Search for a query."""
    return query


def planned(cache: object, **kw: object) -> Agent:
    return Agent(
        name="r",
        model="test:m",
        instructions="Be brief.",
        tools=[search],
        planning_enabled=True,
        plan_cache=cache,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def model(runs: int = 1, plans: int = 1) -> ScriptedModel:
    return ScriptedModel({"r_planner": [PLAN] * plans, "r": ["done"] * runs})


async def test_a_hit_makes_no_planner_call_and_is_marked() -> None:
    agent = planned(InMemoryPlanCache())
    first_model, second_model = model(), ScriptedModel({"r": ["done"]})
    first = await run(agent, "Find X", provider=first_model)
    second = await run(agent, "Find X", provider=second_model)
    assert first_model.agents == ["r_planner", "r"]
    assert second_model.agents == ["r"]  # no planner request at all
    assert first.plan is not None and not first.plan.cached
    assert second.plan is not None and second.plan.cached
    assert (second.plan.text, second.plan.steps, second.plan.usage) == (PLAN, 0, Usage())
    assert second.usage_by_phase["plan"] == Usage()
    # The executor sees the same injected input as with a fresh plan.
    expected = STRING_TEMPLATE.format(task="Find X", plan=PLAN)
    assert second_model.requests[0].messages[-1] == UserMessage(content=expected)
    assert first_model.requests[-1].messages[-1] == UserMessage(content=expected)


async def test_the_stream_marks_a_hit_on_the_plan_event() -> None:
    agent = planned(InMemoryPlanCache())
    await run(agent, "Find X", provider=model())
    events = [e async for e in run.stream(agent, "Find X", provider=model(plans=0), detailed=True)]
    plans = [e.plan for e in events if isinstance(e, PlanCompleteEvent)]
    assert len(plans) == 1 and plans[0].cached and plans[0].text == PLAN


async def test_ttl_expiry_plans_again() -> None:
    clock = Clock()
    agent = planned(InMemoryPlanCache(ttl=60, clock=clock))
    await run(agent, "Find X", provider=model())
    clock.now += 59.9
    hit = await run(agent, "Find X", provider=model(plans=0))
    assert hit.plan is not None and hit.plan.cached
    clock.now += 0.1  # 60 s after storing: expired
    fresh_model = model()
    miss = await run(agent, "Find X", provider=fresh_model)
    assert miss.plan is not None and not miss.plan.cached
    assert fresh_model.agents == ["r_planner", "r"]


@pytest.mark.parametrize(
    "change",
    [
        {"task": "Find Y"},
        {"planning_instructions": "Plan in three steps."},
        {"instructions": "Be thorough."},
        {"planning_model": "test:other"},
        {"tools": []},
        {"planning_tools": []},
        {"temperature": 0.3},
        {"planning_max_steps": 2},
    ],
)
async def test_the_key_changes_with_what_shapes_the_plan(change: dict[str, object]) -> None:
    cache = InMemoryPlanCache()
    agent = planned(cache)
    base_key = await plan_key(agent, "Find X", [])
    task = str(change.pop("task", "Find X"))
    other = agent.replace(**change)
    assert await plan_key(other, task, []) != base_key
    assert await plan_key(agent.replace(), "Find X", []) == base_key  # stable otherwise
    await run(agent, "Find X", provider=model())
    again = model()
    result = await run(other, task, provider=again)
    assert result.plan is not None and not result.plan.cached
    assert again.agents[0] == "r_planner"


async def test_callable_instructions_key_on_their_output() -> None:
    text = {"value": "Plan A."}
    agent = planned(InMemoryPlanCache(), planning_instructions="").replace(
        instructions=lambda: text["value"]
    )
    first = await plan_key(agent, "Find X", [])
    assert await plan_key(agent, "Find X", []) == first
    text["value"] = "Plan B."
    assert await plan_key(agent, "Find X", []) != first


async def test_history_is_part_of_the_key() -> None:
    agent = planned(InMemoryPlanCache())
    empty = await plan_key(agent, "Find X", [])
    assert await plan_key(agent, "Find X", [UserMessage(content="earlier")]) != empty


@pytest.mark.parametrize("plan", ["", "   "])
async def test_empty_plans_are_not_cached(plan: str) -> None:
    cache = InMemoryPlanCache()
    agent = planned(cache)
    await run(agent, "Find X", provider=ScriptedModel({"r_planner": [plan], "r": ["done"]}))
    assert await cache.get(await plan_key(agent, "Find X", [])) is None


async def test_failed_plans_are_not_cached() -> None:
    cache = InMemoryPlanCache()
    agent = planned(cache, planning_on_error="skip")
    down = exo.ModelError("down", backend="test", model="m")
    failing = ScriptedModel({"r_planner": [down], "r": ["ok"]})
    result = await run(agent, "Find X", provider=failing)
    assert result.plan is not None and result.plan.skipped is not None
    assert await cache.get(await plan_key(agent, "Find X", [])) is None


async def test_off_by_default_and_every_run_plans() -> None:
    agent = planned(False)
    assert Agent(name="a").plan_cache_backend is None and agent.plan_cache_backend is None
    recording = model(runs=2, plans=2)
    await run(agent, "Find X", provider=recording)
    await run(agent, "Find X", provider=recording)
    assert recording.agents == ["r_planner", "r", "r_planner", "r"]


def test_resolving_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXO_HOME", str(tmp_path / "home"))
    default = resolve_plan_cache(True)
    assert isinstance(default, SQLitePlanCache) and default.path == default_memory_path()
    on_memory = Agent(name="a", memory=str(tmp_path / "m.db"), plan_cache=True)
    assert isinstance(on_memory.plan_cache_backend, SQLitePlanCache)
    assert on_memory.plan_cache_backend.path == tmp_path / "m.db"
    mem_object = Agent(name="a", memory=SQLiteMemory(tmp_path / "o.db"), plan_cache=True)
    assert getattr(mem_object.plan_cache_backend, "path", None) == tmp_path / "o.db"
    url = "postgresql://u:secret@127.0.0.1:1/db"
    pg = Agent(name="a", memory=url, plan_cache=True).plan_cache_backend
    assert isinstance(pg, PostgresPlanCache) and "secret" not in repr(pg)
    assert isinstance(resolve_plan_cache(url), PostgresPlanCache)
    assert isinstance(resolve_plan_cache(str(tmp_path / "p.db")), SQLitePlanCache)
    own = InMemoryPlanCache()
    assert resolve_plan_cache(own) is own and isinstance(own, PlanCache)
    for bad in (123, ""):
        with pytest.raises(ConfigError) as info:
            Agent(name="a", plan_cache=bad)  # type: ignore[arg-type]
        assert info.value.parameter == "plan_cache"
    with pytest.raises(ConfigError):
        InMemoryPlanCache(ttl=0)


async def test_sqlite_ttl_and_replace(tmp_path: Path) -> None:
    clock = Clock()
    cache = SQLitePlanCache(tmp_path / "sub" / "plans.db", ttl=10, clock=clock)
    assert await cache.get("k") is None
    await cache.put("k", "old")
    await cache.put("k", "new")
    assert await cache.get("k") == "new"
    clock.now += 10
    assert await cache.get("k") is None


async def test_sqlite_shares_the_memory_file(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    agent = planned(True, memory=str(path))
    await run(agent, "Find X", provider=model(), conversation_id="c1")
    memory = SQLiteMemory(path)
    try:
        assert await memory.list_conversations() == ["c1"]  # memory's tables untouched
    finally:
        await memory.aclose()
    hit = await run(agent.replace(), "Find X", provider=model(plans=0))
    assert hit.plan is not None and hit.plan.cached


CHILD = """
import asyncio, json, sys
from exo import Agent, run
from exo.testing import ScriptedModel

def search(query: str) -> str:
    '''Search for a query.'''
    return query

agent = Agent(name="r", model="test:m", instructions="Be brief.", tools=[search],
              planning_enabled=True, plan_cache=sys.argv[1])
# No planner replies: a planner call would fail the run.
model = ScriptedModel({"r": ["done"]})
result = asyncio.run(run(agent, sys.argv[2], provider=model))
print(json.dumps({"cached": result.plan.cached, "text": result.plan.text,
                  "agents": model.agents}))
"""


def _child(tmp_path: Path, cache: str, task: str) -> dict[str, object]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, str(script), cache, task],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


async def test_another_process_reads_the_plan_from_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "plans.db")
    await run(planned(path), "Find X", provider=model())
    assert _child(tmp_path, path, "Find X") == {"cached": True, "text": PLAN, "agents": ["r"]}


@pytest.mark.postgres
async def test_another_process_reads_the_plan_from_postgres(tmp_path: Path) -> None:
    from memory.memory_store import postgres_dsn

    dsn = postgres_dsn()
    task = f"Find X {uuid.uuid4()}"  # the table is shared by every run of this test
    clock = Clock()
    clock.now = time.time()  # the child reads with the real clock and the default TTL
    cache = PostgresPlanCache(dsn, ttl=5, clock=clock)
    await run(planned(cache), task, provider=model())
    assert _child(tmp_path, dsn, task) == {"cached": True, "text": PLAN, "agents": ["r"]}
    clock.now += 5
    assert await cache.get(await plan_key(planned(cache), task, [])) is None


def test_the_command_line_plan_panel_says_cached(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from exo.cli import app

    agent_file = tmp_path / "agent.yaml"
    agent_file.write_text(
        "name: helper\nmodel: test:exec\nplanning_enabled: true\n"
        f"plan_cache: {tmp_path / 'plans.db'}\n"
    )
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(agent_file), "Compare A and B"])
    second = runner.invoke(app, ["run", str(agent_file), "Compare A and B"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "cached" not in first.stderr and "tokens ─" in first.stderr
    assert "cached ─" in second.stderr


async def test_a_cached_structured_plan_is_tracked_step_by_step() -> None:
    # planning_format="steps" caches the rendered checklist; a hit reads the steps back, so
    # the executor gets the same numbered todos and ticks them off as with a fresh plan.
    steps = '{"steps": [{"title": "Search for X", "done_when": "found", "tools": ["search"]},'
    steps += ' {"title": "Answer", "done_when": "said", "tools": []}]}'
    agent = planned(InMemoryPlanCache(), planning_format="steps")
    fresh = await run(agent, "Find X", provider=ScriptedModel({"r_planner": [steps], "r": ["ok"]}))
    again_model = ScriptedModel({"r": ["ok"]})
    again = await run(agent, "Find X", provider=again_model)
    assert again_model.agents == ["r"]
    assert fresh.plan is not None and again.plan is not None and again.plan.cached
    assert [s.title for s in again.plan.checklist] == ["Search for X", "Answer"]
    assert again.plan.checklist == fresh.plan.checklist
    assert again_model.requests[0].messages[-1] == fresh.messages[len(fresh.messages) - 2]


class BrokenCache:
    """A plan cache whose database is down."""

    def __init__(self, *, get: bool = True, put: bool = True) -> None:
        self.fail_get, self.fail_put = get, put

    def __repr__(self) -> str:
        return "BrokenCache()"

    async def get(self, key: str) -> str | None:
        if self.fail_get:
            raise OSError("connection refused")
        return None

    async def put(self, key: str, plan: str) -> None:
        if self.fail_put:
            raise OSError("disk full")


@pytest.mark.parametrize(
    ("cache", "what"),
    [
        (BrokenCache(), "looking the plan up failed"),
        (BrokenCache(get=False), "storing the plan failed"),
        (SQLitePlanCache("/proc/no/such/dir/plans.db"), "looking the plan up failed"),
    ],
)
async def test_a_failing_cache_warns_and_the_run_plans_without_it(cache: object, what: str) -> None:
    provider = model()
    events = [e async for e in run.stream(planned(cache), "Find X", provider=provider)]
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and warnings[0].code == "plan_cache"
    assert what in warnings[0].message and "planned without it" in warnings[0].message
    result = events[-1].result  # type: ignore[union-attr]
    assert result.status == "completed" and result.plan.text == PLAN
    assert provider.agents == ["r_planner", "r"]


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(3))  # a race: each round is a new chance to lose it
async def test_many_runs_creating_the_postgres_table_at_once_all_succeed(round_: int) -> None:
    import asyncpg

    from memory.memory_store import postgres_dsn

    dsn = postgres_dsn()
    schema = f"exo_plan_race_{uuid.uuid4().hex[:8]}"  # a table of its own: created here
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        join = "&" if "?" in dsn else "?"
        url = f"{dsn}{join}search_path={schema}"  # asyncpg sends unknown params as settings
        caches = [PostgresPlanCache(url) for _ in range(20)]  # as 20 processes would
        await asyncio.gather(*(c.put(f"k{i}", PLAN) for i, c in enumerate(caches)))
        assert [await c.get(f"k{i}") for i, c in enumerate(caches)] == [PLAN] * 20
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
