"""Typed schema of `mixtures/*.yaml`: token shares per group and source, per stage.

Weights state intent in shares of tokens; planning (budget per source, sampling rates, epochs)
is derived from them and the tokens available.
"""

from __future__ import annotations

from pydantic import Field

from curation.schema import StrictModel


class SourceShare(StrictModel):
    weight: float = Field(gt=0, description="share of the group's tokens")
    max_epochs: float = Field(4.0, gt=0, description="never repeat this source more often than this")
    required: bool = Field(True, description="false: a missing source is reported, not fatal (e.g. SWE tasks)")


class Group(StrictModel):
    weight: float = Field(gt=0, le=1, description="share of all tokens (code 0.70 in every stage)")
    sources: dict[str, SourceShare] = Field(min_length=1)


class MixtureConfig(StrictModel):
    name: str
    seed: int = 0
    total_tokens: int | None = Field(None, gt=0, description="token budget; null: as many as the shares allow")
    groups: dict[str, Group] = Field(min_length=1)

    def target_shares(self) -> dict[str, float]:
        """Each source's share of all tokens, groups and sources normalized to sum to 1."""
        total = sum(g.weight for g in self.groups.values())
        shares = {}
        for group in self.groups.values():
            inner = sum(s.weight for s in group.sources.values())
            for name, src in group.sources.items():
                shares[name] = shares.get(name, 0.0) + group.weight / total * src.weight / inner
        return shares
