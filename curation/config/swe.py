"""Input kinds for SWE tasks (stages 2 and 3), checked up front like every config section.

    inputs:
      swe_tasks:
        kind: git_history
        paths: [/data/repos]          # git repositories with history, or folders of them
        revisions: [HEAD]             # `git log` revision arguments: [HEAD], [v1.0..main], [--all]
        first_parent: true            # one task per pull request (its merge) on the mainline
        max_commits: null             # newest N commits of the range
        context: null                 # tokens per task incl. EOS; null: pack.seq_len
      swe_bench:
        kind: swe_dataset
        paths: [data/swe-gym.parquet]
        clones: {django/django: /data/clones/django}   # repo -> local clone, for full pre-images
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curation.schema import StrictModel

KINDS = ("git_history", "swe_dataset")  # the input kinds SweReader reads (and IngestReader must not)


class TaskLimits(StrictModel):
    """What a task may hold: a change a model can read in one context, with its files."""

    max_diff_bytes: int = Field(200_000, ge=1, description="bytes of the whole diff above which a commit is skipped")
    max_files: int = Field(50, ge=1, description="changed files above which a commit is skipped")
    max_file_bytes: int = Field(1 << 20, ge=1, description="a dependency larger than this is never context")
    max_parse_error_fraction: float = Field(
        0.0, ge=0, lt=1, description="a touched code file at the parent above this error share -> parent_unparsable")
    context: int | None = Field(None, ge=256, description="tokens per task including EOS; null: pack.seq_len")
    rewrite_margin: int = Field(
        64, ge=0, description="ids kept free for later rewrites (redaction placeholders may be longer than what "
                              "they replace), so a task still fits its context when it is tokenized")

    def max_tokens(self, seq_len: int) -> int:
        """Ids a task may take when read: the context minus the EOS the packer appends and the margin."""
        return (self.context or seq_len) - 1 - self.rewrite_margin


class GitHistoryInput(TaskLimits):
    """Each eligible commit of each repository's history becomes one task."""

    kind: Literal["git_history"]
    paths: list[str] = Field(min_length=1, description="git repositories with history, or folders of them")
    revisions: list[str] = Field(default_factory=lambda: ["HEAD"], min_length=1,
                                 description="git log revision arguments (a range such as v1.0..HEAD)")
    first_parent: bool = Field(True, description="walk the mainline only; false: every commit, merges skipped")
    max_commits: int | None = Field(None, ge=1, description="the newest N commits of the range")


class SweDatasetInput(TaskLimits):
    """SWE-bench-style rows (SWE-bench, SWE-Gym, SWE-smith): one task per row."""

    kind: Literal["swe_dataset"]
    paths: list[str] = Field(min_length=1, description="JSONL(.gz) or Parquet files, or folders of them")
    clones: dict[str, str] = Field(
        default_factory=dict, description="repo (as in the rows) -> local clone with base_commit; without one, "
                                          "context is the partial pre-image the patch itself shows")
    with_dependencies: bool = Field(True, description="with a clone: also the files the touched files import")
