"""The one redaction step every provider error passes: messages and the whole chain."""

from __future__ import annotations

import json

import httpx2

from exo.errors import ModelError
from exo.models._common import PLACEHOLDER_KEY, REDACTED, redact

KEY = "sk-redaction-test-0123456789"


def _error(message: str = "failed") -> ModelError:
    return ModelError(message, backend="b", model="m", hint=f"hint {KEY}", partial_text=KEY)


def _texts(exc: BaseException) -> str:
    out, todo, seen = [], [exc], set()
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        out += [str(e), repr(e.args), repr(vars(e))]
        todo += [c for c in (e.__cause__, e.__context__) if c is not None]
    return "".join(out)


def test_the_error_itself_is_cleaned() -> None:
    err = redact(_error(f"server said {KEY}"), (KEY,))
    assert KEY not in _texts(err) and REDACTED in str(err) and REDACTED in err.detail
    assert err.hint == f"hint {REDACTED}" and err.partial_text == REDACTED


def test_a_json_decoders_doc_is_cleaned_in_place_and_stays_chained() -> None:
    try:
        json.loads(f"<html>{KEY}</html>")
    except ValueError as exc:
        cause = exc
    err = _error()
    err.__cause__ = cause
    redact(err, (KEY,))
    assert err.__cause__ is cause and KEY not in cause.doc  # type: ignore[attr-defined]
    assert KEY not in _texts(err)


def test_nested_bodies_and_context_links_are_cleaned() -> None:
    inner = RuntimeError({"error": {"message": [f"echo {KEY}"]}})
    inner.body = {"detail": (KEY, 1)}  # type: ignore[attr-defined]
    middle = ValueError("middle")
    middle.__context__ = inner
    err = _error()
    err.__cause__ = middle
    redact(err, (KEY,))
    assert middle.__context__ is inner and KEY not in _texts(err)


def test_an_exception_holding_a_response_body_with_the_key_is_unlinked() -> None:
    response = httpx2.Response(401, content=f'{{"echo": "{KEY}"}}'.encode())
    holder = RuntimeError("status error")
    holder.response = response  # type: ignore[attr-defined]
    err = _error()
    err.__cause__ = holder
    redact(err, (KEY,))
    assert err.__cause__ is None and err.__suppress_context__


def test_the_placeholder_of_keyless_servers_is_not_a_secret() -> None:
    err = redact(_error(f"sent {PLACEHOLDER_KEY}"), (PLACEHOLDER_KEY, ""))
    assert PLACEHOLDER_KEY in err.detail
