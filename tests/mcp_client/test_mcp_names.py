"""The tool-name sanitiser: any server's names fit ^[a-zA-Z0-9_-]{1,64}$, stay distinct, and do
not depend on the order the server lists them in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exo import ConfigError
from exo.mcp._names import tool_names

VALID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def test_valid_names_are_kept_and_prefixed() -> None:
    assert tool_names(["add", "get-file"], prefix=None, server="s") == ["add", "get-file"]
    assert tool_names(["add"], prefix="fs", server="s") == ["fs_add"]


def test_invalid_characters_become_underscores_and_long_names_are_cut() -> None:
    assert tool_names(["files.read/all"], prefix=None, server="s") == ["files_read_all"]
    (long,) = tool_names(["x" * 100], prefix=None, server="s")
    assert long == "x" * 64


def test_a_changed_name_that_collides_gets_a_hash_suffix_and_the_unchanged_one_stays() -> None:
    names = tool_names(["a.b", "a_b"], prefix=None, server="s")
    assert names[1] == "a_b"
    assert re.fullmatch(r"a_b_[0-9a-f]{8}", names[0])


def test_a_name_listed_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="collide: add"):
        tool_names(["add", "add"], prefix=None, server="s")


@given(st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=12, unique=True))
def test_any_distinct_names_become_distinct_valid_names_whatever_the_order(
    remote: list[str],
) -> None:
    names = tool_names(remote, prefix=None, server="s")
    assert all(VALID.fullmatch(n) for n in names)
    assert len(set(names)) == len(names)
    mapping = dict(zip(remote, names, strict=True))
    reordered = list(reversed(remote))
    assert (
        dict(zip(reordered, tool_names(reordered, prefix=None, server="s"), strict=True)) == mapping
    )
