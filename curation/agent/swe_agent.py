"""SWE-agent `.traj` files -> Conversation.

A `.traj` is JSON with `history` (the chat the model saw: `role`, `content`, and per assistant
message `thought` and `action`; function-calling agents add `tool_calls` and answer with `tool`
messages carrying `tool_call_ids`), `trajectory` (steps of `thought`, `action`, `observation`,
`response`) and `info` (`exit_status`, `submission`, ...).

Mapping, chosen so that the assistant's part is exactly what the model produced:
- `thought` is the assistant's thinking (rendered inside <think>..</think>);
- a function-calling `tool_calls` entry stays a tool call; a text agent's `action` (a command of
  SWE-agent's shell interface, e.g. `edit 1:1 ... end_of_edit`, `submit`) becomes a call of the
  tool `bash` with `{"command": action}`, the way SWE-agent's own function-calling mode names it;
- the `user` message that answers a text agent's action is its observation: a tool response;
  `user` messages before any action (the task statement) stay user turns.
`history` is preferred; a file with only `trajectory` steps gives assistant/tool pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.agent.errors import TrajectoryError
from curation.agent.model import Conversation, Message, ToolCall

SHELL_TOOL = "bash"


def parse_traj_file(path: str | Path, *, conv_id: str | None = None) -> Conversation:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TrajectoryError("unparsable_record", f"{path.name}: not JSON ({err})") from None
    if not isinstance(data, dict):
        raise TrajectoryError("unparsable_record", f"{path.name}: not a JSON object")
    conv_id = conv_id or path.stem
    if data.get("history"):
        messages = _from_history(data["history"])
    elif data.get("trajectory"):
        messages = _from_steps(data["trajectory"])
    else:
        raise TrajectoryError("unparsable_record", f"{path.name}: neither `history` nor `trajectory`")
    return Conversation(id=conv_id, messages=messages, finished=_finished(data, messages), origin=str(path))


def _from_history(history: list) -> list[Message]:
    out: list[Message] = []
    pending: str | None = None  # id of a text agent's call that no observation has answered yet
    for k, m in enumerate(history):
        if not isinstance(m, dict):
            raise TrajectoryError("unparsable_record", f"history[{k}] is not an object")
        role, content = m.get("role"), m.get("content") or ""
        if not isinstance(content, str):
            raise TrajectoryError("non_text_content", f"history[{k}] content is a {type(content).__name__}")
        if role == "system":
            out.append(Message("system", content))
        elif role == "assistant":
            msg, pending = _assistant(m, content, call_id=f"call_{k}")
            out.append(msg)
        elif role == "tool":
            ids = m.get("tool_call_ids") or [""]
            out.append(Message("tool", content, tool_call_id=str(ids[0])))
        elif role == "user" and pending is not None:
            out.append(Message("tool", content, tool_call_id=pending, name=SHELL_TOOL))
            pending = None
        elif role == "user":
            out.append(Message("user", content))
        else:
            raise TrajectoryError("unknown_role", f"history[{k}] has role {role!r}")
    return out


def _assistant(m: dict, content: str, *, call_id: str) -> tuple[Message, str | None]:
    thought = m.get("thought")
    if m.get("tool_calls"):
        calls = []
        for c in m["tool_calls"]:
            fn = c.get("function") or {}
            if not fn.get("name"):
                raise TrajectoryError("malformed_tool_call", "a tool call without a function name")
            args = fn.get("arguments", "")
            calls.append(ToolCall(fn["name"], args if isinstance(args, str) else json.dumps(args), str(c.get("id", ""))))
        # SWE-agent's function-calling content is the thought itself; keep it once, as thinking.
        return Message("assistant", reasoning=(thought if thought is not None else content).strip(),
                       tool_calls=calls), None
    action = m.get("action")
    if thought is None or not action or not action.strip():
        return Message("assistant", content), None
    call = ToolCall(SHELL_TOOL, json.dumps({"command": action.strip()}, ensure_ascii=False), call_id)
    return Message("assistant", reasoning=thought.strip(), tool_calls=[call]), call_id


def _from_steps(steps: list) -> list[Message]:
    out: list[Message] = []
    for k, step in enumerate(steps):
        msg, call_id = _assistant(step, step.get("response") or "", call_id=f"call_{k}")
        out.append(msg)
        if call_id is not None and step.get("observation") is not None:
            out.append(Message("tool", step["observation"], tool_call_id=call_id, name=SHELL_TOOL))
    return out


def _finished(data: dict, messages: list[Message]) -> bool:
    status = str((data.get("info") or {}).get("exit_status") or "")
    if status.startswith("submitted"):
        return True
    calls = [c for m in messages if m.role == "assistant" for c in m.tool_calls]
    if not calls:
        return False
    last = calls[-1]
    try:
        command = last.name if last.name != SHELL_TOOL else str(last.parsed_arguments().get("command", ""))
    except ValueError:
        return False  # malformed arguments: hygiene drops the trajectory anyway
    return bool(command.split()) and command.split()[0] == "submit"
