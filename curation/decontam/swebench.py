"""SWE-bench-style guard: a SWE task mined from a benchmark instance's repository, at or after
that instance's base commit, would teach the model the instance's fix; it is caught by metadata,
not text (the statement and patch of a mined commit need not resemble the instance's).

A document is checked when it is a SWE task (`unit = 'swe_task'`, with `repo` and `base_commit`
/ `commit`, as the SWE-task documents have them) or carries a `base_commit` (a trajectory built
from a task); code files (`rev`, no base commit) are matched by text only. It is caught when its commit or base commit is
an instance's base commit, or descends from it. Descent needs the repository's history: a local
clone named in `swe_git_dirs`; without one the order cannot be told and `swe_unknown_order`
decides (drop by default: the cost of a lost task is small, the cost of a leaked fix is a
worthless benchmark number).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache

SWE_UNITS = frozenset({"swe_task"})


def normalize_repo(name: str) -> str:
    """`https://github.com/Owner/Name.git`, `owner/name`, `owner+name` -> `owner/name`."""
    name = name.strip().lower().removesuffix("/").removesuffix(".git")
    name = re.sub(r"^[a-z]+://[^/]+/", "", name).replace("+", "/")
    parts = [p for p in name.split("/") if p]
    return "/".join(parts[-2:])


@dataclass(frozen=True)
class SweHit:
    benchmark: str
    item_id: str
    detail: str


class SweGuard:
    def __init__(self, instances: list[dict], *, git_dirs: dict[str, str] | None = None,
                 unknown_order: str = "drop"):
        self.by_repo: dict[str, list[dict]] = {}
        for inst in sorted(instances, key=lambda i: (i.get("date") or "", i["item_id"])):
            if inst.get("repo") and inst.get("base_commit"):
                self.by_repo.setdefault(normalize_repo(inst["repo"]), []).append(inst)
        self.git_dirs = {normalize_repo(k): v for k, v in (git_dirs or {}).items()}
        self.unknown_order = unknown_order

    def _instances(self, repo: str) -> list[dict]:
        key = normalize_repo(repo)
        if key in self.by_repo:
            return self.by_repo[key]
        if "/" not in key:  # a bare name: match the repository name of any owner
            return [i for k, v in self.by_repo.items() if k.split("/")[-1] == key for i in v]
        return []

    def check(self, meta: dict) -> SweHit | None:
        task_like = meta.get("unit") in SWE_UNITS or bool(meta.get("base_commit"))  # trajectories of tasks too
        if not task_like or not meta.get("repo") or not self.by_repo:
            return None
        instances = self._instances(meta["repo"])
        if not instances:
            return None
        commits = [c for c in (meta.get("commit"), meta.get("base_commit")) if c]
        for inst in instances:
            base = inst["base_commit"]
            if any(c.startswith(base) or base.startswith(c) for c in commits if len(c) >= 7):
                return SweHit(inst["benchmark"], inst["item_id"],
                              f"{inst['item_id']}: {meta['repo']} at its base commit {base[:12]}")
        git_dir = self.git_dirs.get(normalize_repo(meta["repo"]))
        if git_dir is None:
            if self.unknown_order == "drop":
                inst = instances[0]
                return SweHit(inst["benchmark"], inst["item_id"],
                              f"{meta['repo']} is a benchmark repository ({len(instances)} instances, first "
                              f"{inst['item_id']}); commit order unknown (no clone in swe_git_dirs)")
            return None
        unknown = None
        for inst in instances:  # oldest first: the usual later commit is caught by the first check
            for c in commits:
                order = _is_ancestor(git_dir, inst["base_commit"], c)
                if order:
                    return SweHit(inst["benchmark"], inst["item_id"],
                                  f"{inst['item_id']}: {meta['repo']} commit {c[:12]} is at or after its base "
                                  f"commit {inst['base_commit'][:12]}")
                if order is None and unknown is None:
                    unknown = inst
        if unknown is not None and self.unknown_order == "drop":
            return SweHit(unknown["benchmark"], unknown["item_id"],
                          f"{unknown['item_id']}: order of {meta['repo']} {commits[0][:12]} against base commit "
                          f"{unknown['base_commit'][:12]} unknown (not in the clone {git_dir})")
        return None


@lru_cache(maxsize=65536)
def _is_ancestor(git_dir: str, ancestor: str, commit: str) -> bool | None:
    """True / False, or None when the clone does not have one of the commits."""
    if not os.path.isdir(git_dir):
        raise FileNotFoundError(f"decontaminate.swe_git_dirs: {git_dir}: no such folder")
    proc = subprocess.run(["git", "-C", git_dir, "merge-base", "--is-ancestor", ancestor, commit],
                          capture_output=True, text=True)
    return {0: True, 1: False}.get(proc.returncode)
