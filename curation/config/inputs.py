"""Input kinds of a pipeline config (`inputs.<name>`): the name is the source name in shards and mixtures."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from curation.config.agent import TrajectoriesInput
from curation.config.swe import GitHistoryInput, SweDatasetInput
from curation.config.text import DebianDocsInput, HtmlInput, InstalledDocsInput
from curation.schema import StrictModel


class RepoInput(StrictModel):
    """Repositories: each path is a repository (dir, git work tree, archive) or a folder of them."""

    kind: Literal["repos"]
    paths: list[str] = Field(min_length=1)
    rev: str = Field("HEAD", description="git revision to read; only tracked files of it are used")
    layout: Literal["auto", "repo", "collection"] = "auto"


STACK_ROLES = ("content", "path", "repo", "rev", "license", "stars", "date")


class StackInput(StrictModel):
    """A Stack-style dataset: one row per file, with content, path and repo columns."""

    kind: Literal["stack"]
    paths: list[str] = Field(min_length=1)
    columns: dict[str, str] = Field(
        default_factory=lambda: {"content": "content", "path": "path"},
        description="role -> column name; content and path are required; repo, rev, license, stars and date "
                    "not mapped are read from The Stack v2 / v1 column names, or a column named like the role",
    )

    @model_validator(mode="after")
    def _required_columns(self):
        missing = {"content", "path"} - set(self.columns)
        if missing:
            raise ValueError(f"columns must map {sorted(missing)}")
        unknown = set(self.columns) - set(STACK_ROLES)
        if unknown:
            raise ValueError(f"unknown column roles {sorted(unknown)}; known: {', '.join(STACK_ROLES)}")
        return self


class TextInput(StrictModel):
    """General text (JSONL or Parquet), one document per row, tagged with the input's name as source."""

    kind: Literal["jsonl", "parquet"]
    paths: list[str] = Field(min_length=1)
    text_key: str = "text"
    id_key: str = "id"


class InstalledInput(StrictModel):
    """The installed Python distributions, each one a repository: real code on every machine (demo)."""

    kind: Literal["installed"]
    names: list[str] | None = Field(None, description="distribution names; all installed ones when null")
    max_bytes: int | None = Field(None, gt=0, description="stop adding distributions past this many bytes")


InputConfig = Annotated[RepoInput | StackInput | TextInput | InstalledInput | GitHistoryInput | SweDatasetInput
                        | TrajectoriesInput | InstalledDocsInput | DebianDocsInput | HtmlInput,
                        Field(discriminator="kind")]
