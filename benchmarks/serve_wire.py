"""What exo's wire formats add per streamed event: CPU time to turn one run event into the
bytes a client receives, for OpenAI Responses, Chat Completions (its chunk encoding) and AG-UI.

    python benchmarks/serve_wire.py             # 200,000 text deltas each
    python benchmarks/serve_wire.py --events 50000

It times the translation only (no network, no server): the cost each format puts on top of
``run.stream`` for every text delta, the most frequent event of a stream.
"""

from __future__ import annotations

import argparse
import time

from ag_ui.core import RunAgentInput
from ag_ui.encoder import EventEncoder

from exo.serve._chat import _chunk
from exo.serve._responses import ResponseBuilder
from exo.serve._wire import sse
from exo.serve.agui import AguiStream
from exo.types import TextEvent


def per_event(label: str, n: int, step: object) -> None:
    start = time.process_time()
    for _ in range(n):
        step()  # type: ignore[operator]
    seconds = time.process_time() - start
    print(f"{label:<18} {seconds / n * 1e6:6.2f} µs per event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    n = parser.parse_args().events
    delta = TextEvent(agent_name="a", text="Hello, wor")

    builder = ResponseBuilder(response_id="resp_x", model="a", echo={})
    builder.start()

    def responses() -> None:
        for event in builder.feed(delta):
            sse(event, event["type"])

    head = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "a"}

    def chat() -> None:
        _chunk(head, {"content": delta.text})

    stream = AguiStream(RunAgentInput(thread_id="t", run_id="r", messages=[]), EventEncoder())

    def agui() -> None:
        for event in stream._on_text(delta):
            stream._encode(event)

    per_event("responses", n, responses)
    per_event("chat.completions", n, chat)
    per_event("ag-ui", n, agui)


if __name__ == "__main__":
    main()
