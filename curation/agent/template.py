"""A tokenizer folder's jinja `chat_template`, rendered segment by segment so every token gets a mask.

Rendering the template to one string and tokenizing it would lose two things we need: which
message each token belongs to (for the loss mask), and the guarantee that message text never
becomes a special id. So:
1. every text of the conversation (contents, thinking, string leaves of tool-call arguments) is
   replaced by a placeholder `\\ue000<n>\\ue001` before rendering; what the template writes
   around them is structure;
2. the template is rendered for each prefix of the conversation; message k owns the text that
   prefix k+1 adds to prefix k (for an assistant message, the part `add_generation_prompt=True`
   adds is its header). A template for which a prefix's rendering is not the start of the next
   one cannot be masked per message, and is refused with that reason;
3. structure text is split at the tokenizer's special pieces (`<_bot>` written by the template is
   the id 5); placeholders become their text, encoded as text (JSON-escaped for argument leaves,
   as the template's `tojson` would have written them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from curation.agent.layout import Segment
from curation.agent.model import Conversation
from curation.config.agent import LossMaskConfig

_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(r"\ue000(\d+)\ue001|\\ue000(\d+)\\ue001")


class ChatTemplateError(ValueError):
    pass


def load_chat_template(folder: str | Path) -> str | None:
    """The folder's chat template: `chat_template.jinja`, or `chat_template` in tokenizer_config.json
    (a string, or a list of named templates of which "default" is used)."""
    folder = Path(folder)
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    value = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    return value if isinstance(value, str) and value.strip() else None


class TemplateRenderer:
    def __init__(self, template: str, special_pieces: dict[str, int], *, bos_token: str = "", eos_token: str = ""):
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise ChatTemplateError(f"chat_template: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent)
        env.globals["raise_exception"] = raise_exception
        self.template = env.from_string(template)
        self.special = special_pieces
        self.extra = {"bos_token": bos_token, "eos_token": eos_token}
        # longest first, so a piece that is a prefix of another (none in TeleChat3) cannot win
        names = sorted(special_pieces, key=len, reverse=True)
        self._split = re.compile("|".join(re.escape(p) for p in names)) if names else None

    def segments(self, conv: Conversation, mask: LossMaskConfig) -> list[Segment]:
        values: list[str] = []
        leaves: set[int] = set()
        messages = [_placeheld(m, values, leaves) for m in conv.messages]
        tools = conv.tools or None

        def render(n: int, gen: bool) -> str:
            return self.template.render(messages=messages[:n], tools=tools, add_generation_prompt=gen, **self.extra)

        out: list[Segment] = []
        before = render(0, False)
        out += self._pieces(before, -1, int(mask.system), values, leaves)
        for k, m in enumerate(conv.messages):
            after = render(k + 1, False)
            if not after.startswith(before):
                raise ChatTemplateError(f"chat_template: rendering of messages[:{k + 1}] does not extend that of "
                                        f"messages[:{k}]; per-message loss masks need a prefix-stable template")
            if m.role == "assistant":
                header = render(k, True)
                if not (header.startswith(before) and after.startswith(header)):
                    header = before
                out += self._pieces(header[len(before):], k, int(mask.bot_header), values, leaves)
                out += self._pieces(after[len(header):], k, int(mask.assistant), values, leaves)
            else:
                out += self._pieces(after[len(before):], k, int(getattr(mask, m.role)), values, leaves)
            before = after
        return out

    def _pieces(self, text: str, message: int, mask: int, values: list[str], leaves: set[int]) -> list[Segment]:
        out: list[Segment] = []
        pos = 0
        for ph in _PLACEHOLDER.finditer(text):
            out += self._structure(text[pos:ph.start()], message, mask)
            n = int(ph.group(1) or ph.group(2))
            value = values[n]
            if n in leaves:  # inside a JSON string the template wrote with tojson
                value = json.dumps(value, ensure_ascii=ph.group(2) is not None)[1:-1]
            if value:
                out.append(Segment(message, mask, text=value))
            pos = ph.end()
        out += self._structure(text[pos:], message, mask)
        return out

    def _structure(self, text: str, message: int, mask: int) -> list[Segment]:
        if _OPEN in text or _CLOSE in text:
            raise ChatTemplateError("chat_template: a placeholder was cut or transformed (e.g. by a filter on "
                                    "message content); cannot separate message text from structure")
        out: list[Segment] = []
        pos = 0
        for sp in (self._split.finditer(text) if self._split else ()):
            if sp.start() > pos:
                out.append(Segment(message, mask, text=text[pos:sp.start()]))
            out.append(Segment(message, mask, token=self.special[sp.group(0)]))
            pos = sp.end()
        if pos < len(text):
            out.append(Segment(message, mask, text=text[pos:]))
        return out


def _hold(value: str, values: list[str]) -> str:
    values.append(value)
    return f"{_OPEN}{len(values) - 1}{_CLOSE}"


def _placeheld(m, values: list[str], leaves: set[int]) -> dict:
    def leaf(x):
        if isinstance(x, str):
            leaves.add(len(values))
            return _hold(x, values)
        if isinstance(x, dict):
            return {k: leaf(v) for k, v in x.items()}
        if isinstance(x, list):
            return [leaf(v) for v in x]
        return x

    out = {"role": m.role, "content": _hold(m.content, values) if m.content else ""}
    if m.reasoning:
        out["reasoning_content"] = _hold(m.reasoning, values)
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": leaf(c.parsed_arguments())}}
                             for c in m.tool_calls]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id
        if m.name:
            out["name"] = m.name
    return out
