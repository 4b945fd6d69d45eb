"""Trajectory hygiene: structural checks (drops with reasons) and splitting over-long ones at turns.

Reasons (the `reason` column of removed/trajectories/):
  no_assistant_turn, empty_assistant_turn, malformed_tool_call_json, tool_response_without_call,
  truncated, too_long  (parsers add: unparsable_record, unknown_role, non_text_content,
  malformed_tool_call; near-dedup adds near_duplicate)
"""

from __future__ import annotations

from curation.agent.errors import TrajectoryError
from curation.agent.model import Conversation


def check(conv: Conversation) -> None:
    """Raise TrajectoryError(reason, detail) for a trajectory unfit for training."""
    msgs = conv.messages
    if not any(m.role == "assistant" for m in msgs):
        raise TrajectoryError("no_assistant_turn", f"{len(msgs)} messages, none from the assistant")
    open_calls: list[str] = []  # ids ("" when the source has none) of calls not yet answered
    for k, m in enumerate(msgs):
        if m.is_empty_assistant():
            raise TrajectoryError("empty_assistant_turn", f"message {k}: no content, thinking or tool call")
        for c in m.tool_calls:
            try:
                c.parsed_arguments()
            except ValueError as err:
                raise TrajectoryError("malformed_tool_call_json",
                                      f"message {k}, call {c.name!r}: {err}; arguments start {c.arguments[:80]!r}") from None
        if m.role == "assistant":
            open_calls = [c.id for c in m.tool_calls]
        elif m.role == "tool":
            if not open_calls:
                raise TrajectoryError("tool_response_without_call", f"message {k} answers no open tool call")
            match = m.tool_call_id if m.tool_call_id in open_calls else open_calls[0]
            open_calls.remove(match)
    last = msgs[-1]
    if conv.finished is True:
        return
    if last.role in ("user", "system"):
        raise TrajectoryError("truncated", f"ends with a {last.role} message that no assistant turn answers")
    if last.role == "tool":
        raise TrajectoryError("truncated", "ends with a tool response and the source does not mark it finished")
    if last.tool_calls:
        raise TrajectoryError("truncated", "ends with tool calls that no response answers")


def header_length(conv: Conversation) -> int:
    """Messages every piece of a split trajectory repeats: the system messages and the task (the
    user turns before the first assistant turn)."""
    n = len(conv.header())
    while n < len(conv.messages) and conv.messages[n].role == "user":
        n += 1
    return n


def split_at_turns(conv: Conversation, message_starts: list[int], total: int, max_tokens: int) -> list[Conversation]:
    """Pieces of at most `max_tokens` (as rendered), cut only before an assistant or user turn, each
    repeating the header. One piece (the conversation itself) when it fits; TrajectoryError
    "too_long" when the header plus one turn (with its tool responses) does not fit."""
    if total <= max_tokens:
        return [conv]
    h = header_length(conv)
    ends = message_starts[1:] + [total]
    size = [e - s for s, e in zip(message_starts, ends)]
    head = sum(size[:h])
    # units: runs of messages from one cut point to the next (an assistant turn and its tool responses)
    cuts = [k for k in range(h, len(conv.messages)) if k == h or conv.messages[k].role in ("assistant", "user")]
    units = [(a, b) for a, b in zip(cuts, cuts[1:] + [len(conv.messages)])]
    pieces: list[list[tuple[int, int]]] = [[]]
    used = head
    for a, b in units:
        n = sum(size[a:b])
        if head + n > max_tokens:
            raise TrajectoryError("too_long", f"messages {a}..{b - 1} take {n} tokens; with the {head}-token header "
                                              f"they exceed max_tokens {max_tokens}")
        if used + n > max_tokens and pieces[-1]:
            pieces.append([])
            used = head
        pieces[-1].append((a, b))
        used += n
    out = []
    for i, units_i in enumerate(pieces):
        body = [m for a, b in units_i for m in conv.messages[a:b]]
        last = i == len(pieces) - 1
        out.append(Conversation(id=f"{conv.id}#part{i}", messages=conv.messages[:h] + body, tools=conv.tools,
                                finished=conv.finished if last else None, origin=conv.origin))
    return out
