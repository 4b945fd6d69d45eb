"""Config sections for text (issue 15): text inputs, the prose rule set, routing by score.

    inputs.<name>: {kind: installed_docs | debian_docs | html, ...}   read by curation/text/inputs.py
    text_filters: {rules: filters/text.yaml}                          applied by filters/text_step.py
    route: {inputs, routes, default}                                  applied by text/route.py
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from curation.schema import StrictModel

COLLECTIONS = ("readmes", "python_reference", "stdlib_docstrings")
TEXT_INPUT_KINDS = ("installed_docs", "debian_docs", "html")


class _Chunked(StrictModel):
    chunk_chars: int | None = Field(
        None, ge=200, description="cut each item at paragraph breaks into documents of about this many characters; "
                                  "null: one document per item")


class InstalledDocsInput(_Chunked):
    """Prose every Python install has: READMEs of the installed distributions, the language
    reference, the standard library's docstrings."""

    kind: Literal["installed_docs"]
    collections: list[Literal["readmes", "python_reference", "stdlib_docstrings"]] = Field(
        default_factory=lambda: list(COLLECTIONS), min_length=1)
    names: list[str] | None = Field(None, description="readmes: only these distributions; null: all")


class DebianDocsInput(_Chunked):
    """Debian documentation packages (HTML manuals, dictd dictionaries), fetched with
    `apt-get download` into `cache` once and read from there."""

    kind: Literal["debian_docs"]
    packages: list[str] = Field(min_length=1)
    cache: str = Field(".cache/debian-docs", description="where the .deb files are downloaded and unpacked")


class HtmlInput(_Chunked):
    """Folders (or files) of HTML pages, main text extracted with trafilatura."""

    kind: Literal["html"]
    paths: list[str] = Field(min_length=1)


TextInputConfig = Annotated[InstalledDocsInput | DebianDocsInput | HtmlInput, Field(discriminator="kind")]


class TextFilterConfig(StrictModel):
    """The pipeline section `text_filters`: the rule set for text documents."""

    rules: str = "filters/text.yaml"


class Route(StrictModel):
    source: str = Field(description="the mixture source a matching document goes to")
    score: str = Field(description="a score column of the scorer, e.g. score_code_text_v1")
    min: float = Field(ge=0, le=1, description="route when the score is at least this")


class RouteConfig(StrictModel):
    inputs: list[str] = Field(min_length=1, description="inputs whose documents are routed")
    routes: list[Route] = Field(min_length=1, description="tried in order; the first whose score reaches min wins")
    default: str = Field("general", description="source of documents no route takes (and of unscored ones)")

    @model_validator(mode="after")
    def _distinct(self):
        targets = [r.source for r in self.routes]
        if len(set(targets)) != len(targets):
            raise ValueError(f"a source appears in two routes: {targets}")
        clash = sorted(set(self.inputs) & (set(targets) | {self.default}))
        if clash:
            raise ValueError(f"routed inputs {clash} are also route targets: an input's documents would "
                             f"mix with routed ones under one name; rename the input")
        return self

    def targets(self) -> list[str]:
        return [r.source for r in self.routes] + [self.default]
