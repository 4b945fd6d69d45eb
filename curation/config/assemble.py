"""Config sections for repository-level assembly and FIM (stages 2 and 3).

    assemble: {unit: repo, order: dependency, order_by_language: {c: path},
               separators: {repo: "<_control1>", file: "<_control2>"}, context: null,
               keep_scc_together: true, drop_syntax_errors: false}
    fim: {rate: 0.5, spm_rate: 0.5, mode: char,
          sentinels: {prefix: "<_control3>", suffix: "<_control4>", middle: "<_control5>"}, seed: 0}

Pieces are names of tokenizer pieces; `resolve_separators` (curation.assemble) and
`resolve_sentinels` (curation.tokenize.fim) turn them into single ids and refuse a piece that raw
text can produce (see Tokenizer.token_id), naming the config key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from curation.schema import StrictModel

OrderMode = Literal["dependency", "path", "random"]


class SeparatorPieces(StrictModel):
    repo: str = Field("<_control1>", description="opens every chunk, before the repository name")
    file: str = Field("<_control2>", description="before each file's path")

    @model_validator(mode="after")
    def _distinct(self):
        if self.repo == self.file:
            raise ValueError(f"repo and file separators must differ (both {self.repo!r})")
        return self


class RepoAssembleConfig(StrictModel):
    """Repository-level documents: files in dependency order, cut at file boundaries to fit."""

    unit: Literal["repo"] = "repo"
    order: OrderMode = Field("dependency", description="dependency (imports first, DeepSeek-Coder), path, random")
    order_by_language: dict[str, OrderMode] = Field(
        default_factory=dict, description="order mode for repositories whose main language (by bytes) is the key")
    separators: SeparatorPieces = Field(default_factory=SeparatorPieces)
    context: int | None = Field(None, ge=64, description="tokens per document incl. EOS; null: pack.seq_len")
    keep_scc_together: bool = Field(True, description="an import cycle starts a new chunk rather than be cut")
    drop_syntax_errors: bool = Field(False, description="drop files whose syntax error share exceeds the bound")
    max_syntax_error_fraction: float = Field(
        0.0, ge=0, lt=1, description="bytes under ERROR/MISSING nodes / file bytes above which a file is dropped")
    seed: int = Field(0, description="seed of the random order mode")

    def max_tokens(self, seq_len: int) -> int:
        """Ids per chunk: the context minus one for the EOS the packer appends."""
        return (self.context or seq_len) - 1


class FimSentinelPieces(StrictModel):
    prefix: str = "<_control3>"
    suffix: str = "<_control4>"
    middle: str = "<_control5>"

    @model_validator(mode="after")
    def _distinct(self):
        if len({self.prefix, self.suffix, self.middle}) != 3:
            raise ValueError("prefix, suffix and middle sentinels must be three different pieces")
        return self


class FimConfig(StrictModel):
    """Fill-in-the-middle: share of documents, PSM/SPM split, how the middle is chosen."""

    rate: float = Field(0.5, ge=0, le=1, description="share of documents (repo chunks) given FIM")
    spm_rate: float = Field(0.5, ge=0, le=1, description="share of FIM documents in SPM order (rest: PSM)")
    mode: Literal["char", "syntax"] = Field(
        "char", description="char: two random cut points; syntax: a function body, block or expression node")
    sentinels: FimSentinelPieces = Field(default_factory=FimSentinelPieces)
    seed: int = 0
