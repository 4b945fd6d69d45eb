"""Walking a folder repository with lstat only: its entries (`scan_tree`, what ingest reads) and
its size (`tree_size`, how the driver sizes it before any task starts)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple


class Entry(NamedTuple):
    path: str
    full: str
    st: os.stat_result | None
    drop: str | None  # only "unreadable" here; other verdicts are made when reading
    size: int
    detail: str = ""


def scan_tree(root: Path) -> list[Entry]:
    """Every non-directory entry under root, via lstat only; .git directories are skipped."""
    out: list[Entry] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        full_dir = os.path.join(root, rel_dir)
        try:
            with os.scandir(full_dir) as it:
                children = list(it)
        except OSError as err:
            out.append(Entry(rel_dir, full_dir, None, "unreadable", 0, str(err)))
            continue
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as err:
                out.append(Entry(rel, child.path, None, "unreadable", 0, str(err)))
                continue
            if stat.S_ISDIR(st.st_mode):
                if child.name != ".git":  # the repository database, never content
                    pending.append(rel)
                continue
            out.append(Entry(rel, child.path, st, None, st.st_size))
    return sorted(out)


def tree_size(root: str, cap: int) -> tuple[int, int]:
    """(bytes, count) of the regular files up to `cap` under root, as `scan_tree` would list them (lstat,
    .git skipped), without building its entries or sorting them: the driver sizes every repository
    before any task starts (0.58 -> 0.18 s for the registry corpus's 19,783 files)."""
    total, files, pending = 0, 0, [root]
    while pending:
        try:
            it = os.scandir(pending.pop())
        except OSError:
            continue  # files() reports it
        with it:
            for child in it:
                try:
                    st = child.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if child.name != ".git":
                        pending.append(child.path)
                elif stat.S_ISREG(st.st_mode) and st.st_size <= cap:
                    total += st.st_size
                    files += 1
    return total, files
