"""Trajectories synthesized from SWE tasks: every tool response is produced by git from the
repository at `base_commit`, never written by us.

Input (the SWE-tasks source gives these): a clone of the repository, `base_commit`, the
`statement` and the `patch` (a unified diff that applies at `base_commit`). The conversation:

  user       the statement
  assistant  list_files("")                 -> `git ls-tree --name-only <base>`
  assistant  list_files(dir) per touched dir  -> `git ls-tree --name-only <base> <dir>/`
  assistant  search(symbol, dir) per hunk     -> `git grep -n -F -e <symbol> <base> -- <dir>`
             (the symbol is the function/class the hunk header names; `<base>:` prefix removed,
             first SEARCH_MAX_LINES lines, as the tool's schema says)
  assistant  open_file(path[, start, end])  -> `git show <base>:<path>` (those lines, 1-based)
  assistant  apply_patch(patch)             -> what `git apply --cached --verbose` prints on an
                                               index read from <base>
  assistant  a final answer naming the files changed (facts from the diff)

The assistant turns carry tool calls only (no invented reasoning); the final answer is a fixed
sentence over the patch's own file list.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from curation.agent.errors import TrajectoryError
from curation.agent.model import Conversation, Message, ToolCall

SEARCH_MAX_LINES = 50  # a search tool answers with its first 50 matches, like a terminal page
OPEN_WHOLE_MAX_LINES = 400  # longer files are opened around each hunk
OPEN_CONTEXT_LINES = 40  # lines shown before and after a hunk
MAX_DIRS = 3

TOOLS = [
    {"type": "function", "function": {"name": "list_files", "description": "List the entries of a directory of the repository.",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "search", "description": f"Fixed-string search (git grep -n); at most {SEARCH_MAX_LINES} matching lines.",
                                      "parameters": {"type": "object", "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}}, "required": ["pattern"]}}},
    {"type": "function", "function": {"name": "open_file", "description": "Show a file, or its lines start_line..end_line (1-based, inclusive).",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "apply_patch", "description": "Apply a unified diff to the repository.",
                                      "parameters": {"type": "object", "properties": {"patch": {"type": "string"}}, "required": ["patch"]}}},
]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@ ?(.*)$")
_SYMBOL = re.compile(r"\b(?:def|class|func|fn|function|struct|impl|interface|type|enum|trait)\s+(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class SweTask:
    repo: str  # path of a clone that has base_commit
    base_commit: str
    statement: str
    patch: str
    id: str = ""


@dataclass
class FileDiff:
    path: str  # path at base ("" for a new file)
    hunks: list[tuple[int, int, str]]  # (first old line, old line count, header context)


def git(repo: str | Path, *args: str, env: dict | None = None, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise TrajectoryError("git_failed", f"git {' '.join(args[:3])}: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return proc.stdout.decode("utf-8", errors="replace")


def parse_patch(patch: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            files.append(FileDiff("", []))
        elif line.startswith("--- ") and files:
            old = line[4:].split("\t")[0]
            files[-1].path = "" if old == "/dev/null" else old.removeprefix("a/")
        elif line.startswith(("Binary files ", "GIT binary patch")):
            raise TrajectoryError("binary_patch", "the patch changes a binary file")
        else:
            m = _HUNK.match(line)
            if m and files:
                files[-1].hunks.append((int(m.group(1)), int(m.group(2) or 1), m.group(3)))
    return files


def changed_paths(patch: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", patch, flags=re.MULTILINE)]


class RepoTools:
    """The tools, answered from the repository at one commit."""

    def __init__(self, repo: str | Path, base: str):
        self.repo, self.base = str(repo), base

    def list_files(self, path: str) -> str:
        return git(self.repo, "ls-tree", "--name-only", self.base, *([path.rstrip("/") + "/"] if path else []))

    def search(self, pattern: str, path: str = "") -> str:
        out = git(self.repo, "grep", "-n", "-F", "-e", pattern, self.base, "--", *([path] if path else []), check=False)
        lines = [line.removeprefix(f"{self.base}:") for line in out.splitlines()[:SEARCH_MAX_LINES]]
        return "\n".join(lines)

    def open_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        text = git(self.repo, "show", f"{self.base}:{path}")
        if start_line is None:
            return text
        return "".join(text.splitlines(keepends=True)[start_line - 1 : end_line])

    def apply_patch(self, patch: str) -> str:
        """`git apply --cached --verbose` on a scratch index read from the base commit."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            git(self.repo, "read-tree", self.base, env=env)
            patch_file = Path(tmp) / "change.diff"
            patch_file.write_text(patch, encoding="utf-8")
            proc = subprocess.run(["git", "-C", self.repo, "apply", "--cached", "--verbose", str(patch_file)],
                                  capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            raise TrajectoryError("patch_does_not_apply", proc.stderr.decode(errors="replace").strip()[:300])
        return (proc.stderr + proc.stdout).decode("utf-8", errors="replace")

    def answer(self, call: ToolCall) -> str:
        return getattr(self, call.name)(**call.parsed_arguments())


def _calls(task: SweTask, files: list[FileDiff], tools: RepoTools) -> list[ToolCall]:
    calls = [ToolCall("list_files", json.dumps({"path": ""}))]
    dirs = []
    for path in changed_paths(task.patch):
        d = str(Path(path).parent)
        if d != "." and d not in dirs and tools.list_files(d):
            dirs.append(d)
    calls += [ToolCall("list_files", json.dumps({"path": d})) for d in dirs[:MAX_DIRS]]
    searched = set()
    for f in files:
        for _, _, context in f.hunks:
            m = _SYMBOL.search(context)
            if f.path and m and m.group(1) not in searched:
                searched.add(m.group(1))
                scope = str(Path(f.path).parent)
                calls.append(ToolCall("search", json.dumps({"pattern": m.group(1), "path": "" if scope == "." else scope})))
    for f in files:
        if not f.path:
            continue  # a new file: nothing to open at base
        n_lines = len(tools.open_file(f.path).splitlines())
        if n_lines <= OPEN_WHOLE_MAX_LINES:
            calls.append(ToolCall("open_file", json.dumps({"path": f.path})))
            continue
        for start, end in _windows(f.hunks, n_lines):
            calls.append(ToolCall("open_file", json.dumps({"path": f.path, "start_line": start, "end_line": end})))
    calls.append(ToolCall("apply_patch", json.dumps({"patch": task.patch}, ensure_ascii=False)))
    return calls


def _windows(hunks: list[tuple[int, int, str]], n_lines: int) -> list[tuple[int, int]]:
    spans: list[list[int]] = []
    for first, count, _ in hunks:
        a, b = max(1, first - OPEN_CONTEXT_LINES), min(n_lines, first + count + OPEN_CONTEXT_LINES)
        if spans and a <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(a, b) for a, b in spans]


def synthesize(task: SweTask) -> Conversation:
    """The trajectory of one SWE task; TrajectoryError when the patch is binary or does not apply."""
    files = parse_patch(task.patch)
    if not files:
        raise TrajectoryError("empty_patch", "the patch changes no file")
    tools = RepoTools(task.repo, task.base_commit)
    messages = [Message("user", task.statement)]
    for k, call in enumerate(_calls(task, files, tools)):
        call.id = f"call_{k}"
        messages.append(Message("assistant", tool_calls=[call]))
        messages.append(Message("tool", tools.answer(call), tool_call_id=call.id, name=call.name))
    paths = changed_paths(task.patch)
    messages.append(Message("assistant", f"The change is applied: {len(paths)} file(s) edited ({', '.join(paths)})."))
    return Conversation(id=task.id or task.base_commit[:12], messages=messages, tools=TOOLS, finished=True,
                        origin=f"{task.repo}@{task.base_commit}")


def commit_task(repo: str | Path, commit: str) -> SweTask:
    """A task from one commit of a clone: its message, its parent as base, its diff as the patch."""
    base = git(repo, "rev-parse", f"{commit}^").strip()
    statement = git(repo, "log", "-1", "--format=%B", commit).strip()
    patch = git(repo, "diff", "--no-color", "--no-ext-diff", base, commit)
    return SweTask(repo=str(repo), base_commit=base, statement=statement, patch=patch, id=commit[:12])
