"""An output folder in object storage (`--out s3://bucket/prefix`, or any fsspec URL): the run works
in a local mirror of it, and the object store holds the truth.

Every step keeps writing local files by temp + rename (curation.io), so a run into a URL makes the
same bytes as a run into a folder. The store gets them in an order that keeps resume safe:

    task      the last step of every run (`Publish`) uploads the files the task wrote, then its
              completion marker `logs/<stage>/completions/NNNNN`: a marker on the store means the
              task's outputs are there (an object appears only when its upload completes, so a
              killed upload leaves nothing).
    driver    after every stage (merged plans, stats, index.json, plan.json, the report) and at the
              start, `pull`: the mirror is brought to the store's state and a local completion
              marker the store does not have is removed, so a resumed run redoes exactly the tasks
              the store has no marker for, even on another machine with an empty mirror.

The mirror lives under `$CURATION_OBJSTORE_CACHE` (default `~/.cache/curation/objstore`); on Slurm
or Ray it must be a folder every node sees, like a local OUT. Credentials and the endpoint come from
the environment as for every AWS client (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.load import Pipeline
from curation.objstore import is_remote, stage_in, url_fs
from curation.steps import Described

PARTIAL_SUFFIXES = (".tmp", ".part")  # a file being written under its temporary name


def cache_root() -> Path:
    return Path(os.environ.get("CURATION_OBJSTORE_CACHE") or Path.home() / ".cache" / "curation" / "objstore")


def local_copy(url: str, kind: str) -> Path:
    """Where the local copy of `url` lives: `kind` is "out" (a mirror) or "in" (staged inputs)."""
    fs, path = url_fs(url)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return cache_root() / kind / protocol / path.strip("/")


def stage_inputs(pipeline: Pipeline) -> Pipeline:
    """The pipeline with every input URL replaced by its local copy (fetched once per object
    version), for readers that open paths: git repositories, archives, folders of files."""
    inputs = {}
    for name, inp in pipeline.config.inputs.items():
        paths = getattr(inp, "paths", None) or []
        if any(is_remote(p) for p in paths):
            inp = inp.model_copy(update={"paths": [
                str(stage_in(p, cache_root() / "in")) if is_remote(p) else p for p in paths]})
        inputs[name] = inp
    return replace(pipeline, config=pipeline.config.model_copy(update={"inputs": inputs}))


class OutputMirror:
    """A local folder kept in step with an output URL."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = url_fs(self.url)
        self.root = self.root.rstrip("/")
        self.local = local_copy(self.url, "out")

    @classmethod
    def for_out(cls, out: str | Path) -> OutputMirror | None:
        """The mirror of an output URL; None for a local folder (written in place, as always)."""
        return cls(str(out)) if is_remote(out) else None

    def _remote_files(self) -> dict[str, dict]:
        """Relative path -> object info of everything under the URL."""
        if not self.fs.exists(self.root):
            return {}
        found = self.fs.find(self.root, detail=True)
        return {os.path.relpath(key, self.root): info for key, info in found.items() if info.get("type") != "directory"}

    def pull(self, *, skip: tuple[str, ...] = ()) -> int:
        """Make the mirror hold exactly what the store holds, but for paths starting with one of
        `skip` (e.g. "work/" for a command that only reads results); returns the files fetched."""
        self.fs.invalidate_cache()
        remote = self._remote_files()
        fetched = 0
        for rel, info in sorted(remote.items()):
            if rel.startswith(skip):
                continue
            local = self.local / rel
            if local.is_file() and local.stat().st_size == info["size"]:
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(local.name + ".part")
            self.fs.get_file(f"{self.root}/{rel}", str(tmp))
            os.replace(tmp, local)
            fetched += 1
        # The store decides what is done: a file only the mirror has (a completion marker above
        # all) is from a task or a run whose outputs may never have reached the store.
        for local in [p for p in self.local.rglob("*") if p.is_file()] if self.local.is_dir() else []:
            rel = str(local.relative_to(self.local))
            if rel not in remote and not rel.startswith(skip):
                local.unlink()
        return fetched

    def push(self) -> int:
        """Upload what changed in the mirror since the store last got it; returns the count."""
        self.fs.invalidate_cache()
        remote = self._remote_files()
        sent = 0
        for local in sorted(p for p in self.local.rglob("*") if p.is_file() and not p.name.endswith(PARTIAL_SUFFIXES)):
            rel = str(local.relative_to(self.local))
            try:
                stat = local.stat()
            except FileNotFoundError:  # a work file removed while we walked
                continue
            info = remote.get(rel)
            if info is not None and info["size"] == stat.st_size and _modified(info) >= stat.st_mtime:
                continue
            upload(local, f"{self.root}/{rel}", self.fs)
            sent += 1
        return sent

    def forget(self, local: Path) -> None:
        """Remove a file from the mirror and the store (a completion marker whose task must run again)."""
        local.unlink(missing_ok=True)
        key = f"{self.root}/{local.relative_to(self.local)}"
        if self.fs.exists(key):
            self.fs.rm_file(key)

    def publisher(self, stage: str) -> Publish:
        return Publish(mirror=str(self.local), url=self.url, stage=stage)


def readable_out(out: str | Path, *, skip: tuple[str, ...] = ("work/",)) -> tuple[Path, OutputMirror | None]:
    """A local folder holding what `out` holds, for the commands that read an output folder
    (status, inspect, report); a URL is pulled into its mirror first."""
    mirror = OutputMirror.for_out(out)
    if mirror is None:
        return Path(out), None
    mirror.pull(skip=skip)
    return mirror.local, mirror


def _modified(info: dict) -> float:
    modified = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
    if modified is None:
        return 0.0
    return modified.timestamp() if hasattr(modified, "timestamp") else float(modified)


def upload(local: Path, key: str, fs) -> None:
    """One file to the store: the object appears only when its upload completes."""
    fs.put_file(str(local), key)


class Publish(Described, PipelineStep):
    """The last step of every run into a URL: once the task's other steps are done (their files
    closed and renamed), upload the files the task wrote, then its completion marker."""

    name = "publish"
    type = "💽 - WRITER"

    def __init__(self, *, mirror: str, url: str, stage: str):
        super().__init__()
        self.mirror, self.url, self.stage = mirror, url, stage

    def task_files(self, rank: int, since: float) -> list[Path]:
        """Files of task `rank` written since `since`: every per-task file is named `{rank:05d}.*`."""
        stem = f"{rank:05d}"
        found = []
        for folder, _, names in os.walk(self.mirror):
            for name in names:
                if name.partition(".")[0] != stem or name.endswith(PARTIAL_SUFFIXES):
                    continue
                path = Path(folder) / name
                if "completions" not in path.parts and path.stat().st_mtime >= since:
                    found.append(path)
        return sorted(found)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        started = time.time() - 1  # mtime granularity: a file closed in the same second still counts
        if data:
            yield from data
        fs, root = url_fs(self.url)
        root = root.rstrip("/")
        files = self.task_files(rank, started)
        for path in files:
            upload(path, f"{root}/{path.relative_to(self.mirror)}", fs)
        with fs.open(f"{root}/logs/{self.stage}/completions/{rank:05d}", "wb"):
            pass  # empty, as datatrove's own marker
        self.stat_update("uploaded", value=len(files))
