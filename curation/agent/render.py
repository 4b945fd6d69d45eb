"""Conversation -> (token ids, loss mask): segments from the chat template or the built-in layout,
text pieces encoded as continuations (never special ids), structural ids inserted as they are.

A rendered trajectory is one document of the token files. Its last assistant turn ends with
<_end>, which is TeleChat3's EOS: the packer appends EOS after every document, so the document's
ids stop before that final EOS and the packer's EOS closes the turn (no `<_end><_end>`). The
packer gives that EOS the mask of the token before it (see curation.pack.packer.document_mask):
a trajectory that ends in the model's words trains its end, one that ends in a tool response not.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.agent.layout import PIECES, ChatIds, Segment, builtin_segments
from curation.agent.model import Conversation
from curation.agent.template import TemplateRenderer, load_chat_template
from curation.config.agent import ChatConfig
from curation.tokenize.fim import encode_continuation


@dataclass
class Rendered:
    ids: list[int]
    mask: list[int]  # one per id
    message_starts: list[int]  # token offset where each message begins (its first segment)

    def document(self, eos_id: int) -> tuple[list[int], list[int]]:
        """ids and mask as a token-file document: without the final EOS, which the packer appends."""
        if self.ids and self.ids[-1] == eos_id:
            return self.ids[:-1], self.mask[:-1]
        return list(self.ids), list(self.mask)


def merge_texts(segs: list[Segment]) -> list[Segment]:
    """Adjacent text pieces of one message and mask become one text, encoded as a whole: a template
    writing `{"arguments": ` around a placeholder must not change how the JSON is tokenized."""
    out: list[Segment] = []
    for s in segs:
        prev = out[-1] if out else None
        if (s.text is not None and prev is not None and prev.text is not None
                and (prev.message, prev.mask) == (s.message, s.mask)):
            out[-1] = Segment(prev.message, prev.mask, text=prev.text + s.text)
        else:
            out.append(s)
    return out


class ChatRenderer:
    def __init__(self, tokenizer, cfg: ChatConfig | None = None):
        self.tokenizer = tokenizer
        self.cfg = cfg or ChatConfig()
        template = load_chat_template(tokenizer.path) if self.cfg.template == "auto" else None
        self.ids = ChatIds.from_tokenizer(tokenizer)
        if template:
            pieces = {tokenizer.decode([i]): i for i in sorted(tokenizer.special_ids)}
            pieces.update({p: getattr(self.ids, k) for k, p in PIECES.items()})
            self.template = TemplateRenderer(template, pieces, eos_token=tokenizer.decode([tokenizer.eos_id]))
            self.layout = "chat_template"
        else:
            self.template = None
            self.layout = "builtin"

    def segments(self, conv: Conversation) -> list[Segment]:
        segs = (self.template.segments(conv, self.cfg.loss_mask) if self.template is not None
                else builtin_segments(conv, self.ids, self.cfg.loss_mask))
        return merge_texts(segs)

    def render_batch(self, convs: list[Conversation]) -> list[Rendered]:
        segs = [self.segments(c) for c in convs]
        texts = [s.text for ss in segs for s in ss if s.token is None]
        encoded = iter(encode_continuation(self.tokenizer, texts))
        out = []
        for conv, ss in zip(convs, segs):
            ids: list[int] = []
            mask: list[int] = []
            starts = [-1] * len(conv.messages)
            for s in ss:
                if s.message >= 0 and starts[s.message] < 0:
                    starts[s.message] = len(ids)
                piece = [s.token] if s.token is not None else next(encoded)
                ids += piece
                mask += [s.mask] * len(piece)
            for k in range(len(starts) - 1, -1, -1):  # a message with no segment starts where the next does
                if starts[k] < 0:
                    starts[k] = starts[k + 1] if k + 1 < len(starts) else len(ids)
            out.append(Rendered(ids, mask, starts))
        return out

    def render(self, conv: Conversation) -> Rendered:
        return self.render_batch([conv])[0]
