"""Text made encodable: a property over many random strings, surrogates included."""

from __future__ import annotations

import random

import pytest

from exo._text import describe, encodable

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
