"""Text made encodable: a property over many random strings, surrogates included."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx2
import pytest

from exo import Agent, run
from exo._text import describe, encodable
from reliability.fuzzwire import Boundary, build, json_seeds

POOLS = [
    (0x20, 0x7E),  # ASCII
    (0xA0, 0x2FF),  # Latin
    (0x4E00, 0x4FFF),  # CJK
    (0xD800, 0xDFFF),  # surrogates: lone, or pairs by chance
    (0x1F300, 0x1F6FF),  # astral (emoji)
]


def _random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 40)):
        low, high = rng.choice(POOLS)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


@pytest.mark.parametrize("seed", range(20))
def test_encodable_text_always_encodes_and_keeps_good_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        text = _random_text(rng)
        safe = encodable(text)
        safe.encode("utf-8")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            assert safe != text
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in safe)
            lone = sum(
                0xD800 <= ord(c) <= 0xDFFF
                for c in text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
            )
            assert safe.count("\\ud") == lone  # each lone surrogate is a visible escape
        else:
            assert safe is text  # well-formed text is untouched (the same object)
        assert encodable(safe) is safe  # once is enough


def test_a_pair_written_as_two_code_points_is_joined() -> None:
    assert encodable("\ud83d\ude00") == "\U0001f600"
    assert encodable("a\udcffb") == "a\\udcffb"


class _Raises:
    def __str__(self) -> str:
        raise KeyError("x")


def test_describe_never_raises() -> None:
    assert describe(_Raises()) == "<_Raises object: str() raised KeyError>"
    assert describe("x\ud800") == "x\\ud800"


def _described_by_data() -> Any:
    """A tool whose docstring was generated from data: a file name that is not UTF-8."""

    def listing(path: str) -> str:
        return path

    listing.__doc__ = (
        "List a folder, e.g. report-\udcff.txt.\n\nArgs:\n    path: A folder like data-\ud800/."
    )
    return listing


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize("protocol", ["openai", "openai-responses", "anthropic"])
async def test_a_tool_description_with_lone_surrogates_is_sent_escaped(
    protocol: str, raw: bool
) -> None:
    """Found by the outside test: a raw TypeError / UnicodeEncodeError on every call of a run
    offering such a tool (the descriptions never passed the transcript boundary)."""
    sent: list[bytes] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        return httpx2.Response(200, json=json_seeds(protocol)[0])

    boundary = Boundary()
    boundary.handle = handle  # type: ignore[method-assign]
    agent = Agent(name="a", model="test:m", tools=[_described_by_data()])
    result = await run(agent, "go", provider=build(protocol, raw, boundary))
    assert result.output == "Hello there, friend."
    text = sent[0].decode("utf-8")
    assert "report-\\\\udcff.txt" in text and "data-\\\\ud800/" in text
    assert json.loads(text)
