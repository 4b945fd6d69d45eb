"""SWE-bench-style rows (SWE-bench, SWE-Gym, SWE-smith) -> tasks.

Fields used: instance_id, repo, base_commit, problem_statement, patch, test_patch.

Context: with a local clone of the row's repository (config `clones`), the exact pre-change files
at base_commit and their dependencies, as for git history. Without one, only what the diff itself
shows: the context and removed lines of each hunk, with a gap line (⋮) wherever lines are missing.
Such a file is PARTIAL; the task says so (`context_source = "patch_hunks"`) and should be read
as a weaker document. Prefer clones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curation.config.swe import SweDatasetInput
from curation.ingest.reader import _iter_records
from curation.swe.context import (
    BlobCache,
    ContextRefusal,
    Timings,
    select_context,
    tree_license,
)
from curation.swe.git import GitError, ObjectReader
from curation.swe.history import Skip, Task, main_language, task_id
from curation.swe.patches import pre_images, split_file_diffs
from curation.swe.render import SECTIONS
from curation.swe.rules import issue_refs

FIELDS = ("instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch")


def dataset_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(x for x in p.rglob("*") if x.is_file() and x.name.endswith((".jsonl", ".jsonl.gz",
                                                                                              ".json", ".parquet"))))
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such SWE dataset file or folder")
    return files


def iter_rows(paths: list[str]) -> Iterator[tuple[str, dict | None, str | None]]:
    """(row key, record, error) over every file; the key names file and row for drop records."""
    for path in dataset_files(paths):
        kind = "parquet" if path.suffix == ".parquet" else "jsonl"
        for line_no, record, error in _iter_records(path, kind):
            yield f"{path.name}:{line_no}", record, error


class DatasetTasks:
    """Turns rows into Task | Skip; keeps one object reader (and blob cache) per clone."""

    def __init__(self, config: SweDatasetInput, tokenizer, max_tokens: int, timings: Timings | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.timings = timings or Timings()
        self._caches: dict[str, BlobCache] = {}
        self._counter = BlobCache(None, tokenizer, self.timings)  # token counts for rows without a clone

    def close(self) -> None:
        for cache in self._caches.values():
            cache.objects.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _cache(self, repo: str) -> BlobCache | None:
        clone = self.config.clones.get(repo)
        if clone is None:
            return None
        if repo not in self._caches:
            self._caches[repo] = BlobCache(ObjectReader(clone), self.tokenizer, self.timings)
        return self._caches[repo]

    def task(self, key: str, row: dict) -> Task | Skip:
        missing = [f for f in FIELDS if not isinstance(row.get(f), str) or (f != "test_patch" and not row.get(f))]
        if missing:
            return Skip(f"swe_dataset:{key}", str(row.get("repo") or ""), "", "malformed_row",
                        f"{key}: missing or not a string: {', '.join(missing)}")
        repo, base, ident = row["repo"], row["base_commit"], task_id(row["repo"], row["instance_id"])
        patch, test_patch, statement = row["patch"], row["test_patch"], row["problem_statement"]
        sections = split_file_diffs(patch + test_patch)
        if not sections:
            return Skip(ident, repo, "", "malformed_row", f"{key}: the patch has no `diff --git` section")
        if (binary := [s.path for s in sections if s.binary]):
            return Skip(ident, repo, "", "binary_change", ", ".join(binary[:5]))
        cache = self._cache(repo)
        counter = cache or self._counter
        head = counter.count_tokens({f"repo:{repo}": f"{repo}\n", f"msg:{ident}": statement,
                                     f"patch:{ident}": patch, f"test:{ident}": test_patch}, remember=False)
        fixed = len(SECTIONS) - 1 + sum(head.values())
        touched = sorted({s.old_path for s in sections if s.old_path is not None})
        if cache is None:
            return self._from_hunks(ident, repo, base, row, counter, fixed)
        try:
            with self.timings.track("git"):
                tree = cache.objects.tree(base)
        except GitError as err:
            return Skip(ident, repo, "", "base_commit_missing", str(err))
        context = select_context(tree, touched, cache, self.max_tokens - fixed,
                                 max_file_bytes=self.config.max_file_bytes,
                                 max_parse_error_fraction=self.config.max_parse_error_fraction,
                                 dependencies=self.config.with_dependencies)
        if isinstance(context, ContextRefusal):
            return Skip(ident, repo, "", context.reason, context.detail)
        return Task(ident, repo, None, base, statement, issue_refs(statement), context.files, context.contents,
                    patch, test_patch, fixed + context.tokens, context.dependencies,
                    main_language([s.path for s in sections]), "git",
                    {"instance_id": row["instance_id"], **dict(zip(("license", "license_class"),
                                                                   tree_license(tree, cache)))})

    def _from_hunks(self, ident: str, repo: str, base: str, row: dict, counter: BlobCache, fixed: int) -> Task | Skip:
        files = pre_images(row["patch"] + row["test_patch"])
        counts = counter.count_tokens({f"path:{f.path}": f"{f.path}\n" for f in files}
                                      | {f"hunks:{ident}:{f.path}": f.text for f in files}, remember=False)
        used = sum(1 + counts[f"path:{f.path}"] + counts[f"hunks:{ident}:{f.path}"] for f in files)
        if fixed + used > self.max_tokens:
            return Skip(ident, repo, "", "context_over_budget",
                        f"statement, diff and touched files need {fixed + used} ids > {self.max_tokens}")
        paths = [f.path for f in files]
        return Task(ident, repo, None, base, row["problem_statement"], issue_refs(row["problem_statement"]), paths,
                    [f.text for f in files], row["patch"], row["test_patch"], fixed + used, 0, main_language(paths),
                    "patch_hunks", {"instance_id": row["instance_id"]})
