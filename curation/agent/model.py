"""One conversation model for every trajectory format: what the parsers produce, what hygiene checks,
what the renderer turns into ids and a loss mask, and what travels through `docs/` as JSON.

Tool-call arguments are kept as the raw JSON text the source gave: a call whose arguments do not
parse is a hygiene drop ("malformed_tool_call_json"), decided in one place, not by each parser.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class ToolCall:
    name: str
    arguments: str  # raw JSON text of an object, as the source gave it
    id: str = ""

    def parsed_arguments(self) -> dict:
        """The arguments as an object; ValueError when they are not a JSON object."""
        value = json.loads(self.arguments) if self.arguments.strip() else {}
        if not isinstance(value, dict):
            # ValueError like json's own errors: callers treat both as "malformed arguments"
            raise ValueError(f"arguments are a JSON {type(value).__name__}, not an object")  # noqa: TRY004
        return value

    def text(self) -> str:
        """What the model emits between <tool_call> and </tool_call>: one canonical JSON object."""
        return json.dumps({"name": self.name, "arguments": self.parsed_arguments()}, ensure_ascii=False)


@dataclass
class Message:
    role: str  # one of ROLES
    content: str = ""
    reasoning: str = ""  # the assistant's thinking (OpenAI-style `reasoning_content`, SWE-agent `thought`)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""  # tool role: the call this answers
    name: str = ""  # tool role: the tool's name, when the source gives it

    def is_empty_assistant(self) -> bool:
        return self.role == "assistant" and not (self.content.strip() or self.reasoning.strip() or self.tool_calls)


@dataclass
class Conversation:
    id: str
    messages: list[Message]
    tools: list[dict] = field(default_factory=list)  # JSON schemas of the tools offered, if the source has them
    finished: bool | None = None  # the source says the episode ended (SWE-agent `submit`); None: not stated
    origin: str = ""  # file (and record) it came from

    def to_json(self) -> str:
        """The `messages` column of docs/: everything the tokenize step needs to render it again."""
        return json.dumps({"messages": [asdict(m) for m in self.messages], "tools": self.tools,
                           "finished": self.finished}, ensure_ascii=False)

    @classmethod
    def from_json(cls, doc_id: str, text: str, origin: str = "") -> Conversation:
        data = json.loads(text)
        messages = [Message(**{**m, "tool_calls": [ToolCall(**c) for c in m.get("tool_calls", [])]})
                    for m in data["messages"]]
        return cls(id=doc_id, messages=messages, tools=data.get("tools") or [], finished=data.get("finished"),
                   origin=origin)

    def header(self) -> list[Message]:
        """The leading system messages: every piece of a split conversation keeps them."""
        n = 0
        while n < len(self.messages) and self.messages[n].role == "system":
            n += 1
        return self.messages[:n]


def readable_text(conv: Conversation) -> str:
    """The docs/ `text` of a trajectory: for people, DuckDB and text-level steps (decontamination).

    Not what the model is trained on (that is rendered from the `messages` column by id), so its
    markers are plain words and it is never tokenized.
    """
    parts = []
    if conv.tools:
        parts.append("## tools\n" + "\n".join(json.dumps(t, ensure_ascii=False) for t in conv.tools))
    for m in conv.messages:
        body = []
        if m.reasoning:
            body.append(f"[thinking]\n{m.reasoning}")
        if m.content:
            body.append(m.content)
        for c in m.tool_calls:
            body.append(f"[tool call {c.name}] {c.arguments}")
        title = m.role if m.role != "tool" else f"tool {m.name}".rstrip()
        parts.append(f"## {title}\n" + "\n".join(body))
    return "\n\n".join(parts)
