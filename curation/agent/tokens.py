"""What the tokenize step calls for trajectory documents: `messages` JSON -> (ids, loss mask)."""

from __future__ import annotations

from curation.agent.config import ChatConfig
from curation.agent.model import Conversation
from curation.agent.render import ChatRenderer


class TrajectoryEncoder:
    def __init__(self, tokenizer, chat: dict | None = None):
        self.tokenizer = tokenizer
        self.renderer = ChatRenderer(tokenizer, ChatConfig.model_validate(chat or {}))

    def documents(self, docs) -> list[tuple[list[int], list[int]]]:
        """(ids, mask) per Document with a `messages` column, ids without the final EOS (the packer's)."""
        convs = [Conversation.from_json(d.id, d.metadata["messages"]) for d in docs]
        eos = self.tokenizer.eos_id
        return [r.document(eos) for r in self.renderer.render_batch(convs)]
