"""Structural checks of request bodies, as the real APIs make them, and reading them back.

:func:`validate` returns the problems the real API would reject a request for (an empty list
when it is fine): roles and content types, tool-call / tool-result pairing, argument types,
tool declarations. :func:`read_request` extracts what scripted responders need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reliability.wire import Seen

__all__ = ["read_request", "validate"]

Problems = list[str]


def _is_schema(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "object"


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


def validate(protocol: str, body: object, stream: bool) -> Problems:
    """Problems the real API would reject ``body`` for (``[]`` when it is well formed)."""
    if not isinstance(body, Mapping):
        return ["the body is not a JSON object"]
    problems: Problems = []
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model must be a non-empty string")
    if bool(body.get("stream")) != stream:
        problems.append("stream flag does not match the request kind")
    check = {"openai": _chat, "openai-responses": _responses, "anthropic": _anthropic}[protocol]
    check(body, problems)
    _output(protocol, body, problems)
    return problems


# --------------------------------------------------------------------------- typed output


def _output(protocol: str, body: Mapping[str, Any], problems: Problems) -> None:
    """How each API checks a requested output format and a forced tool choice."""
    fmt: Any = None
    if protocol == "openai" and "response_format" in body:
        rf = body["response_format"]
        fmt = rf.get("json_schema") if rf.get("type") == "json_schema" else None
        if fmt is None:
            problems.append("response_format: type json_schema needs a json_schema object")
    elif protocol == "openai-responses" and "text" in body:
        fmt = body["text"].get("format")
        if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
            problems.append("text.format: type json_schema expected")
            fmt = None
    if fmt is not None:
        if not isinstance(fmt.get("name"), str) or not fmt["name"] or len(fmt["name"]) > 64:
            problems.append("output format: name must be 1-64 characters")
        if not _is_schema(fmt.get("schema")):
            problems.append("output format: schema must have type object at its root")
        elif fmt.get("strict") is True:
            problems.extend(_strict_problems(fmt["schema"], "schema"))
    choice = body.get("tool_choice")
    names = [t.get("name") or t.get("function", {}).get("name") for t in body.get("tools") or ()]
    forced = choice in ("required", "any") or (
        isinstance(choice, Mapping) and choice.get("type") == "any"
    )
    if (
        isinstance(choice, Mapping)
        and choice.get("type") == "tool"
        and choice.get("name") not in names
    ):
        problems.append(f"tool_choice names {choice.get('name')!r}, which is not a tool")
    if forced and not names:
        problems.append("tool_choice forces a tool call, but no tools are given")


def _strict_problems(node: Any, where: str) -> Problems:
    """What OpenAI's strict mode rejects: an object without additionalProperties false or
    with a property not in required."""
    out: Problems = []
    if isinstance(node, list):
        for n, item in enumerate(node):
            out += _strict_problems(item, f"{where}[{n}]")
    elif isinstance(node, Mapping):
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                out.append(f"{where}: strict mode needs additionalProperties: false")
            if set(node.get("required", [])) != set(node["properties"]):
                out.append(f"{where}: strict mode needs every property in required")
        for key, value in node.items():
            if isinstance(value, Mapping | list):
                out += _strict_problems(value, f"{where}.{key}")
    return out


# --------------------------------------------------------------------------- chat completions


def _chat(body: Mapping[str, Any], problems: Problems) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages must be a non-empty list")
        return
    pending: set[str] = set()
    for n, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, Mapping) else None
        where = f"messages[{n}]"
        if role != "tool" and pending:
            problems.append(f"{where}: tool calls {sorted(pending)} have no tool message")
            pending = set()
        if role in ("system", "developer", "user"):
            if not isinstance(msg.get("content"), str | list):
                problems.append(f"{where}: content must be a string or a list of parts")
        elif role == "assistant":
            pending = _chat_assistant(msg, where, problems)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                problems.append(f"{where}: tool_call_id {call_id!r} answers no pending call")
            pending.discard(call_id)
            if not isinstance(msg.get("content"), str | list):
                problems.append(f"{where}: tool content must be a string or a list")
        else:
            problems.append(f"{where}: unknown role {role!r}")
    if pending:
        problems.append(f"tool calls {sorted(pending)} have no tool message")
    for n, tool in enumerate(body.get("tools") or ()):
        fn = tool.get("function") or {}
        if tool.get("type") != "function" or not fn.get("name"):
            problems.append(f"tools[{n}]: must be a named function")
        if not _is_schema(fn.get("parameters")):
            problems.append(f"tools[{n}]: parameters must be an object schema")


def _chat_assistant(msg: Mapping[str, Any], where: str, problems: Problems) -> set[str]:
    calls = msg.get("tool_calls")
    content = msg.get("content")
    if content is None and not calls:
        problems.append(f"{where}: an assistant message needs content or tool_calls")
    if content is not None and not isinstance(content, str | list):
        problems.append(f"{where}: assistant content must be a string, a list or null")
    pending: set[str] = set()
    for k, call in enumerate(calls or ()):
        fn = call.get("function") or {}
        if not isinstance(call.get("id"), str) or not call["id"]:
            problems.append(f"{where}.tool_calls[{k}]: id must be a non-empty string")
        if call.get("type") != "function" or not isinstance(fn.get("name"), str):
            problems.append(f"{where}.tool_calls[{k}]: must be a named function call")
        if not isinstance(fn.get("arguments"), str):
            problems.append(f"{where}.tool_calls[{k}]: arguments must be a string")
        pending.add(call.get("id"))
    return pending


# --------------------------------------------------------------------------- responses


def _responses(body: Mapping[str, Any], problems: Problems) -> None:
    items = body.get("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list) or not items:
        problems.append("input must be a string or a non-empty list")
        return
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for n, item in enumerate(items):
        where = f"input[{n}]"
        kind = item.get("type", "message") if isinstance(item, Mapping) else None
        if kind == "message":
            if item.get("role") not in ("user", "system", "developer", "assistant"):
                problems.append(f"{where}: unknown role {item.get('role')!r}")
            if not isinstance(item.get("content"), str | list):
                problems.append(f"{where}: content must be a string or a list")
        elif kind == "function_call":
            if not isinstance(item.get("arguments"), str):
                problems.append(f"{where}: arguments must be a string")
            if not item.get("call_id") or not isinstance(item.get("name"), str):
                problems.append(f"{where}: a function_call needs call_id and name")
            calls[item.get("call_id")] = n
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                problems.append(f"{where}: no function_call with call_id {call_id!r}")
            if call_id in answered:
                problems.append(f"{where}: call {call_id!r} is answered twice")
            answered.add(call_id)
            if not isinstance(item.get("output"), str | list):
                problems.append(f"{where}: output must be a string or a list")
        elif kind != "reasoning":
            problems.append(f"{where}: unknown item type {kind!r}")
    missing = sorted(set(calls) - answered)
    if missing:
        problems.append(f"no tool output found for function calls {missing}")
    for n, tool in enumerate(body.get("tools") or ()):
        if tool.get("type") != "function" or not tool.get("name"):
            problems.append(f"tools[{n}]: must be a named function")
        if not _is_schema(tool.get("parameters")):
            problems.append(f"tools[{n}]: parameters must be an object schema")


# --------------------------------------------------------------------------- anthropic


def _anthropic(body: Mapping[str, Any], problems: Problems) -> None:
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append("max_tokens must be a positive integer")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        problems.append("system must be a string or a list of text blocks")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages must be a non-empty list")
        return
    expected = "user"
    pending: set[str] = set()
    for n, msg in enumerate(messages):
        where = f"messages[{n}]"
        role = msg.get("role") if isinstance(msg, Mapping) else None
        if role != expected:
            problems.append(f"{where}: expected role {expected!r}, got {role!r}")
        expected = "assistant" if role == "user" else "user"
        blocks = _anthropic_blocks(msg.get("content"), where, problems)
        if role == "user":
            _anthropic_results(blocks, pending, where, problems)
            pending = set()
        elif role == "assistant":
            pending = _anthropic_uses(blocks, where, problems)
    if pending:
        problems.append(f"tool_use ids {sorted(pending)} have no tool_result")
    for n, tool in enumerate(body.get("tools") or ()):
        if not tool.get("name") or not _is_schema(tool.get("input_schema")):
            problems.append(f"tools[{n}]: needs a name and an object input_schema")


def _anthropic_blocks(content: object, where: str, problems: Problems) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        if not content:
            problems.append(f"{where}: text content must be non-empty")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        problems.append(f"{where}: content must be a non-empty string or list of blocks")
        return []
    for k, block in enumerate(content):
        if block.get("type") == "text" and not block.get("text"):
            problems.append(f"{where}.content[{k}]: text blocks must be non-empty")
    return [b for b in content if isinstance(b, Mapping)]


def _anthropic_uses(blocks: list[Mapping[str, Any]], where: str, problems: Problems) -> set[str]:
    ids: set[str] = set()
    for k, block in enumerate(blocks):
        if block.get("type") == "tool_result":
            problems.append(f"{where}.content[{k}]: tool_result in an assistant message")
        if block.get("type") != "tool_use":
            continue
        if not isinstance(block.get("input"), dict):
            problems.append(f"{where}.content[{k}]: tool_use.input must be an object")
        if not block.get("id") or not isinstance(block.get("name"), str):
            problems.append(f"{where}.content[{k}]: tool_use needs id and name")
        ids.add(str(block.get("id")))
    return ids


def _anthropic_results(
    blocks: list[Mapping[str, Any]], pending: set[str], where: str, problems: Problems
) -> None:
    seen_other = False
    answered: set[str] = set()
    for k, block in enumerate(blocks):
        if block.get("type") == "tool_use":
            problems.append(f"{where}.content[{k}]: tool_use in a user message")
        if block.get("type") != "tool_result":
            seen_other = True
            continue
        if seen_other:
            problems.append(f"{where}.content[{k}]: tool_result blocks must come first")
        use_id = str(block.get("tool_use_id"))
        if use_id not in pending:
            problems.append(f"{where}.content[{k}]: tool_result for unknown id {use_id!r}")
        answered.add(use_id)
        if not isinstance(block.get("content", ""), str | list):
            problems.append(f"{where}.content[{k}]: tool_result content has a wrong type")
        if not isinstance(block.get("is_error", False), bool):
            problems.append(f"{where}.content[{k}]: is_error must be a boolean")
    if pending - answered:
        problems.append(f"{where}: tool_use ids {sorted(pending - answered)} have no tool_result")


# --------------------------------------------------------------------------- reading


def read_request(protocol: str, body: Mapping[str, Any]) -> Seen:
    """What a (valid) request body carries: the task, system text, tool results, rounds."""
    seen = Seen()
    system: list[str] = []
    if protocol == "anthropic":
        system.append(_text_of(body.get("system") or ""))
        for msg in body.get("messages") or ():
            content = msg.get("content")
            blocks = content if isinstance(content, list) else []
            if msg.get("role") == "assistant":
                seen.rounds += any(b.get("type") == "tool_use" for b in blocks)
                continue
            if not seen.task:
                seen.task = _text_of(content)
            for b in blocks:
                if b.get("type") == "tool_result":
                    text = _text_of(b.get("content", ""))
                    seen.results.append((text, bool(b.get("is_error"))))
    elif protocol == "openai":
        for msg in body.get("messages") or ():
            role = msg.get("role")
            if role in ("system", "developer"):
                system.append(_text_of(msg.get("content")))
            elif role == "user" and not seen.task:
                seen.task = _text_of(msg.get("content"))
            elif role == "assistant":
                seen.rounds += bool(msg.get("tool_calls"))
            elif role == "tool":
                seen.results.append((_text_of(msg.get("content")), False))
    else:
        _read_responses(body, seen, system)
    seen.system = "\n".join(s for s in system if s)
    return seen


def _read_responses(body: Mapping[str, Any], seen: Seen, system: list[str]) -> None:
    items = body.get("input")
    if isinstance(items, str):
        seen.task = items
        return
    previous = ""
    for item in items or ():
        kind = item.get("type", "message")
        role = item.get("role")
        if kind == "message" and role in ("system", "developer"):
            system.append(_text_of(item.get("content")))
        elif kind == "message" and role == "user" and not seen.task:
            seen.task = _text_of(item.get("content"))
        elif kind == "function_call_output":
            seen.results.append((_text_of(item.get("output")), False))
        elif kind == "function_call" and previous != "function_call":
            seen.rounds += 1
        previous = kind
