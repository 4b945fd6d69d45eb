"""Atomic, resumable groups of output files (a dataset's .bin and .idx, and their sidecars).

A group is written under `.tmp` names and renamed into place only when every file is complete;
then a marker `<name>.done.json` records each file's size and sha256 and the inputs it was made
from. A re-run skips the group when the marker's inputs are the same and every file still has
the recorded size and hash; anything else (no marker, a changed input, a truncated or edited
file) rewrites the group. A crash leaves `.tmp` files and no marker: the next run starts over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from curation.export.contract import file_sha256

MARKER_SUFFIX = ".done.json"


class OutputGroup:
    """`with OutputGroup(marker, files, inputs) as group:` write to `group.tmp(path)` for each of
    `files`; a clean exit renames them all and writes the marker, an exception deletes the temps."""

    def __init__(self, marker: Path, files: list[Path], inputs: dict[str, Any]) -> None:
        self.marker = Path(marker)
        self.files = [Path(f) for f in files]
        self.inputs = inputs

    def tmp(self, path: Path) -> Path:
        path = Path(path)
        if path not in self.files:
            raise KeyError(f"{path} is not one of this group's files")
        return path.with_name(path.name + ".tmp")

    def is_done(self) -> bool:
        if not self.marker.is_file():
            return False
        try:
            record = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return False
        if record.get("inputs") != json.loads(json.dumps(self.inputs)):
            return False
        recorded = record.get("files", {})
        for path in self.files:
            entry = recorded.get(path.name)
            if entry is None or not path.is_file() or path.stat().st_size != entry["size"]:
                return False
            if file_sha256(path) != entry["sha256"]:
                return False
        return True

    def __enter__(self) -> OutputGroup:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.unlink(missing_ok=True)  # from here on the group is unfinished until committed
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for path in self.files:
                self.tmp(path).unlink(missing_ok=True)
            return
        record: dict[str, Any] = {"inputs": self.inputs, "files": {}}
        for path in self.files:
            tmp = self.tmp(path)
            record["files"][path.name] = {"size": tmp.stat().st_size, "sha256": file_sha256(tmp)}
            os.replace(tmp, path)
        write_json_atomic(self.marker, record)


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
