"""Static typing of typed output, checked by ``mypy`` (this file is in the mypy config).

``assert_type`` fails the type check when the inferred type differs, so ``mypy`` (strict, as
in CI) proves that ``run(Agent(output_type=T))`` gives ``RunResult[T]`` without casts. It
never runs: the functions are only type-checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, assert_type

from pydantic import BaseModel
from typing_extensions import TypedDict

from exo import Agent, RunResult, run


class City(BaseModel):
    name: str


class Town(BaseModel):
    size: int


@dataclass
class Point:
    x: int


class Pair(TypedDict):
    left: str


async def inferred() -> None:
    assert_type(await run(Agent(name="a"), "hi"), RunResult[str])
    assert_type((await run(Agent(name="a"), "hi")).output, str)
    assert_type((await run(Agent(name="a", output_type=City), "hi")).output, City)
    assert_type((await run(Agent(name="a", output_type=Point), "hi")).output, Point)
    assert_type((await run(Agent(name="a", output_type=Pair), "hi")).output, Pair)
    assert_type((await run(Agent(name="a", output_type=list[City]), "hi")).output, list[City])
    assert_type(
        (await run(Agent(name="a", output_type=dict[str, City]), "hi")).output, dict[str, City]
    )
    assert_type(run.sync(Agent(name="a", output_type=City), "hi").output, City)


async def named() -> None:
    # A Literal or a union is not a class: name it on Agent[...] as well.
    yes_no = Agent[Literal["yes", "no"]](name="a", output_type=Literal["yes", "no"])
    assert_type((await run(yes_no, "hi")).output, Literal["yes", "no"])
    either = Agent[City | Town](name="a", output_type=City | Town)
    assert_type((await run(either, "hi")).output, City | Town)
