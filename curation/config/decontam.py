"""The `decontaminate:` config section.

    decontaminate:
      benchmarks_dir: ../shared/benchmarks   # HumanEval, HumanEval-X (6 languages), MBPP, CRUXEval
      builtin: [humaneval, humaneval-x, mbpp, cruxeval]
      n: 13                                  # code tokens per n-gram
      action: drop                           # or cut: remove the matched span (plus margin), keep the rest
      extra:
        - {name: livecodebench, hub: livecodebench/code_generation_lite, since: 2024-08-01,
           fields: {id: question_id, prompt: question_content, solution: starter_code, date: contest_date}}
        - {name: swe-bench-verified, hub: princeton-nlp/SWE-bench_Verified, swe: true,
           fields: {id: instance_id, prompt: problem_statement, solution: patch, test: test_patch,
                    repo: repo, base_commit: base_commit, date: created_at}}
        - {name: my-eval, path: evals/my_eval.jsonl, fields: {id: task_id, prompt: prompt, solution: answer}}

Thresholds are measured choices (benchmarks/bench_decontam.py): recall of planted solutions and
false positives on the registry corpus.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from curation.schema import StrictModel

BUILTIN_BENCHMARKS = ("humaneval", "humaneval-x", "mbpp", "cruxeval")
FIELDS = ("prompt", "solution", "code", "test")


class FieldMap(StrictModel):
    """Which column of a benchmark file holds what. Lists of strings (MBPP's test_list) are joined
    by newlines; the `code` field (prompt + solution) is derived, not a column."""

    id: str = Field(description="column with the item id (reported in removed/ and decontamination.json)")
    prompt: str | None = Field(None, description="problem statement / function signature and docstring")
    solution: str | None = Field(None, description="reference solution (or patch)")
    test: str | None = Field(None, description="tests of the item")
    repo: str | None = Field(None, description="SWE-bench: repository (owner/name)")
    base_commit: str | None = Field(None, description="SWE-bench: the commit the task starts from")
    date: str | None = Field(None, description="release / contest date, for `since`")


class ExtraBenchmark(StrictModel):
    """A benchmark beyond the shared ones: a local JSONL/Parquet file, or a hub dataset."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="benchmark name in reasons and reports")
    path: str | None = Field(None, description="local .jsonl, .jsonl.gz or .parquet file (or a folder of them)")
    hub: str | None = Field(None, description="hub dataset id, downloaded when online")
    revision: str | None = Field(None, description="hub dataset revision")
    files: list[str] = Field(default_factory=lambda: ["*.parquet", "*.jsonl"],
                             description="hub files to download (glob patterns)")
    fields: FieldMap
    prompt_is_code: bool = Field(False, description="the prompt is code the solution completes (HumanEval "
                                                    "style): prompt + solution is also matched as one text")
    since: dt.date | None = Field(None, description="keep only items dated on or after this (LiveCodeBench cutoff)")
    swe: bool = Field(False, description="SWE-bench: also catch documents of an instance's repository at or after "
                                         "its base commit (needs fields.repo and fields.base_commit)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.hub is None):
            raise ValueError(f"benchmark {self.name!r}: give exactly one of path and hub")
        if self.since is not None and self.fields.date is None:
            raise ValueError(f"benchmark {self.name!r}: since needs fields.date")
        if self.swe and (self.fields.repo is None or self.fields.base_commit is None):
            raise ValueError(f"benchmark {self.name!r}: swe needs fields.repo and fields.base_commit")
        return self


class DecontaminateConfig(StrictModel):
    """Benchmark decontamination: which benchmarks, how a match is decided, what happens to it."""

    enabled: bool = True
    benchmarks_dir: str | None = Field(
        "../shared/benchmarks", description="folder of the shared benchmarks (its README lists them); "
                                            "skipped when absent unless require_builtin")
    builtin: list[Literal["humaneval", "humaneval-x", "mbpp", "cruxeval"]] = Field(
        default_factory=lambda: list(BUILTIN_BENCHMARKS))
    require_builtin: bool = Field(False, description="error when benchmarks_dir is absent")
    extra: list[ExtraBenchmark] = Field(default_factory=list)
    fields: list[Literal["prompt", "solution", "code", "test"]] = Field(
        default_factory=lambda: list(FIELDS), description="which parts of an item are matched")
    n: int = Field(13, ge=5, le=32, description="code tokens per n-gram (punctuation is one token per byte)")
    short_n: int = Field(8, ge=4, description="a field shorter than n tokens but at least this long is matched "
                                              "only whole, as an exact (whitespace-normalized) substring")
    min_overlap: float = Field(0.5, gt=0, le=1, description="share of a field's raw n-grams a document must contain")
    min_ngrams: int = Field(3, ge=1, description="and at least this many (or all, when the field has fewer)")
    min_normalized_overlap: float = Field(
        0.8, gt=0, le=1, description="share of a field's identifier-normalized n-grams (renamed copies)")
    min_normalized_ngrams: int = Field(
        3, ge=1, description="fields with fewer normalized n-grams are matched as written only")
    max_item_frequency: int = Field(
        3, ge=1, description="an n-gram found in more items of one benchmark is boilerplate, not evidence")
    action: Literal["drop", "cut"] = Field("drop", description="drop the document, or cut the matched spans")
    margin_chars: int = Field(100, ge=0, description="cut: characters removed around a span (then whole lines)")
    min_keep_chars: int = Field(200, ge=0, description="cut: a document left shorter than this is dropped")
    kinds: list[str] | None = Field(None, description="document kinds checked (null: all)")
    swe_unknown_order: Literal["drop", "keep"] = Field(
        "drop", description="a SWE task of a benchmark repository whose order against the base commit "
                            "cannot be told (no local clone in swe_git_dirs)")
    swe_git_dirs: dict[str, str] = Field(
        default_factory=dict, description="repository (owner/name) -> local clone, to tell commit order")
