"""The tokenize run's chat step: each trajectory's `messages` -> ids and a per-token loss mask.

It runs just before the tokenize step and leaves `token_ids` and `loss_mask` in the document's
metadata, the way the repository assembler leaves the ids of its chunks; the tokenize step writes
them as they are. The readable `text` of a trajectory is never encoded.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from curation.agent.model import Conversation
from curation.agent.render import ChatRenderer
from curation.config.agent import ChatConfig, TrajectoriesInput
from curation.steps import Described
from curation.tokenize.tokenizer import load_tokenizer


class TrajectoryEncoder:
    """(ids, mask) of trajectory Documents in one chat setting."""

    def __init__(self, tokenizer, chat: ChatConfig | dict | None = None):
        self.tokenizer = tokenizer
        self.renderer = ChatRenderer(tokenizer, ChatConfig.model_validate(chat or {}))

    def documents(self, docs: list[Document]) -> list[tuple[list[int], list[int]]]:
        """(ids, mask) per Document with a `messages` column, ids without the final EOS (the packer's)."""
        convs = [Conversation.from_json(d.id, d.metadata["messages"]) for d in docs]
        eos = self.tokenizer.eos_id
        return [r.document(eos) for r in self.renderer.render_batch(convs)]


class TrajectoryTokenizer(Described, PipelineStep):
    """Renders every document that has `messages` with its source's chat settings (a source
    without an entry in `chat` uses the defaults); every other document passes untouched."""

    name = "chat"
    type = "🔢 - TOKENIZER"

    def __init__(self, *, tokenizer_path: str, chat: dict[str, ChatConfig] | None = None, batch_docs: int = 256):
        super().__init__()
        self.tokenizer_path = tokenizer_path
        self.chat = {source: ChatConfig.model_validate(c) for source, c in (chat or {}).items()}
        self.batch_docs = batch_docs

    @classmethod
    def from_config(cls, ctx) -> TrajectoryTokenizer | None:
        cfg = ctx.config
        chat = {name: inp.chat for name, inp in cfg.inputs.items() if isinstance(inp, TrajectoriesInput)}
        if not chat:
            return None
        return cls(tokenizer_path=ctx.tokenizer_path, chat=chat, batch_docs=cfg.tokenizer.batch_docs)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tokenizer = None
        encoders: dict[str, TrajectoryEncoder] = {}  # per source, built on its first trajectory
        for batch in batched(data, self.batch_docs):
            chats = [d for d in batch if d.metadata.get("messages")]
            with self.track_time("batch"):
                for source in sorted({d.metadata["source"] for d in chats}):
                    if source not in encoders:
                        tokenizer = tokenizer or load_tokenizer(self.tokenizer_path)
                        encoders[source] = TrajectoryEncoder(tokenizer, self.chat.get(source))
                    of_source = [d for d in chats if d.metadata["source"] == source]
                    for doc, (ids, mask) in zip(of_source, encoders[source].documents(of_source)):
                        doc.metadata["token_ids"], doc.metadata["loss_mask"] = ids, mask
                        self.stat_update("trajectory_loss_tokens", value=int(sum(mask)))
            yield from batch
