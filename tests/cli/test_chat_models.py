"""``exo chat`` keeps the conversation; ``exo models`` lists the backends."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from typer.testing import CliRunner

from exo.cli import app
from exo.memory_sqlite import SQLiteMemory
from exo.models import BUILTIN_BACKENDS
from exo.types import UserMessage, text_of


def test_chat_turns_see_the_conversation(cli: CliRunner, agent_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    result = cli.invoke(
        app,
        ["chat", f"{agent_dir}/agent.py", "--no-plan", "--memory", str(db), "-c", "c1"],
        input="First question\nSecond question\n/exit\n",
    )
    assert result.exit_code == 0, result.output
    # The test model restates the newest user message: each turn answers its own question.
    answers = [ln for ln in result.stdout.splitlines() if ln.startswith("1. Understand")]
    assert answers == [
        "1. Understand the task: First question",
        "1. Understand the task: Second question",
    ]
    assert "conversation c1" in result.stderr
    assert result.stderr.count("tokens: execute") == 2
    # Both turns are one conversation, in order.
    assert _user_texts(db, "c1") == ["First question", "Second question"]


def _user_texts(db: Path, conversation_id: str) -> list[str]:
    async def load() -> list[str]:
        memory = SQLiteMemory(db)
        try:
            history = await memory.load(conversation_id)
        finally:
            await memory.aclose()
        return [text_of(m.content) for m in history if isinstance(m, UserMessage)]

    return asyncio.run(load())


def test_chat_new_starts_a_fresh_conversation(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(
        app,
        ["chat", f"{agent_dir}/agent.py", "--no-plan"],
        input="First question\n/new\nOther question\n",  # ends with EOF, no /exit
    )
    assert result.exit_code == 0, result.output
    answers = [ln for ln in result.stdout.splitlines() if ln.startswith("1. Understand")]
    assert answers == [
        "1. Understand the task: First question",
        "1. Understand the task: Other question",
    ]
    assert "new conversation chat-" in result.stderr


def test_chat_keeps_going_after_a_failed_turn(cli: CliRunner, broken_file: Path) -> None:
    result = cli.invoke(app, ["chat", str(broken_file)], input="hello\nagain\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("error: broken:x (HTTP 500): upstream exploded") == 2


def test_chat_sqlite_memory_resumes_a_conversation(
    cli: CliRunner, agent_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    args = ["chat", f"{agent_dir}/agent.py", "--no-plan", "--memory", str(db), "-c", "c1"]
    assert cli.invoke(app, args, input="Remember me\n").exit_code == 0
    later = cli.invoke(app, args, input="Who was first?\n")
    assert later.exit_code == 0, later.output
    assert "1. Understand the task: Who was first?" in later.stdout
    assert _user_texts(db, "c1") == ["Remember me", "Who was first?"]


def test_chat_rejects_unknown_backends(cli: CliRunner) -> None:
    result = cli.invoke(app, ["chat", "--model", "nope:x"], input="hi\n")
    assert result.exit_code == 2
    assert "unknown backend 'nope'" in result.stderr


def test_models_lists_every_builtin_backend(cli: CliRunner) -> None:
    result = cli.invoke(app, ["models"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:] if line.strip()}
    assert set(BUILTIN_BACKENDS) <= set(rows)
    assert rows["test"].split()[1:3] == ["yes", "built"]
    assert "[local]" in rows["local"]
    assert "EXO_LOCAL_MODEL_PATH" in result.stdout  # under the description
    # The test suite runs without API keys, so an installed OpenAI backend asks for one.
    expected = "set OPENAI_API_KEY" if importlib.util.find_spec("openai") else "not installed"
    assert expected in rows["openai"]


def test_version(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("exo ")
