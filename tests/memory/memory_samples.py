"""Sample turns for the memory tests (shared with the subprocess worker)."""

from __future__ import annotations

from exo.types import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
)

TRICKY_TEXT = 'quotes " \' backslash \\ newline \n tab \t NUL \x00 é ü 漢字 😀 </tag> {"json": 1}'


def every_kind_of_message() -> list[Message]:
    """One turn holding every message type and every content-block variant."""
    return [
        SystemMessage(content="You are terse."),
        UserMessage(content=TRICKY_TEXT),
        UserMessage(
            content=[
                TextBlock(text="Describe these."),
                ImageBlock(url="https://example.com/cat.png"),
                ImageBlock(data="aGVsbG8=", media_type="image/jpeg", detail="high"),
                DocumentBlock(url="https://example.com/report.pdf", title="Report"),
                DocumentBlock(data="JVBERi0xLjQK", media_type="application/pdf"),
            ]
        ),
        AssistantMessage(
            content="Let me look.",
            tool_calls=[
                ToolCall(id="call_1", name="search", arguments='{"q": "cats", "n": 3}'),
                ToolCall(id="call_2", name="broken", arguments='{"unterminated": '),
            ],
            reasoning=[
                ReasoningBlock(text="thinking...", signature="c2lnbmF0dXJl", provider="anthropic"),
                ReasoningBlock(redacted=True, encrypted="ZW5j", id="rs_1", provider="openai"),
            ],
        ),
        ToolResult(tool_call_id="call_1", tool_name="search", content="3 results"),
        ToolResult(
            tool_call_id="call_2",
            tool_name="broken",
            content=[TextBlock(text="bad JSON"), ImageBlock(url="https://example.com/e.png")],
            is_error=True,
        ),
        AssistantMessage(content=TRICKY_TEXT),
    ]


def tool_turn(tag: str, *, size: int = 1) -> list[Message]:
    """A turn with a tool call and its result, tagged so its messages can be recognized."""
    pad = "x" * size
    return [
        UserMessage(content=f"{tag}: question {pad}"),
        AssistantMessage(
            content="",
            tool_calls=[ToolCall(id=f"{tag}-call", name="lookup", arguments='{"k": 1}')],
        ),
        ToolResult(tool_call_id=f"{tag}-call", tool_name="lookup", content=f"{tag}: result"),
        AssistantMessage(content=f"{tag}: answer {pad}"),
    ]


def tag_of(message: Message) -> str:
    """The tag a :func:`tool_turn` message carries."""
    if isinstance(message, AssistantMessage) and message.tool_calls:
        return message.tool_calls[0].id.removesuffix("-call")
    if isinstance(message, ToolResult):
        return message.tool_call_id.removesuffix("-call")
    content = message.content
    assert isinstance(content, str)
    return content.split(":", 1)[0]
