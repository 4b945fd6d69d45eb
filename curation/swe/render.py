"""One SWE task as a document: its sections, the readable `text`, and its exact token ids.

Layout (each marker is ONE control id, inserted by id; the text between markers is encoded on
its own, exactly as the repository documents encode a file):

    <repo>        encode(f"{repo}\\n")
    <statement>   encode(statement)
    <file>        encode(f"{path}\\n") encode(pre-change content)      per context file, in order
    <patch>       encode(patch)                                         code files of the diff
    <test_patch>  encode(test_patch)                                    test files of the diff (may be empty)

The repo and file markers are the repository documents' separators (`<_control1>`, `<_control2>`),
so a context file looks exactly like a file of a repository document. Statement, patch and test
patch markers default to `<_control6>`..`<_control8>` (3..5 are the FIM sentinels).

Why fields and not offsets into `text`: the document's structure must survive steps that run
between the reader and the tokenizer. The docs/ row carries the sections as columns (statement,
files, context, patch, test_patch); `text` is their rendering with each marker's piece written
out, for people and for text-level steps (dedup, decontamination). The tokenizer builds the ids
from the columns (`task_token_ids`), never by looking for marker pieces in `text`: a source file
may contain the literal string `<_control2>`. A step that rewrites a task's text (redaction) goes
through `rewrite_task`, which rewrites the columns and renders `text` again; the tokenizer checks
`render_text(...) == text` and refuses a task whose columns and text disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from curation.schema import ConfigError, StrictModel
from curation.tokenize.tokenizer import TokenizerError

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

SECTIONS = ("repo", "statement", "file", "patch", "test_patch")
SWE_UNIT = "swe_task"  # the docs/ `unit` of a task document
# docs/ columns a task adds to DOC_SCHEMA (name -> arrow type name, as steps declare them)
DOC_COLUMNS = {"base_commit": "string", "commit": "string", "statement": "string", "patch": "string",
               "test_patch": "string", "files": "list<string>", "context": "list<string>", "issues": "list<string>",
               "context_source": "string", "swe_tokens": "int64"}


class SweMarkerPieces(StrictModel):
    repo: str = Field("<_control1>", description="opens the task, before the repository name")
    statement: str = Field("<_control6>", description="before the problem statement")
    file: str = Field("<_control2>", description="before each context file's path")
    patch: str = Field("<_control7>", description="before the diff of the code files")
    test_patch: str = Field("<_control8>", description="before the diff of the test files")

    @model_validator(mode="after")
    def _distinct(self):
        pieces = [getattr(self, name) for name in SECTIONS]
        if len(set(pieces)) != len(pieces):
            raise ValueError(f"the five SWE markers must be different pieces, got {pieces}")
        return self


@dataclass(frozen=True)
class MarkerIds:
    repo: int
    statement: int
    file: int
    patch: int
    test_patch: int


def resolve_markers(tokenizer: Tokenizer, pieces: SweMarkerPieces, key: str = "swe.markers") -> MarkerIds:
    """Single ids of the marker pieces; a piece raw text can produce is refused, naming the key."""

    ids = {}
    for name in SECTIONS:
        try:
            ids[name] = tokenizer.token_id(getattr(pieces, name))
        except TokenizerError as err:
            raise ConfigError(f"{key}.{name}: {err}") from None
    return MarkerIds(**ids)


@dataclass(frozen=True)
class TaskFields:
    """What a task document is made of; the docs/ columns of the same names."""

    repo: str
    statement: str
    files: Sequence[str]       # context paths, in document order
    context: Sequence[str]     # their pre-change contents, same order
    patch: str
    test_patch: str

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> TaskFields:
        return cls(meta["repo"], meta["statement"], list(meta["files"]), list(meta["context"]), meta["patch"],
                   meta["test_patch"] or "")


def segments(task: TaskFields) -> list[tuple[str | None, str]]:
    """(marker name or None, text) in document order; a None marker continues the previous section."""
    out: list[tuple[str | None, str]] = [("repo", f"{task.repo}\n"), ("statement", task.statement)]
    for path, content in zip(task.files, task.context, strict=True):
        out.append(("file", f"{path}\n"))
        out.append((None, content))
    out.append(("patch", task.patch))
    out.append(("test_patch", task.test_patch))
    return out


def render_text(task: TaskFields, pieces: SweMarkerPieces) -> str:
    return "".join((getattr(pieces, m) if m else "") + text for m, text in segments(task))


def task_token_ids(task: TaskFields, tokenizer: Tokenizer, markers: MarkerIds, *, threads: int = 1) -> list[int]:
    """The document's ids: each marker by id, each text encoded on its own."""
    parts = segments(task)
    encoded = tokenizer.encode_batch([text for _, text in parts], num_threads=threads)
    ids: list[int] = []
    for (marker, _), piece in zip(parts, encoded):
        if marker is not None:
            ids.append(getattr(markers, marker))
        ids.extend(piece)
    return ids


def task_token_ids_checked(meta: Mapping[str, Any], text: str, tokenizer: Tokenizer, markers: MarkerIds,
                           pieces: SweMarkerPieces, *, doc_id: str = "") -> list[int]:
    """What the tokenize step calls for a `unit == "swe_task"` document."""
    task = TaskFields.from_metadata(meta)
    if render_text(task, pieces) != text:
        raise ValueError(f"{doc_id}: the task's text no longer matches its columns (statement, context, patch, "
                         f"test_patch): a step rewrote `text` without curation.swe.render.rewrite_task")
    return task_token_ids(task, tokenizer, markers)


def rewrite_task(meta: dict[str, Any], rewrite: Callable[[str], str], pieces: SweMarkerPieces) -> str:
    """Apply a text rewrite (e.g. redaction) to every section of a task; returns the new `text`.

    Paths and the repository name are left alone: they are identifiers, not content.
    """
    meta["statement"] = rewrite(meta["statement"])
    meta["context"] = [rewrite(content) for content in meta["context"]]
    meta["patch"] = rewrite(meta["patch"])
    meta["test_patch"] = rewrite(meta["test_patch"] or "")
    return render_text(TaskFields.from_metadata(meta), pieces)


def change_text(meta: Mapping[str, Any]) -> str:
    """What makes a task itself: its statement and its change. Near-dedup compares tasks on this,
    not on `text`: tasks of one repository share most of their context (the same files at nearby
    revisions), so their texts are near-duplicates while their changes are not."""
    return f"{meta['statement']}\n{meta['patch']}{meta.get('test_patch') or ''}"
