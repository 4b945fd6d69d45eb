"""Mine one repository's history: every commit of the range becomes a task or a recorded skip.

    with HistoryMiner(path, name=..., limits=..., tokenizer=..., markers=...) as miner:
        for outcome in miner.mine(rank=0, world_size=1):     # Task | Skip, newest commit first
            ...

Every commit of the range is accounted for exactly once: `len(tasks) + len(skips)` equals the
number of commits `git log` lists for the range (with `first_parent`, the mainline). With several
tasks of a pipeline, commit k of the range belongs to task k % world_size.
The rules and their order are in curation.swe.rules; the context in curation.swe.context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from curation.config.swe import GitHistoryInput
from curation.ingest.languages import detect_language, language_kind
from curation.swe import rules
from curation.swe.context import (
    BlobCache,
    Context,
    ContextRefusal,
    Timings,
    select_context,
    tree_license,
)
from curation.swe.git import NULL_OID, Commit, ObjectReader, read_log, read_patches
from curation.swe.patches import split_file_diffs, split_tests
from curation.swe.render import SECTIONS, MarkerIds

# A symlink's "content" is a path and a submodule's a commit id: neither has a pre-change file.
_SPECIAL_MODES = {"120000", "160000"}


def task_id(repo: str, commit: str) -> str:
    """The stable id of the task made from one commit (or one dataset row)."""
    return f"{repo}@{commit}:swe"


@dataclass
class Task:
    id: str
    repo: str
    commit: str | None
    base_commit: str
    statement: str
    issues: list[str]
    files: list[str]
    context: list[str]
    patch: str
    test_patch: str
    n_tokens: int            # ids of the whole document (markers included, EOS not)
    dependencies: int        # context files not touched by the change
    lang: str | None         # main language of the changed code files
    context_source: str = "git"   # "git" (exact files at base_commit) or "patch_hunks" (partial)
    extra: dict = field(default_factory=dict)


@dataclass
class Skip:
    id: str
    repo: str
    commit: str
    reason: str
    detail: str = ""


def statement_of(commit: Commit) -> str:
    return rules.merge_statement(commit.message) if commit.is_merge else commit.message.strip()


def log_rule(commit: Commit, first_parent: bool) -> tuple[str, str] | None:
    """The rules decided from the log alone: (reason, detail) or None."""
    if not commit.parents:
        return "root_commit", "no parent to diff against"
    if commit.is_merge:
        if not first_parent:
            return "merge_commit", "its changes are the branch's commits, which are in the range"
        if not rules.merge_statement(commit.message):
            return "merge_without_body", commit.message.strip().split("\n")[0][:200]
    if (detail := rules.bot_reason(commit.author, commit.email, commit.message)):
        return "bot_author", detail
    if rules.is_revert(commit.message):
        return "revert", commit.message.strip().split("\n")[0][:200]
    if not statement_of(commit):
        return "empty_message", ""
    paths = [c.path for c in commit.changes]
    if not paths:
        return "empty_change", "no file differs from the parent"
    if (detail := rules.generated_only_detail(paths)):
        return "generated_only", detail
    special = [c.path for c in commit.changes if {c.old_mode, c.new_mode} & _SPECIAL_MODES]
    if special:
        return "special_file_change", f"symlink or submodule: {', '.join(special[:5])}"
    return None


def main_language(paths: list[str]) -> str | None:
    langs = [lang for p in paths if language_kind(lang := detect_language(p)) == "code"]
    return max(sorted(set(langs)), key=langs.count) if langs else None


class HistoryMiner:
    def __init__(self, path: str | Path, *, name: str, config: GitHistoryInput, tokenizer, markers: MarkerIds,
                 max_tokens: int, timings: Timings | None = None):
        self.path = str(path)
        self.name = name
        self.config = config
        self.tokenizer = tokenizer
        self.markers = markers
        self.max_tokens = max_tokens
        self.timings = timings or Timings()
        self.objects = ObjectReader(self.path)
        self.cache = BlobCache(self.objects, tokenizer, self.timings)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.objects.close()
        return False

    def commits(self) -> list[Commit]:
        with self.timings.track("git"):
            return read_log(self.path, self.config.revisions, first_parent=self.config.first_parent,
                            max_commits=self.config.max_commits)

    def mine(self, rank: int = 0, world_size: int = 1):
        """Task | Skip for each commit of the range that belongs to this rank, newest first."""
        mine = [c for k, c in enumerate(self.commits()) if k % world_size == rank]
        decided: dict[str, Skip] = {}
        for commit in mine:
            if (verdict := log_rule(commit, self.config.first_parent)):
                decided[commit.oid] = Skip(task_id(self.name, commit.oid), self.name, commit.oid, *verdict)
        with self.timings.track("git"):
            patches = read_patches(self.path, [(c.oid, c.parent) for c in mine if c.oid not in decided])
        for commit in mine:
            if commit.oid in decided:
                yield decided[commit.oid]
            else:
                yield self._task(commit, patches[commit.oid])

    def _skip(self, commit: Commit, reason: str, detail: str = "") -> Skip:
        return Skip(task_id(self.name, commit.oid), self.name, commit.oid, reason, detail)

    def _task(self, commit: Commit, raw_patch: bytes) -> Task | Skip:
        limits = self.config
        if len(commit.changes) > limits.max_files:
            return self._skip(commit, "diff_too_large", f"{len(commit.changes)} files > max_files={limits.max_files}")
        if len(raw_patch) > limits.max_diff_bytes:
            return self._skip(commit, "diff_too_large",
                              f"{len(raw_patch)} bytes > max_diff_bytes={limits.max_diff_bytes}")
        try:
            diff = raw_patch.decode("utf-8")
        except UnicodeDecodeError as err:
            return self._skip(commit, "undecodable_change", f"the diff is not UTF-8 at byte {err.start}")
        sections = split_file_diffs(diff)
        if (binary := [s.path for s in sections if s.binary]):
            return self._skip(commit, "binary_change", ", ".join(binary[:5]))
        if (detail := rules.version_bump_detail(diff)):
            return self._skip(commit, "version_bump", detail)
        paths = [c.path for c in commit.changes]
        if not any(rules.is_code_path(p) for p in paths):
            return self._skip(commit, "no_code_change", f"{len(paths)} files, none of them code: "
                                                        f"{', '.join(sorted(paths)[:5])}")
        if self._formatting_only(commit):
            return self._skip(commit, "formatting_only", f"{len(commit.changes)} files differ in whitespace only")
        statement = statement_of(commit)
        patch, test_patch = split_tests(diff)
        head = self.cache.count_tokens({f"repo:{self.name}": f"{self.name}\n", f"msg:{commit.oid}": statement,
                                        f"patch:{commit.oid}": patch, f"test:{commit.oid}": test_patch},
                                       remember=False)
        fixed = len(SECTIONS) - 1 + sum(head.values())  # every marker but the files'
        if fixed > self.max_tokens:
            return self._skip(commit, "context_over_budget", f"the statement and the diff alone need {fixed} ids "
                                                             f"> {self.max_tokens}")
        touched = sorted(c.path for c in commit.changes if c.old_oid != NULL_OID)
        with self.timings.track("git"):
            tree = self.objects.tree(commit.parent)
        context = select_context(tree, touched, self.cache, self.max_tokens - fixed,
                                 max_file_bytes=limits.max_file_bytes,
                                 max_parse_error_fraction=limits.max_parse_error_fraction)
        if isinstance(context, ContextRefusal):
            return self._skip(commit, context.reason, context.detail)
        task = self._build(commit, statement, patch, test_patch, context, fixed)
        task.extra["license"], task.extra["license_class"] = tree_license(tree, self.cache)
        return task

    def _formatting_only(self, commit: Commit) -> bool:
        if any(c.status != "M" for c in commit.changes):
            return False
        for change in commit.changes:
            old, new = self.cache.text(change.old_oid), self.cache.text(change.new_oid)
            if old is None or new is None or not rules.only_whitespace_differs(old, new):
                return False
        return True

    def _build(self, commit: Commit, statement: str, patch: str, test_patch: str, context: Context,
               fixed: int) -> Task:
        return Task(
            id=task_id(self.name, commit.oid), repo=self.name, commit=commit.oid, base_commit=commit.parent,
            statement=statement, issues=rules.issue_refs(commit.message), files=context.files,
            context=context.contents, patch=patch, test_patch=test_patch, n_tokens=fixed + context.tokens,
            dependencies=context.dependencies, lang=main_language([c.path for c in commit.changes]),
        )
