"""API keys never leak: not in logs (DEBUG, every logger), errors, reprs, results or memory.

The key is a unique sentinel, given through the environment or ``api_key=``; the runs
stream and not, call a tool, save to an SQLite memory file, and end with a 401. Then every
log record, every exception in the chain, every repr and the raw bytes of the memory files
are searched for it. The fake server checks that the key really was sent.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from exo import Agent, ModelError, run
from exo.models import get_provider
from exo.models.base import Provider
from exo.types import RunResult
from reliability.clients import make_provider
from reliability.fakeserver import MODELS, FakeServer, Reply, answer, tools
from reliability.support import BACKENDS, drive

LOGGERS = ("", "exo", "openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "aiohttp")
ProviderFactory = Callable[..., Provider]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [err]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def _error_texts(err: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(err))]
    for e in _chain(err):
        texts += [str(e), repr(e), repr(e.args), repr(getattr(e, "__notes__", None))]
        texts += [repr(vars(e)) if hasattr(e, "__dict__") else ""]
    return texts


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            texts += _error_texts(record.exc_info[1])
    return texts


def _read_files(folder: Path) -> bytes:
    """Every byte of every file in ``folder`` (the SQLite file and its journals)."""
    files = [f for f in folder.iterdir() if f.is_file()]
    assert any(f.suffix == ".db" for f in files)
    return b"".join(f.read_bytes() for f in files)


@pytest.mark.parametrize("via", ["env", "argument"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_api_key_appears_nowhere(
    server: FakeServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    backend: str,
    via: str,
) -> None:
    sentinel = f"sk-exo-sentinel-{uuid.uuid4().hex}"
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    memory = tmp_path / "memory.db"
    agent = Agent(
        name="keeper",
        model=f"{backend}:{MODELS[backend]}",
        instructions="Keep secrets.",
        tools=[add],
        memory=str(memory),
    )
    if via == "env":
        for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            monkeypatch.setenv(var, sentinel)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        provider = get_provider(agent.model)  # what the runner resolves, from the registry
    else:
        provider = make_provider(backend, server, key=sentinel)
    server.expected_key = sentinel
    server.script(tools(("add", '{"a": 1, "b": 2}')), answer("three"), answer("still three"))
    texts: list[str] = []
    errors: list[BaseException] = []
    results: list[RunResult] = []
    try:
        results.append(await run(agent, "add", conversation_id="c-1", provider=provider))
        results.append(
            await drive(agent, "again", provider=provider, stream=True, conversation_id="c-1")
        )
        server.expected_key = "a-different-key"  # the server now rejects ours: a 401
        for stream in (False, True):
            with pytest.raises(ModelError) as caught:
                await drive(agent, "fail", provider=provider, stream=stream)
            assert caught.value.status == 401
            errors.append(caught.value)
        texts += [repr(agent), repr(provider), str(provider)]
    finally:
        await provider.aclose()

    assert {a.key for a in server.attempts} == {sentinel}  # the key was really used
    assert [r.output for r in results] == ["three", "still three"]
    for result in results:
        texts += [repr(result), str(result.to_dict())]
    for err in errors:
        texts += _error_texts(err)
    texts += _log_texts(caplog)
    assert caplog.records  # DEBUG logging was on and captured
    stored = _read_files(tmp_path)
    assert b"still three" in stored  # the memory really holds the conversation
    assert sentinel.encode() not in stored
    leaks = [t for t in texts if sentinel in t]
    assert leaks == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_server_that_echoes_the_key_does_not_make_exo_repeat_it(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    """A misbehaving proxy puts the whole key in its 401 message; exo's error hides it."""
    err, sentinel = await _echoed_401(server, providers, backend, stream)
    assert sentinel not in str(err) and sentinel not in repr(err) and sentinel not in err.detail


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    "backend",
    [
        "openai",
        "openai-responses",
        "anthropic",
    ],
)
async def test_a_key_the_server_echoes_is_not_reachable_through_the_exception_chain(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    err, sentinel = await _echoed_401(server, providers, backend, stream)
    assert [t for t in _error_texts(err) if sentinel in t] == []


async def _echoed_401(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> tuple[ModelError, str]:
    sentinel = f"sk-exo-sentinel-{uuid.uuid4().hex}"
    server.expected_key = "the-right-key"
    server.echo_full_key = True
    agent = Agent(name="keeper", model="test:m")
    with pytest.raises(ModelError) as caught:
        await drive(agent, "hi", provider=providers(backend, key=sentinel), stream=stream)
    assert caught.value.status == 401
    assert server.attempts[0].key == sentinel
    return caught.value, sentinel


ECHOES = [
    pytest.param(False, "line", id="non-json-200-body"),
    pytest.param(True, "line", id="malformed-sse-line"),
    pytest.param(True, "event", id="sse-error-event"),
]


@pytest.mark.parametrize(("stream", "where"), ECHOES)
@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_key_the_server_quotes_in_any_failure_reaches_no_error_text(
    server: FakeServer,
    providers: ProviderFactory,
    backend: str,
    raw: bool,
    stream: bool,
    where: str,
) -> None:
    """The key echoed in a body exo quotes, or keeps on a chained exception (a JSON decoder's
    ``.doc``, an SDK error's ``.body``), appears in no message, event, attribute or chain."""
    sentinel = f"sk-exo-sentinel-{uuid.uuid4().hex}"
    server.script(Reply(echo=f"Authorization: Bearer {sentinel}", echo_in=where))
    provider = providers(backend, key=sentinel, raw=raw)
    agent = Agent(name="keeper", model="test:m")
    events: list[str] = []
    with pytest.raises(ModelError) as caught:
        if stream:
            async with aclosing(run.stream(agent, "hi", provider=provider, max_retries=0)) as it:
                async for event in it:
                    events.append(repr(event))
        else:
            await run(agent, "hi", provider=provider, max_retries=0)
    assert server.attempts[0].key == sentinel  # the key was really sent, and echoed back
    texts = _error_texts(caught.value) + events
    assert any("ErrorEvent" in e for e in events) or not stream
    assert [t for t in texts if sentinel in t] == []


@pytest.mark.parametrize("flag", ["--debug", "--json"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cli_never_prints_a_key_the_server_echoes(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, backend: str, flag: str
) -> None:
    """``exo run --debug`` prints the whole traceback chain; ``--json`` the error. Neither
    shows the key a server quoted back (exit 3: a ModelError)."""
    from typer.testing import CliRunner

    from exo.cli import app

    sentinel = f"sk-exo-sentinel-{uuid.uuid4().hex}"
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(var, sentinel)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    server.responder = lambda _: Reply(echo=f"x-api-key: {sentinel}")
    model = f"{backend}:{MODELS[backend]}"
    result = CliRunner().invoke(app, ["run", "hi", "--model", model, "--no-plan", flag])
    assert result.exit_code == 3, result.output
    assert server.attempts and all(a.key == sentinel for a in server.attempts)
    if flag == "--debug":
        assert "Traceback" in result.stderr  # the chain really was printed
    assert sentinel not in result.stdout + result.stderr
