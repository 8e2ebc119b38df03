"""exo's event-stream decoder gives the same events however the body is cut into chunks.

A property over generated streams (hypothesis): events with one or several ``data:`` lines,
``event:`` names, comments, ``id`` / ``retry`` fields, llama.cpp's ``error:`` field, and any
mix of LF, CR and CRLF line ends, cut at arbitrary points (a CRLF split between two chunks
included). The events decoded from the cuts equal those of the whole body, and equal what
the stream was built from.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from exo.models._openai_sse import SSEDecoder

Event = tuple[str | None, bytes]
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
).map(lambda s: s.encode())
NAME = st.none() | st.sampled_from(["message", "error", "content_block_delta", "response.done"])
ENDS = st.sampled_from([b"\n", b"\r", b"\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A body and the events it holds."""
    body: list[bytes] = []
    expected: list[Event] = []
    for _ in range(draw(st.integers(0, 6))):
        end = draw(ENDS)
        if draw(st.booleans()):
            body.append(b": keep-alive" + end + end)  # a comment alone: no event
        lines = [draw(TEXT) for _ in range(draw(st.integers(1, 3)))]
        name = draw(NAME)
        via_error_field = name == "error" and len(lines) == 1 and draw(st.booleans())
        if via_error_field:
            body.append(b"error: " + lines[0] + end)
        else:
            if name is not None:
                body.append(b"event: " + name.encode() + end)
            if draw(st.booleans()):
                body.append(b"id: 7" + end + b"retry: 100" + end)
            body.extend(b"data: " + line + end for line in lines)
        body.append(end)
        data = b"\n".join(lines)
        expected.append((name, data))
    return b"".join(body), expected


def decode(chunks: list[bytes]) -> list[Event]:
    decoder = SSEDecoder()
    out: list[Event] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.close()


@settings(max_examples=400, deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_chunking_decodes_to_the_same_events(
    stream: tuple[bytes, list[Event]], cuts: list[int]
) -> None:
    body, expected = stream
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert decode([body]) == expected
    assert decode(chunks) == expected
