"""A durable exo app run as its own process by the kill tests (python app.py CONFIG_JSON).

It registers one agent, launches DBOS on the given database, runs (or recovers) one run and
prints its result as JSON on its last line. Hooks the tests kill it at, chosen by ``stop_at``:

- ``tool``: the user tool ``work`` logs its idempotency key, writes the marker, then blocks;
- ``append``: the memory append writes the marker, then blocks.

Versions (the redeploy tests): ``version`` pins another application version, or
``"dbos-default"`` leaves DBOS's own (a hash of the workflows' source); ``new_workflow``
registers one more workflow (changed code); ``probe`` only launches, then exits.

``remember`` and ``recall`` share facts through the run's context (``ctx.context``).

The model calls go to the test's fake server (the real OpenAI SDK inside), which counts them;
a call the test wants to hang is made to hang there.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from exo import Agent, ToolContext
from exo.durable import DBOSAgent, launch, shutdown
from exo.memory_sqlite import SQLiteMemory
from exo.models.openai import OpenAIProvider


class SlowMemory(SQLiteMemory):
    """SQLite memory that can stop inside an append (the kill test's boundary)."""

    marker: Path | None = None

    async def append(self, conversation_id: str, messages: Any, *, usage: Any = None) -> None:
        if self.marker is not None:
            self.marker.write_text("append")
            await asyncio.sleep(3600)  # the test SIGKILLs the process here
        await super().append(conversation_id, messages, usage=usage)


async def _siblings_done(key: str) -> None:
    """Wait until the other children of this child's parent have finished, so the kill
    lands while this child's step is the only one in flight (a sibling still waiting for an
    answer the server already sent would be a second interrupted step, run again)."""
    from dbos import DBOS

    workflow = key.rsplit(":", 1)[0]  # {parent}:child:{n}:{step}
    parent, _, mine = workflow.rpartition(":child:")
    siblings = [f"{parent}:child:{n}" for n in range(1, int(mine))]
    async with asyncio.timeout(60):  # the test's kill waits for the marker; never forever
        while True:
            statuses = [await DBOS.get_workflow_status_async(s) for s in siblings]
            if all(st is not None and st.status == "SUCCESS" for st in statuses):
                return
            await asyncio.sleep(0.05)


def main(config: dict[str, Any]) -> None:
    work_dir = Path(config["dir"])
    marker = work_dir / "marker"
    log = work_dir / "keys.log"
    stop_at = config.get("stop_at")

    async def work(item: str, ctx: ToolContext) -> str:
        """Do the work on one item."""
        with log.open("a") as f:
            f.write(f"{item} {ctx.idempotency_key}\n")
        if stop_at == "tool" and item == config.get("stop_item", item) and not marker.exists():
            if "stop_item" in config:
                await _siblings_done(ctx.idempotency_key or "")
            marker.write_text("tool")
            await asyncio.sleep(3600)
        return f"worked on {item}" + (" (v2)" if config.get("v2") else "")

    def remember(fact: str, ctx: ToolContext) -> str:
        """Remember a fact for later calls (in the run's context)."""
        with log.open("a") as f:
            f.write(f"remember {ctx.idempotency_key}\n")
        ctx.context.state.setdefault("facts", []).append(fact)
        ctx.context.add_todo(f"use {fact}")
        return "remembered"

    def recall(ctx: ToolContext) -> str:
        """Recall the facts remembered so far."""
        facts = ctx.context.state.get("facts", [])
        return f"facts: {facts}; todos: {ctx.context.todo_text()}"

    memory = SlowMemory(work_dir / "memory.db")
    if stop_at == "append":
        memory.marker = marker
    agent = Agent(
        name="worker",
        model="openai:gpt-4o-mini",
        instructions="Do the work.",
        tools=[work, remember, recall],
        memory=memory,
        allow_self_spawn=bool(config.get("spawn")),
        max_spawn_depth=config.get("max_spawn_depth", 2),
        max_spawn_total=config.get("max_spawn_total", 20),
        planning_enabled=bool(config.get("plan")),
        max_steps=8,
    )
    provider = OpenAIProvider("gpt-4o-mini", api_key="test-key", base_url=config["base_url"])
    durable = DBOSAgent(agent, name="worker", provider=provider)
    schema = config.get("schema")
    dbos_config: dict[str, Any] = {"dbos_system_schema": schema} if schema else {}
    if config.get("version") == "dbos-default":  # DBOS's own: a hash of the workflows' source
        dbos_config["application_version"] = None
    if config.get("new_workflow"):  # the redeployed code registers one more workflow
        from dbos import DBOS

        @DBOS.workflow(name="exotest:added")
        async def added() -> None:
            return None

    launch(
        config["database_url"],
        name="exotest",
        application_version=config.get("version")
        if config.get("version") != "dbos-default"
        else None,
        dbos_config=dbos_config or None,
    )
    if config.get("probe"):  # only launch (and recover what DBOS recovers), then exit
        shutdown()
        print(json.dumps({"probe": True}), flush=True)
        return

    async def go() -> None:
        result = await durable.run(
            "do the job", run_id=config["run_id"], conversation_id=config.get("conversation")
        )
        print(json.dumps({"output": result.output, "steps": result.steps}), flush=True)

    try:
        asyncio.run(go())
    finally:
        shutdown()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
