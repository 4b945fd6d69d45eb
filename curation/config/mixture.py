"""Typed schema of `mixtures/*.yaml`: token shares per group and source, per stage.

Weights state intent in shares of tokens; planning (budget per source, sampling rates, epochs)
is derived from them and the tokens available.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from curation.schema import StrictModel

LANGUAGE_REST = "*"


class SourceShare(StrictModel):
    weight: float = Field(gt=0, description="share of the group's tokens")
    max_epochs: float = Field(4.0, gt=0, description="never repeat this source more often than this")
    required: bool = Field(True, description="false: a missing source is reported, not fatal (e.g. SWE tasks)")
    binding: bool = Field(False, description="an optional source that, when present, bounds the budget with its "
                                             "max_epochs as a required one does: its share holds when it is scarce "
                                             "(the others are sampled below one epoch)")
    languages: dict[str, float] | None = Field(
        None, description="split the source's share by language (ids of curation.ingest.languages): "
                          "language -> weight; '*' takes every other language at its natural share; "
                          "languages not listed and no '*': not used")

    @field_validator("languages")
    @classmethod
    def _weights(cls, languages):
        if languages is not None:
            if not languages:
                raise ValueError("give at least one language (or leave languages out)")
            bad = sorted(k for k, w in languages.items() if not w > 0)
            if bad:
                raise ValueError(f"language weights must be > 0: {bad}")
            if ":" in "".join(languages):
                raise ValueError("a language id has no ':'")
        return languages


class Group(StrictModel):
    weight: float = Field(gt=0, le=1, description="share of all tokens (code 0.70 in every stage)")
    sources: dict[str, SourceShare] = Field(min_length=1)


class MixtureConfig(StrictModel):
    name: str
    seed: int = 0
    total_tokens: int | None = Field(None, gt=0, description="token budget; null: as many as the shares allow")
    groups: dict[str, Group] = Field(min_length=1)

    def language_splits(self) -> dict[str, list[str]]:
        """source -> the languages it is split by ('*' included when asked)."""
        return {name: list(src.languages) for g in self.groups.values() for name, src in g.sources.items()
                if src.languages}

    def target_shares(self) -> dict[str, float]:
        """Each source's share of all tokens, groups and sources normalized to sum to 1."""
        total = sum(g.weight for g in self.groups.values())
        shares = {}
        for group in self.groups.values():
            inner = sum(s.weight for s in group.sources.values())
            for name, src in group.sources.items():
                shares[name] = shares.get(name, 0.0) + group.weight / total * src.weight / inner
        return shares
