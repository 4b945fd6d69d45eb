"""OpenAI-style chat records -> Conversation: the format of SWE-Gym, OpenHands and most public sets.

A record is one JSON object (a JSONL line or a Parquet row) with `messages` (a list, or a JSON
string of one, as Parquet exports often store it) and optional `tools` and `id`. Messages have
`role` (system/user/assistant/tool), `content` (a string, or a list of `{"type": "text"}` parts),
optional `reasoning_content` (or `reasoning`), `tool_calls` of
`{"id", "type": "function", "function": {"name", "arguments"}}` (arguments a JSON string or an
object) and, for tool messages, `tool_call_id` / `name`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curation.agent.errors import TrajectoryError
from curation.agent.model import ROLES, Conversation, Message, ToolCall


def iter_records(path: str | Path) -> Iterator[tuple[int, dict | None, str]]:
    """(record number, record or None, problem) for every record of a .jsonl / .parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
            for row in batch.to_pylist():
                yield n, row, ""
                n += 1
        return
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield n, None, f"line {n + 1}: not JSON ({err.msg})"
                continue
            yield n, record, "" if isinstance(record, dict) else f"line {n + 1}: not a JSON object"


def parse_record(record: dict[str, Any], *, default_id: str, origin: str = "") -> Conversation:
    messages = record.get("messages")
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError as err:
            raise TrajectoryError("unparsable_record", f"`messages` is a string but not JSON ({err.msg})") from None
    if not isinstance(messages, list) or not messages:
        raise TrajectoryError("unparsable_record", "no `messages` list")
    tools = record.get("tools") or []
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    return Conversation(
        id=str(record.get("id") or default_id),
        messages=[_message(m, k) for k, m in enumerate(messages)],
        tools=list(tools),
        finished=record.get("finished"),
        origin=origin,
    )


def _message(m: Any, k: int) -> Message:
    if not isinstance(m, dict):
        raise TrajectoryError("unparsable_record", f"message {k} is not an object")
    role = m.get("role")
    if role not in ROLES:
        raise TrajectoryError("unknown_role", f"message {k} has role {role!r}")
    return Message(
        role=role,
        content=_text(m.get("content"), k),
        reasoning=_text(m.get("reasoning_content", m.get("reasoning")), k),
        tool_calls=[_tool_call(c, k) for c in m.get("tool_calls") or []],
        tool_call_id=str(m.get("tool_call_id") or ""),
        name=str(m.get("name") or ""),
    )


def _text(content: Any, k: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise TrajectoryError("non_text_content", f"message {k} has a {kind!r} content part")
        return "".join(parts)
    raise TrajectoryError("unparsable_record", f"message {k} content is a {type(content).__name__}")


def _tool_call(c: Any, k: int) -> ToolCall:
    fn = c.get("function") if isinstance(c, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise TrajectoryError("malformed_tool_call", f"message {k}: a tool call without a function name")
    args = fn.get("arguments", "")
    if not isinstance(args, str):
        args = json.dumps(args, ensure_ascii=False)  # already an object: keep it as its JSON text
    return ToolCall(name=fn["name"], arguments=args, id=str(c.get("id") or ""))
