"""Unified diffs: split per file, code vs tests, and the partial pre-image a diff itself shows.

A git diff is a run of file sections, each starting with `diff --git a/X b/Y`. Splitting at
those lines and regrouping whole sections keeps every section byte-exact, so `patch` and
`test_patch` each apply on their own (they touch disjoint files), and together they are the
commit's diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIFF_HEADER = re.compile(r"^diff --git (?:\"?a/)(.+?)\"? (?:\"?b/)(.+?)\"?$")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

# Test files by the conventions of the languages we mine (SWE-bench's test_patch holds the same:
# the changes to files under test folders or named as tests).
_TEST_DIRS = re.compile(r"(?:^|/)(?:tests?|testing|__tests__|spec|specs|testdata|test_data|fixtures)/")
_TEST_NAMES = re.compile(
    r"(?:^|/)(?:test_[^/]*\.py|[^/]*_test\.py|conftest\.py|[^/]*_test\.go|[^/]*\.(?:test|spec)\.[cm]?[jt]sx?"
    r"|[^/]*Tests?\.(?:java|kt|cs)|[^/]*_spec\.rb|[^/]*_test\.rb|[^/]*-test\.[cm]?[jt]s|test\.[cm]?[jt]s"
    r"|test-d\.ts|index\.test-d\.ts|[^/]*\.test-d\.ts)$")


@dataclass(frozen=True)
class FileDiff:
    old_path: str | None      # None for an added file
    new_path: str | None      # None for a deleted file
    text: str                 # the whole section, from its `diff --git` line
    binary: bool

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def is_test_path(path: str) -> bool:
    return bool(_TEST_DIRS.search(path) or _TEST_NAMES.search(path))


def split_file_diffs(patch: str) -> list[FileDiff]:
    """The file sections of a unified diff (git's format), in order."""
    sections: list[list[str]] = []
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git "):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return [_file_diff(lines) for lines in sections]


def _file_diff(lines: list[str]) -> FileDiff:
    header = _DIFF_HEADER.match(lines[0].rstrip("\n"))
    old_path, new_path = (header.group(1), header.group(2)) if header else (None, None)
    binary = False
    for line in lines[1:]:
        if line.startswith("@@"):
            break
        if line.startswith("--- "):
            old_path = None if line.rstrip("\n") == "--- /dev/null" else _strip_prefix(line[4:], "a/")
        elif line.startswith("+++ "):
            new_path = None if line.rstrip("\n") == "+++ /dev/null" else _strip_prefix(line[4:], "b/")
        elif line.startswith("new file mode"):
            old_path = None
        elif line.startswith("deleted file mode"):
            new_path = None
        elif line.startswith(("Binary files ", "GIT binary patch")):
            binary = True
    return FileDiff(old_path, new_path, "".join(lines), binary)


def _strip_prefix(raw: str, prefix: str) -> str:
    raw = raw.rstrip("\n").split("\t")[0]
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    return raw.removeprefix(prefix)


def split_tests(patch: str) -> tuple[str, str]:
    """(patch, test_patch): the code sections and the test sections, each in diff order."""
    code, tests = [], []
    for section in split_file_diffs(patch):
        (tests if is_test_path(section.path) else code).append(section.text)
    return "".join(code), "".join(tests)


@dataclass(frozen=True)
class PartialFile:
    path: str
    text: str          # the pre-image lines the hunks show, hunks separated by GAP_LINE
    complete: bool     # the hunks cover the whole file (e.g. a deleted file, or a file rewritten)


# Stands between hunks whose pre-image lines are not contiguous: the file there is unknown.
GAP_LINE = "⋮\n"


def pre_images(patch: str) -> list[PartialFile]:
    """What a diff alone tells about each modified or deleted file before the change.

    Only the context and removed lines of the hunks: the rest of the file is not in the diff, so
    a gap line stands wherever lines are missing (before the first hunk, between hunks). A deleted
    file's hunk covers it all: `complete`. The end of a modified file is never known.
    """
    out = []
    for section in split_file_diffs(patch):
        if section.old_path is None or section.binary:
            continue
        lines: list[str] = []
        next_line = 1
        last = ""
        in_hunk = False
        for line in section.text.splitlines(keepends=True):
            hunk = _HUNK.match(line)
            if hunk:
                in_hunk = True
                start = int(hunk.group(1))
                count = int(hunk.group(2)) if hunk.group(2) is not None else 1
                if count == 0:
                    start += 1  # "-0,0": an empty old side sits before line 1
                if start > next_line:
                    lines.append(GAP_LINE)
                next_line = start
                continue
            if not in_hunk:
                continue
            if line.startswith((" ", "-")):
                lines.append(line[1:])
                next_line += 1
            elif line.startswith("\\") and last in (" ", "-") and lines[-1].endswith("\n"):
                lines[-1] = lines[-1][:-1]  # "\\ No newline at end of file" belongs to the line before
            last = line[:1]
        complete = section.new_path is None and GAP_LINE not in lines
        out.append(PartialFile(section.old_path, "".join(lines), complete))
    return out
