"""Every ```python block in docs/ and README.md runs, offline, in page order.

Blocks marked ```python no-run are skipped (they need a key or a server). ``openai:`` and
``anthropic:`` models resolve to the offline TestModel through the public registry, so the
spec's own examples run as written. Top-level ``await`` works; ``asyncio.run`` works too.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
import threading
import types
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from exo.models import register_provider, unregister_provider
from exo.testing import TestModel

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [code for info, code in BLOCK.findall(text) if "no-run" not in info]


def _run_page(codes: list[str], name: str) -> int:
    """Run the blocks in order; return how many ran (all of them, or it raised)."""
    # A real module in sys.modules, as a pasted script has: @dataclass looks its module up.
    module = types.ModuleType(f"docs_{name}")
    sys.modules[module.__name__] = module
    namespace: dict[str, Any] = module.__dict__
    ran = 0
    try:
        for i, code in enumerate(codes):
            compiled: CodeType = compile(
                code, f"{name}[block {i}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            if compiled.co_flags & inspect.CO_COROUTINE:
                asyncio.run(eval(compiled, namespace))
            else:
                exec(compiled, namespace)
            ran += 1
    finally:
        sys.modules.pop(module.__name__, None)
    return ran


# pages without python blocks (cli.md: its console examples run in tests/cli) are not listed
RUNNABLE = [p for p in PAGES if p.exists() and blocks(p)]


def test_the_feature_pages_have_runnable_examples() -> None:
    names = {p.name for p in RUNNABLE}
    for page in ("planning.md", "core.md", "models.md", "memory.md", "README.md"):
        assert page in names


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_pages_say_how_to_run_their_examples_before_the_first_one(page: Path) -> None:
    # A reader pasting a block with top-level `await` into a file gets a SyntaxError unless
    # the page said how to run it (python -m asyncio, or asyncio.run) before that block.
    text = page.read_text(encoding="utf-8")
    first_await = min(
        text.index(code)
        for code in blocks(page)
        if re.search(r"^\s*(async for|.*await )", code, re.M)
    )
    said = text[:first_await]
    assert "python -m asyncio" in said, page.name
    assert "asyncio.run(" in said, page.name


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_doc_page_examples_run(page: Path) -> None:
    codes = blocks(page)
    for backend in ("openai", "anthropic"):
        register_provider(backend, TestModel)
    errors: list[BaseException] = []
    ran: list[int] = []

    def target() -> None:
        try:
            ran.append(_run_page(codes, page.stem))
        except BaseException as exc:
            errors.append(exc)

    # a thread of its own: no running loop there, so asyncio.run works; daemon, so a page that
    # hangs fails this test instead of keeping the interpreter alive
    thread = threading.Thread(target=target, name=f"docs-{page.stem}", daemon=True)
    try:
        thread.start()
        thread.join(120)
    finally:
        for backend in ("openai", "anthropic"):
            unregister_provider(backend)
    assert not thread.is_alive(), f"{page.name}: the examples did not finish within 120 s"
    if errors:
        raise errors[0]
    assert ran == [len(codes)], f"{page.name}: ran {ran} of {len(codes)} blocks"
