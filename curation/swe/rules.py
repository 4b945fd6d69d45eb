"""Which commits make a task: one pure function per rule, each naming its reason.

The history walker applies them in this order (the first that fires is the recorded reason),
cheapest first, so that most commits are decided from the log alone:

  from the log          root_commit, merge_without_body / merge_commit, bot_author, revert,
                        empty_message, empty_change, generated_only, special_file_change
  from the diff         diff_too_large, undecodable_change, binary_change, version_bump,
                        no_code_change
  from the contents     formatting_only
  from the parent tree  binary_change (a touched file), parent_unparsable, context_over_budget

Reasons are stable strings (they are the `reason` column of removed/swe/); the detail column
says which file or number decided it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from curation.ingest.filetypes import generated_reason, vendored_reason
from curation.ingest.languages import detect_language, language_kind

# GitHub apps sign as "name[bot]"; the rest are the dependency and CI bots that push or open PRs.
_BOT_AUTHOR = re.compile(
    r"\[bot\]|^(?:dependabot|renovate|greenkeeper|snyk-bot|github-actions|pre-commit-ci|imgbot|allcontributors"
    r"|mergify|codecov|pyup-bot|deepsource-autofix)\b|^[\w.-]*bot@", re.IGNORECASE)
_BOT_BRANCH = re.compile(r"^Merge pull request #\d+ from [^/\s]+/(?:dependabot|renovate|greenkeeper|snyk|"
                         r"pre-commit-ci|imgbot|all-contributors)[-/]", re.IGNORECASE)
_MERGE_SUBJECT = re.compile(r"^Merge (?:pull request #\d+ from \S+|branch '[^']*'(?: of \S+)?(?: into \S+)?"
                            r"|remote-tracking branch '[^']*'|tag '[^']*'|[0-9a-f]{7,40})\s*$")
_REVERT_SUBJECT = re.compile(r"^Revert \"")
_REVERT_BODY = re.compile(r"^This reverts commit [0-9a-f]{7,40}", re.MULTILINE)
# "#123", "GH-123", "owner/repo#123"; the number is what is kept
_ISSUE_REF = re.compile(r"(?:(?<![\w&])#|\bGH-)(\d{1,7})\b")

_VERSION = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*(?:[-.+][0-9A-Za-z.]+)?\b")
_VERSION_WORD = re.compile(r"version|release|docs\.rs/|@v?\d|^\s*\"?[\w.-]+\"?\s*[:=]\s*\"?[~^>=<]*v?\d", re.IGNORECASE)
_MANIFESTS = frozenset({
    "package.json", "Cargo.toml", "go.mod", "setup.py", "setup.cfg", "pyproject.toml", "pom.xml",
    "build.gradle", "build.gradle.kts", "composer.json", "mix.exs", "pubspec.yaml", "version.txt", "VERSION",
    "__init__.py", "version.py", "_version.py", "__about__.py", "meson.build", "CMakeLists.txt",
})
_WHITESPACE = re.compile(r"\s+")


def bot_reason(author: str, email: str, message: str) -> str | None:
    """Detail when the author (or, for a merged PR, its branch) is a bot."""
    for value in (author, email):
        if _BOT_AUTHOR.search(value):
            return f"author {author} <{email}>"
    first = message.split("\n", 1)[0]
    if _BOT_BRANCH.match(first):
        return f"pull request from a bot branch: {first}"
    return None


def is_revert(message: str) -> bool:
    return bool(_REVERT_SUBJECT.match(message) or _REVERT_BODY.search(message))


def merge_statement(message: str) -> str:
    """A merge commit's pull request title and body: the message without GitHub's "Merge ..." line.

    Empty when the merge says nothing but where it came from ("Merge branch 'stable'").
    """
    lines = message.strip("\n").split("\n")
    if lines and _MERGE_SUBJECT.match(lines[0]):
        lines = lines[1:]
    return "\n".join(lines).strip()


def issue_refs(*texts: str) -> list[str]:
    """Issue and pull request numbers a message refers to, first mention first."""
    found: dict[str, None] = {}
    for text in texts:
        for number in _ISSUE_REF.findall(text):
            found.setdefault(number, None)
    return list(found)


def is_code_path(path: str) -> bool:
    return language_kind(detect_language(path)) == "code"


def generated_only_detail(paths: Iterable[str]) -> str | None:
    """Detail when every path is a lockfile, vendored or generated (by its path alone)."""
    reasons = []
    for path in paths:
        reason = generated_reason(path) or vendored_reason(path)
        if reason is None:
            return None
        reasons.append(reason)
    return ", ".join(sorted(set(reasons))) if reasons else None


def changed_lines(patch: str) -> list[tuple[str, str]]:
    """(path, line) for every added or removed line of a diff, without the +/- mark."""
    out, path = [], ""
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            path = line.rsplit(" b/", 1)[-1]
        elif line.startswith(("+++ ", "--- ")):
            continue
        elif line[:1] in ("+", "-") and line[1:].strip():
            out.append((path, line[1:]))
    return out


def version_bump_detail(patch: str) -> str | None:
    """Detail when every changed line outside prose files sets a version.

    A line counts when it holds a version number and either sits in a manifest (package.json,
    Cargo.toml, go.mod, __init__.py, ...) or says so itself ("version", "release", a docs.rs
    URL, `name = "1.2"`). A changed float in code (`timeout = 1.5`) needs one of the two.
    """
    lines = [(p, line) for p, line in changed_lines(patch)
             if language_kind(detect_language(p)) != "prose" and not p.split("/")[-1].upper().startswith("CHANGE")]
    if not lines:
        return None
    for path, line in lines:
        if not _VERSION.search(line):
            return None
        if path.rsplit("/", 1)[-1] not in _MANIFESTS and not _VERSION_WORD.search(line):
            return None
    versions = sorted({m.group(0) for _, line in lines for m in _VERSION.finditer(line)})
    return f"{len(lines)} changed lines, versions {', '.join(versions[:6])}"


def only_whitespace_differs(old: str, new: str) -> bool:
    return old != new and _WHITESPACE.sub("", old) == _WHITESPACE.sub("", new)
