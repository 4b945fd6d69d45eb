"""The built-in TeleChat3 chat layout, as segments: structural ids (inserted by id) and text pieces.

    <_system>{system text}[\n\n# Tools\n{one JSON schema per line}]
    <_user>{user text}
    <_bot>[<think>{thinking}</think>]{answer text}[<tool_call>{"name": .., "arguments": {..}}</tool_call>]..<_end>
    <_user><tool_response>{tool output}</tool_response>[<tool_response>..</tool_response>]..

Consecutive tool messages share one <_user> turn, one <tool_response> block each, in order. No
newlines are added around structural ids: the ids delimit, and every text piece is encoded as a
continuation (no SentencePiece dummy-prefix space), so the text between two ids decodes to exactly
the message text. Loss mask (curation.agent.config.LossMaskConfig): the assistant's thinking,
answer, tool calls and the ids it emits itself (<think>, </think>, <tool_call>, </tool_call>,
<_end>) are 1; <_bot> (written by the serving template), system, user and tool turns are 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from curation.agent.model import Conversation
from curation.config.agent import LossMaskConfig

PIECES = {
    "system": "<_system>", "user": "<_user>", "bot": "<_bot>", "end": "<_end>",
    "think": "<think>", "think_end": "</think>", "call": "<tool_call>", "call_end": "</tool_call>",
    "response": "<tool_response>", "response_end": "</tool_response>",
}


@dataclass(frozen=True)
class Segment:
    """A structural id or a text piece, its loss mask, and the message it belongs to."""

    message: int
    mask: int
    token: int | None = None
    text: str | None = None


@dataclass(frozen=True)
class ChatIds:
    system: int
    user: int
    bot: int
    end: int
    think: int
    think_end: int
    call: int
    call_end: int
    response: int
    response_end: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> ChatIds:
        # token_id refuses pieces that raw text can produce: structure must be unambiguous
        return cls(**{k: tokenizer.token_id(p) for k, p in PIECES.items()})


def tools_block(tools: list[dict]) -> str:
    return "# Tools\n" + "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)


def builtin_segments(conv: Conversation, ids: ChatIds, mask: LossMaskConfig) -> list[Segment]:
    out: list[Segment] = []
    a = int(mask.assistant)
    if conv.tools and not any(m.role == "system" for m in conv.messages):
        out += [Segment(-1, int(mask.system), token=ids.system), Segment(-1, int(mask.system), text=tools_block(conv.tools))]
    seen_system = False
    prev_role = None
    for k, m in enumerate(conv.messages):
        if m.role == "system":
            text = m.content
            if conv.tools and not seen_system:
                text = f"{text}\n\n{tools_block(conv.tools)}" if text else tools_block(conv.tools)
            seen_system = True
            out += [Segment(k, int(mask.system), token=ids.system), Segment(k, int(mask.system), text=text)]
        elif m.role == "user":
            out += [Segment(k, int(mask.user), token=ids.user), Segment(k, int(mask.user), text=m.content)]
        elif m.role == "tool":
            t = int(mask.tool)
            if prev_role != "tool":
                out.append(Segment(k, t, token=ids.user))
            out += [Segment(k, t, token=ids.response), Segment(k, t, text=m.content),
                    Segment(k, t, token=ids.response_end)]
        else:
            out.append(Segment(k, int(mask.bot_header), token=ids.bot))
            if m.reasoning:
                out += [Segment(k, a, token=ids.think), Segment(k, a, text=m.reasoning), Segment(k, a, token=ids.think_end)]
            out.append(Segment(k, a, text=m.content))
            for call in m.tool_calls:
                out += [Segment(k, a, token=ids.call), Segment(k, a, text=call.text()), Segment(k, a, token=ids.call_end)]
            out.append(Segment(k, a, token=ids.end))
        prev_role = m.role
    return [s for s in out if s.token is not None or s.text]
