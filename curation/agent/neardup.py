"""Near-duplicate trajectories: MinHash over what the user and the assistant say.

Tool responses are left out of the shingles: two runs of the same task on the same repository see
the same files, so observations would make different solutions look alike; what the agent does
and what it was asked is what makes two trajectories the same training example. Uses the
project's MinHash (curation.dedup.minhash); bands are derived from the threshold. Keep rule: the
first trajectory in input order; the later one is dropped with the kept id and the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.agent.model import Conversation
from curation.dedup.minhash import (
    band_keys,
    derive_bands,
    estimate_jaccard,
    is_empty_signature,
    text_signature,
)


@dataclass
class Duplicate:
    id: str
    kept_id: str
    similarity: float


def dialogue_text(conv: Conversation) -> str:
    parts = []
    for m in conv.messages:
        if m.role == "user":
            parts.append(m.content)
        elif m.role == "assistant":
            parts += [m.reasoning, m.content, *(f"{c.name} {c.arguments}" for c in m.tool_calls)]
    return "\n".join(p for p in parts if p)


class NearDupIndex:
    """Incremental: `add(conv)` returns a Duplicate when an earlier trajectory is at least
    `threshold` similar (estimated Jaccard of the shingle sets), else records it and returns None."""

    def __init__(self, *, threshold: float, num_perm: int = 128, n_grams: int = 5, seed: int = 1):
        self.threshold, self.num_perm, self.n_grams, self.seed = threshold, num_perm, n_grams, seed
        self.bands, self.rows = derive_bands(threshold, num_perm)
        self._buckets: dict[int, list[int]] = {}
        self._ids: list[str] = []
        self._sigs: list[np.ndarray] = []

    def add(self, conv: Conversation) -> Duplicate | None:
        sig = text_signature(dialogue_text(conv), self.n_grams, self.num_perm, self.seed)
        if is_empty_signature(sig):
            return None  # nothing said: exact emptiness is caught by hygiene, not here
        keys = [int(k) for k in band_keys(sig, self.bands, self.rows)]
        candidates = sorted({i for k in keys for i in self._buckets.get(k, ())})
        for i in candidates:
            sim = float(estimate_jaccard(sig, self._sigs[i]))
            if sim >= self.threshold:
                return Duplicate(conv.id, self._ids[i], sim)
        n = len(self._ids)
        self._ids.append(conv.id)
        self._sigs.append(sig)
        for k in keys:
            self._buckets.setdefault(k, []).append(n)
        return None
