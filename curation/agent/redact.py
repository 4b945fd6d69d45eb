"""Redaction of a trajectory's conversation, the `messages` column that the tokenize run renders.

The redact step rewrites `text`, which for a trajectory is only a readable rendering; the ids are
rendered from `messages`. Redacting that JSON string as text would miss secrets written with JSON
escapes (a PEM block's `\\n`) and could cut an escape in half, so every text of the conversation
is redacted on its own: contents, thinking, and each string inside the tool-call arguments and
tool schemas. Counts stay those of the redact step (the readable text holds the same texts).
"""

from __future__ import annotations

import json

from datatrove.data import Document

from curation.agent.model import Conversation
from curation.config.agent import TrajectoriesInput
from curation.config.redact import RedactConfig
from curation.redact.redactor import Redactor
from curation.steps import RewriteStep


def redact_value(value, redact):
    """`value` with `redact` applied to every string inside it (dict keys stay: they are names)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v, redact) for k, v in value.items()}
    return value


def redact_conversation(conv: Conversation, redact) -> int:
    """Applies `redact` (text -> text) to every text of `conv` in place; the number of texts changed."""
    changed = 0

    def one(text: str) -> str:
        nonlocal changed
        out = redact(text) if text else text
        changed += out != text
        return out

    for m in conv.messages:
        m.content, m.reasoning = one(m.content), one(m.reasoning)
        for call in m.tool_calls:
            try:
                args = json.loads(call.arguments) if call.arguments.strip() else None
            except ValueError:
                args = None  # hygiene drops these before here; redact the raw text all the same
                call.arguments = one(call.arguments)
            if args is not None:
                new = redact_value(args, one)
                if new != args:
                    call.arguments = json.dumps(new, ensure_ascii=False)
    conv.tools = redact_value(conv.tools, one)
    return changed


class TrajectoryRedact(RewriteStep):
    """Redacts the `messages` of every trajectory with the pipeline's `redact:` settings; runs after
    the redact steps (a trajectory dropped for too many secrets is never parsed)."""

    step = "redact_trajectories"
    type = "🔏 - FORMAT"

    def __init__(self, *, config: RedactConfig):
        super().__init__()
        self.config = config
        self._redactor = None

    @classmethod
    def from_config(cls, ctx) -> TrajectoryRedact | None:
        cfg = ctx.config
        if not cfg.redact.enabled or not any(isinstance(i, TrajectoriesInput) for i in cfg.inputs.values()):
            return None
        return cls(config=cfg.redact)

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:  # built where the step runs, as the redact step's own
            self._redactor = Redactor.from_config(self.config)
        return self._redactor

    def __getstate__(self):
        return {**self.__dict__, "_redactor": None}

    def rewrite(self, doc: Document) -> None:
        messages = doc.metadata.get("messages")
        if not messages:
            return
        path = doc.metadata.get("path")
        conv = Conversation.from_json(doc.id, messages)
        if redact_conversation(conv, lambda text: self.redactor.redact(text, None, path).text):
            doc.metadata["messages"] = conv.to_json()
            self.stat_update("trajectories_redacted")
