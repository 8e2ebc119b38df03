"""What starting exo imports: a feature not used costs nothing at start-up (issue 19).

Each check runs in a new interpreter (this test process has imported everything already):
``import exo`` loads none of the run loop, pydantic or the models; a run on the default raw
path over exo's own HTTP session imports neither vendor SDK; every name of ``exo.__all__``
resolves through the package's lazy exports.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import exo

IMPORT_EXO = "import sys, exo; print(' '.join(sorted(sys.modules)))"

# a loopback server answering each API once with a final answer, then one exo run on it
RUN_ON = """
import asyncio, json, sys
from aiohttp import web

ANSWERS = {
    "/v1/chat/completions": {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "done"}}]},
    "/v1/responses": {"id": "r", "object": "response", "created_at": 1, "model": "m",
        "status": "completed", "output": [{"type": "message", "id": "m", "role": "assistant",
        "status": "completed", "content": [{"type": "output_text", "text": "done",
        "annotations": []}]}]},
    "/v1/messages": {"id": "msg", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "done"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}},
}

async def handle(request):
    return web.json_response(ANSWERS[request.path])

async def main(model):
    app = web.Application()
    for path in ANSWERS:
        app.router.add_post(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    import os
    os.environ.update(OPENAI_API_KEY="sk-x", ANTHROPIC_API_KEY="sk-x",
                      OPENAI_BASE_URL=base + "/v1", ANTHROPIC_BASE_URL=base,
                      VLLM_BASE_URL=base + "/v1")
    from exo import Agent, run
    result = await run(Agent(name="a", model=model), "hi")
    await runner.cleanup()
    print(result.output, " ".join(sorted(sys.modules)))

asyncio.run(main(sys.argv[1]))
"""


def _modules(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_exo_loads_no_run_machinery() -> None:
    modules = _modules(["-c", IMPORT_EXO])
    assert "exo" in modules
    for heavy in ("exo.runner", "exo._loop", "pydantic", "asyncio", "openai", "anthropic"):
        assert heavy not in modules


@pytest.mark.parametrize("model", ["openai:m", "openai-responses:m", "anthropic:m", "vllm:m"])
def test_a_run_on_the_raw_path_imports_no_vendor_sdk(model: str) -> None:
    modules = _modules(["-c", RUN_ON, model])
    assert "done" in modules  # the run answered
    assert "aiohttp" in modules and "exo.models._lane" in modules  # over exo's own lane
    assert "openai" not in modules and "anthropic" not in modules


def test_every_export_resolves() -> None:
    for name in exo.__all__:
        assert getattr(exo, name) is not None
    assert set(exo.__all__) <= set(dir(exo))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        exo.nope  # noqa: B018
