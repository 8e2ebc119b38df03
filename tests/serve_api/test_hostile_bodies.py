"""Whatever a client sends, the answer is a result or a JSON error in the OpenAI shape: never a
500, a traceback or a hang (hypothesis, against the running server).

Bodies are valid requests with a field or two replaced by arbitrary JSON (so the checks past
parsing run too), or arbitrary JSON altogether.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.serve_api.conftest import Served

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["input_text", "text", "input_image", "image_url", "audio"])},
    optional={
        "text": st.text(max_size=4) | json_values,
        "image_url": st.sampled_from(["data:x", "data:image/png;base64,", "https://x/i.png"]),
    },
)
items = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "bot"])},
    optional={
        "content": st.text(max_size=8) | st.lists(parts, max_size=2) | json_values,
        "type": st.sampled_from(["message", "function_call", "function_call_output", "reasoning"]),
        "call_id": st.sampled_from(["c1", "c2"]),
        "id": st.text(max_size=3),
    },
)
USER = {"id": "u", "role": "user", "content": "Weather?"}
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.sampled_from(["weather", "nobody"]) | json_values,
    "input": st.lists(items, max_size=3).map(lambda i: [*i, USER]) | json_values,
    "messages": st.lists(items, max_size=3).map(lambda i: [*i, USER]) | json_values,
    "instructions": json_values,
    "previous_response_id": json_values,
    "temperature": st.floats(-1, 3) | json_values,
    "max_output_tokens": json_values,
    "max_tokens": json_values,
    "text": st.fixed_dictionaries({"format": json_values}),
    "response_format": json_values,
    "tools": json_values,
    "store": json_values,
    "stream_options": json_values,
    "threadId": json_values,
    "state": json_values,
    "context": json_values,
}
BASES = {
    "/v1/responses": {"model": "weather", "input": "Weather?"},
    "/v1/chat/completions": {"model": "weather", "messages": [USER]},
    "/agui/weather": {"threadId": "t", "runId": "r", "messages": [USER]},
}
changes = st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=2).flatmap(
    lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
)


def _check(response: httpx.Response) -> None:
    event(f"{response.request.url.path} {response.status_code}")
    assert response.status_code in {200, 400, 404, 409}, response.text
    if response.status_code != 200:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert "Traceback" not in error["message"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(change=changes, junk=json_values)
def test_any_body_gets_a_result_or_a_json_error(served: Served, change: Any, junk: Any) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for path, base in BASES.items():
            for body in ({**base, **change}, junk):
                response = client.post(path, json=body)
                _check(response)
                if path.startswith("/agui") and response.status_code == 200:
                    assert response.headers["content-type"].startswith("text/event-stream")
