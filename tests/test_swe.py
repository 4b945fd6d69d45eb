"""SWE tasks on the four real histories in ../shared/git (Python, Go, JavaScript, Rust).

For each repository, the whole first-parent history of HEAD at a 32K context:
- every task's patch, test_patch and both together apply with `git apply --check` on a checkout
  of base_commit; the pre-change content of every touched file is `git show base_commit:path`,
  and sits in `text` after its file marker; every other context file is the blob at base_commit;
- tasks + skips = `git rev-list --first-parent --count HEAD`;
- the token count the reader budgeted is the length of the ids the tokenizer builds, <= context;
- skip reasons of named real commits.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SHARED

BUNDLES = SHARED / "git"
MAX_TOKENS = 32 * 1024 - 1
REPOS = ["pallets+itsdangerous", "sirupsen+logrus", "chalk+chalk", "dtolnay+anyhow"]

# Real commits and the reason each must be skipped for (looked up by hand in the histories).
EXPECTED_SKIPS = {
    "pallets+itsdangerous": {
        "672971d66a": "merge_without_body",          # Merge branch 'stable'
        "aa7e016aae": "bot_author",                  # dependabot[bot]: Bump actions/cache
        "0b6975b570": "revert",                      # Revert "JWT Serializer sets default media type header"
        "b393ac71cb": "root_commit",                 # Initial version
        "62fde54d4f": "no_code_change",              # update test workflow trigger (.github/ yaml)
        "2769c5bca1": "binary_change",               # Added documentation (a png)
    },
    "sirupsen+logrus": {
        "352781de90": "revert",                      # Revert "Merge pull request #1376 ..."
        "56c843c73d": "generated_only",              # fix-cve: go.sum only
        "97978e5e54": "formatting_only",             # Merge pull request #37 from eapache/fmt
        "43e3c5e203": "empty_change",
        "87434bb3a7": "no_code_change",              # bump testify: go.mod + go.sum
    },
    "chalk+chalk": {
        "5155778": "version_bump",                   # 5.6.2
    },
    "dtolnay+anyhow": {
        "1dbe186": "version_bump",                   # Release 1.0.104 (Cargo.toml + docs.rs URL in lib.rs)
        "d9dc3fa": "no_code_change",                 # Update actions/checkout@v6 -> v7
    },
}


def git(repo: Path, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=check)


@pytest.fixture(scope="module")
def tokenizer(telechat3):
    from curation.tokenize.tokenizer import load_tokenizer

    return load_tokenizer(str(telechat3))


@pytest.fixture(scope="module")
def clones(tmp_path_factory):
    if not BUNDLES.is_dir():
        pytest.skip(f"no git bundles at {BUNDLES} (../shared/git)")
    root = tmp_path_factory.mktemp("bundles")
    for name in REPOS:
        git(root, "clone", "-q", str(BUNDLES / f"{name}.bundle"), name)
    return root


@pytest.fixture(scope="module")
def mined(clones, tokenizer):
    from curation.config.swe import GitHistoryInput
    from curation.swe.history import HistoryMiner
    from curation.swe.render import SweMarkerPieces, resolve_markers

    markers = resolve_markers(tokenizer, SweMarkerPieces())
    out = {}
    for name in REPOS:
        cfg = GitHistoryInput(kind="git_history", paths=[str(clones / name)])
        with HistoryMiner(clones / name, name=name, config=cfg, tokenizer=tokenizer, markers=markers,
                          max_tokens=MAX_TOKENS) as miner:
            out[name] = list(miner.mine())
    return out


@pytest.mark.parametrize("name", REPOS)
def test_every_commit_accounted_for(name, clones, mined):
    from curation.swe.history import Task

    outcomes = mined[name]
    commits = int(git(clones / name, "rev-list", "--first-parent", "--count", "HEAD").stdout)
    assert len(outcomes) == commits
    assert len({o.id for o in outcomes}) == commits
    tasks = [o for o in outcomes if isinstance(o, Task)]
    assert len(tasks) >= 50, f"{name}: only {len(tasks)} tasks"
    assert all(o.reason for o in outcomes if not isinstance(o, Task))


@pytest.mark.parametrize("name", REPOS)
def test_skip_reasons_of_real_commits(name, mined):
    by_commit = {o.commit: o for o in mined[name]}
    for prefix, reason in EXPECTED_SKIPS[name].items():
        [outcome] = [o for c, o in by_commit.items() if c.startswith(prefix)]
        assert getattr(outcome, "reason", "task") == reason, (prefix, getattr(outcome, "detail", ""))


@pytest.mark.parametrize("name", REPOS)
def test_patches_apply_and_pre_images_are_exact(name, clones, mined, tokenizer, tmp_path):
    from curation.swe.history import Task
    from curation.swe.patches import split_file_diffs
    from curation.swe.render import (
        SweMarkerPieces,
        TaskFields,
        render_text,
        resolve_markers,
        task_token_ids,
    )

    repo = clones / name
    pieces = SweMarkerPieces()
    markers = resolve_markers(tokenizer, pieces)
    tasks = [o for o in mined[name] if isinstance(o, Task)]
    checkout = tmp_path / "checkout"
    git(repo, "worktree", "add", "-q", "--detach", str(checkout), tasks[0].base_commit)
    try:
        for task in tasks:
            git(checkout, "checkout", "-q", "--detach", "-f", task.base_commit)
            for patch in (task.patch, task.test_patch, task.patch + task.test_patch):
                if patch:
                    applied = git(checkout, "apply", "--check", "-", input=patch.encode(), check=False)
                    assert applied.returncode == 0, (task.id, applied.stderr.decode())
            # the two halves are the commit's diff, file sections regrouped (code first, then tests)
            diff = git(repo, "diff", "--no-renames", "--full-index", task.base_commit, task.commit).stdout.decode()
            assert sorted(s.text for s in split_file_diffs(task.patch + task.test_patch)) == \
                sorted(s.text for s in split_file_diffs(diff))
            fields = TaskFields(task.repo, task.statement, task.files, task.context, task.patch, task.test_patch)
            text = render_text(fields, pieces)
            touched = {s.old_path for s in split_file_diffs(task.patch + task.test_patch) if s.old_path}
            assert touched <= set(task.files), task.id
            contents = dict(zip(task.files, task.context))
            for path in task.files:
                shown = git(repo, "show", f"{task.base_commit}:{path}").stdout.decode("utf-8")
                assert contents[path] == shown, (task.id, path)
                assert f"{pieces.file}{path}\n{shown}" in text
            ids = task_token_ids(fields, tokenizer, markers)
            assert len(ids) == task.n_tokens <= MAX_TOKENS, task.id
    finally:
        git(repo, "worktree", "remove", "--force", str(checkout), check=False)


def test_markers_are_single_ids_never_text(tokenizer, mined):
    """A statement holding the literal marker pieces stays text; markers come only by id."""
    from curation.swe.history import Task
    from curation.swe.render import (
        SweMarkerPieces,
        TaskFields,
        resolve_markers,
        task_token_ids,
    )

    pieces = SweMarkerPieces()
    markers = resolve_markers(tokenizer, pieces)
    task = next(o for o in mined["dtolnay+anyhow"] if isinstance(o, Task) and o.test_patch)
    fields = TaskFields(task.repo, f"see {pieces.patch} and {pieces.file}", task.files, task.context, task.patch,
                        task.test_patch)
    ids = task_token_ids(fields, tokenizer, markers)
    assert ids.count(markers.patch) == ids.count(markers.test_patch) == ids.count(markers.statement) == 1
    assert ids.count(markers.file) == len(task.files)
    assert ids[0] == markers.repo


def test_reader_step_writes_removed_and_documents(clones, telechat3, tmp_path):
    """The datatrove step over a repository folder: documents + removed/swe rows = the range."""
    from curation.swe.reader import SweReader

    folder = tmp_path / "repos"
    folder.mkdir()
    (folder / "itsdangerous").symlink_to(clones / "pallets+itsdangerous")
    step = SweReader({"swe_tasks": {"kind": "git_history", "paths": [str(folder)], "max_commits": 120}},
                     tokenizer_path=str(telechat3), seq_len=32768, removed_folder=str(tmp_path / "removed"))
    docs = list(step.run(None, rank=0, world_size=1))
    removed = pq.read_table(tmp_path / "removed" / "swe" / "00000.parquet").to_pylist()
    assert len(docs) + len(removed) == 120
    assert all(r["step"] == "swe" and r["reason"] and r["id"].endswith(":swe") for r in removed)
    doc = docs[0]
    meta = doc.metadata
    assert doc.id == f"itsdangerous@{meta['commit']}:swe" and meta["unit"] == "swe_task"
    assert meta["rev"] == meta["base_commit"] and meta["license"] == "BSD-3-Clause"
    assert len(meta["files"]) == len(meta["context"]) and meta["statement"] in doc.text
    # split over two tasks: the same commits, each once
    halves = []
    for rank in (0, 1):
        out = tmp_path / f"removed{rank}"
        step = SweReader({"swe_tasks": {"kind": "git_history", "paths": [str(folder)], "max_commits": 120}},
                         tokenizer_path=str(telechat3), seq_len=32768, removed_folder=str(out))
        halves.append({d.id for d in step.run(None, rank=rank, world_size=2)}
                      | {r["id"] for r in pq.read_table(out / "swe" / f"{rank:05d}.parquet").to_pylist()})
    assert not halves[0] & halves[1]
    assert halves[0] | halves[1] == {d.id for d in docs} | {r["id"] for r in removed}


def test_swe_dataset_rows(clones, telechat3, tmp_path, mined):
    """SWE-bench-style rows built from real commits: with a clone, exact files; without, hunks."""
    from curation.swe.history import Task
    from curation.swe.reader import SweReader

    name = "pallets+itsdangerous"
    tasks = [o for o in mined[name] if isinstance(o, Task) and o.test_patch and o.patch][:5]
    rows = [{"instance_id": f"pallets__itsdangerous-{k}", "repo": "pallets/itsdangerous",
             "base_commit": t.base_commit, "problem_statement": t.statement, "patch": t.patch,
             "test_patch": t.test_patch} for k, t in enumerate(tasks)]
    rows.append({"instance_id": "broken", "repo": "pallets/itsdangerous"})
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = dict(tokenizer_path=str(telechat3), seq_len=32768)
    with_clone = SweReader({"bench": {"kind": "swe_dataset", "paths": [str(data)],
                                      "clones": {"pallets/itsdangerous": str(clones / name)}}},
                           removed_folder=str(tmp_path / "a"), **common)
    docs = list(with_clone.run(None))
    assert [d.id for d in docs] == [f"pallets/itsdangerous@pallets__itsdangerous-{k}:swe" for k in range(5)]
    for doc, task in zip(docs, tasks):
        assert doc.metadata["files"] == task.files and doc.metadata["context"] == task.context
        assert doc.metadata["context_source"] == "git"
    [bad] = pq.read_table(tmp_path / "a" / "swe" / "00000.parquet").to_pylist()
    assert bad["reason"] == "malformed_row" and "base_commit" in bad["detail"]

    # the same rows as Parquet (SWE-bench on the hub), without a clone
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows[:-1]), tmp_path / "rows.parquet")
    without = SweReader({"bench": {"kind": "swe_dataset", "paths": [str(tmp_path / "rows.parquet")]}},
                        removed_folder=str(tmp_path / "b"), **common)
    partial_docs = list(without.run(None))
    assert [d.id for d in partial_docs] == [d.id for d in docs]
    for doc, task in zip(partial_docs, tasks):
        meta = doc.metadata
        assert meta["context_source"] == "patch_hunks"
        full = dict(zip(task.files, task.context))
        for path, partial in zip(meta["files"], meta["context"]):
            # every run of lines the hunks show is in the real file, in order
            runs = [r for r in partial.split("⋮\n") if r]
            position = 0
            for run in runs:
                position = full[path].index(run, position) + len(run)


def test_pre_images_from_hunks():
    from curation.swe.patches import GAP_LINE, pre_images

    patch = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n"
             "@@ -3,2 +3,2 @@ def f():\n a = 1\n-b = 2\n+b = 3\n"
             "@@ -10 +10 @@\n-end\n\\ No newline at end of file\n+end\n")
    [f] = pre_images(patch)
    assert f.path == "x.py" and not f.complete
    assert f.text == f"{GAP_LINE}a = 1\nb = 2\n{GAP_LINE}end"


def test_docs_round_trip_and_tokenize_step(clones, telechat3, tokenizer, tmp_path):
    """reader -> docs/ (Parquet, the task columns) -> read back -> TokenizeStep: the ids are the
    markers by id between separately encoded sections, and every task fits its context."""
    from curation.encode.step import TokenizeStep
    from curation.steps import DocSink, DocSource
    from curation.swe.reader import COLUMNS, SweReader
    from curation.swe.render import (
        SweMarkerPieces,
        TaskFields,
        resolve_markers,
        rewrite_task,
        task_token_ids,
    )

    reader = SweReader({"swe_tasks": {"kind": "git_history", "paths": [str(clones / "sirupsen+logrus")],
                                      "max_commits": 60}},
                       tokenizer_path=str(telechat3), seq_len=8192, removed_folder=str(tmp_path / "removed"))
    written = list(DocSink(str(tmp_path / "docs"), extra_columns=COLUMNS).run(reader.run(None), rank=0))
    assert written
    docs = list(DocSource(str(tmp_path / "docs")).run(None, rank=0))
    assert [d.id for d in docs] == [d.id for d in written]
    step = TokenizeStep(tokenizer_path=str(telechat3), tokens_folder=tmp_path / "tokens", sources=["swe_tasks"])
    list(step.run(iter(docs), rank=0))
    rows = pq.read_table(tmp_path / "tokens" / "swe_tasks" / "00000.parquet").to_pylist()
    markers = resolve_markers(tokenizer, SweMarkerPieces())
    for row, doc in zip(rows, docs, strict=True):
        expected = task_token_ids(TaskFields.from_metadata(doc.metadata), tokenizer, markers)
        assert row["input_ids"] == expected and row["n_tokens"] == doc.metadata["swe_tokens"]
        assert row["n_tokens"] <= 8192 - 1 - 64
        ids = row["input_ids"]
        assert ids[0] == markers.repo and ids.count(markers.statement) == ids.count(markers.patch) == 1
        assert ids.count(markers.file) == len(doc.metadata["files"])

    # a rewrite through rewrite_task keeps columns and text in step; a bare edit of text is refused
    doc = docs[0]
    doc.text = rewrite_task(doc.metadata, lambda t: t.replace("logrus", "L0GRUS"), SweMarkerPieces())
    list(TokenizeStep(tokenizer_path=str(telechat3), tokens_folder=tmp_path / "tokens2", sources=["swe_tasks"])
         .run(iter([doc]), rank=0))
    [row] = pq.read_table(tmp_path / "tokens2" / "swe_tasks" / "00000.parquet").to_pylist()
    assert "L0GRUS" in tokenizer.decode(row["input_ids"])
    doc.text += "edited"
    with pytest.raises(ValueError, match="no longer matches its columns"):
        list(TokenizeStep(tokenizer_path=str(telechat3), tokens_folder=tmp_path / "tokens3", sources=["swe_tasks"])
             .run(iter([doc]), rank=0))


def test_line_token_counts_are_exact(clones, tokenizer):
    """Per-line counts equal whole-text counts on every text file at HEAD of the four histories."""
    from curation.swe.tokens import TokenCounter

    counter = TokenCounter(tokenizer)
    assert counter.by_line
    texts = ["", "\n", "\n\nx", "a\r\nb\n", "  lead\n\tTab\n\n", "▁ spm space\n<_control2>\n"]
    for name in REPOS:
        for path in git(clones / name, "ls-files", "-z").stdout.decode().split("\0"):
            file = clones / name / path
            if path and file.is_file() and not file.is_symlink():
                try:
                    texts.append(file.read_text(encoding="utf-8"))
                except UnicodeDecodeError:
                    continue
    assert len(texts) > 200
    assert counter.count(texts) == [len(ids) for ids in tokenizer.encode_batch(texts)]


def test_config_errors_name_the_key(tokenizer):
    from pydantic import ValidationError

    from curation.config.swe import GitHistoryInput, SweDatasetInput
    from curation.schema import ConfigError
    from curation.swe.render import SweMarkerPieces, resolve_markers

    with pytest.raises(ValidationError, match="revision"):
        GitHistoryInput.model_validate({"kind": "git_history", "paths": ["x"], "revision": "HEAD"})
    with pytest.raises(ValidationError, match="markers"):
        SweDatasetInput.model_validate({"kind": "swe_dataset", "paths": ["x"], "markers": {}})
    with pytest.raises(ValidationError, match="different pieces"):
        SweMarkerPieces(patch="<_control2>")
    with pytest.raises(ConfigError, match="swe.markers.statement"):
        resolve_markers(tokenizer, SweMarkerPieces(statement="<reserve1>"), "swe.markers")
    assert GitHistoryInput(kind="git_history", paths=["x"], context=32768).max_tokens(8192) == 32768 - 1 - 64


def test_repository_near_dedup_leaves_tasks_alone(clones, telechat3, tmp_path):
    """Repository-level near-dedup signs a repository's files as one unit; an SWE task (which has
    `repo` and `rev` too) is not a file of that unit and must not become a unit of its own."""
    import numpy as np
    from datatrove.data import Document

    from curation.dedup.near import MinhashSigner
    from curation.swe.reader import SweReader

    repo = clones / "pallets+itsdangerous"
    files = [Document(text=(repo / p).read_text(), id=f"its@HEAD:{p}",
                      metadata={"kind": "code", "unit": "file", "repo": "its", "rev": "HEAD", "source": "repos"})
             for p in ("src/itsdangerous/signer.py", "src/itsdangerous/serializer.py")]
    reader = SweReader({"swe_tasks": {"kind": "git_history", "paths": [str(repo)], "max_commits": 40}},
                       tokenizer_path=str(telechat3), seq_len=32768, removed_folder=str(tmp_path / "removed"))
    tasks = list(reader.run(None))
    assert len(tasks) >= 3
    signer = MinhashSigner(str(tmp_path / "sig"), n_grams=5, num_perm=64, bands=8, rows=8, seed=1,
                           normalize_identifiers=False, repo_folder=str(tmp_path / "repo_sig"))
    out = list(signer.run(iter(files + tasks), rank=0))
    assert len(out) == len(files) + len(tasks)
    units = pq.read_table(tmp_path / "repo_sig" / "00000.parquet").column("id").to_pylist()
    assert units == ["its@HEAD"]
    signed = pq.read_table(tmp_path / "sig" / "00000.parquet").column("id").to_pylist()
    assert set(signed) == {d.id for d in files + tasks}  # file-level near-dedup still sees the tasks
    assert np.all([t.metadata["unit"] == "swe_task" for t in tasks])


def test_near_dedup_compares_tasks_on_their_change(clones, telechat3, tmp_path):
    """Tasks of one repository share their context: on `text`, neighbouring tasks are near-duplicates
    (Jaccard >= 0.7); on the change (statement + diff), which is what near-dedup signs, they are not."""
    from curation.dedup.minhash import shingle_hashes
    from curation.swe.reader import SweReader
    from curation.swe.render import change_text

    reader = SweReader({"swe_tasks": {"kind": "git_history", "paths": [str(clones / "dtolnay+anyhow")],
                                      "max_commits": 120}},
                       tokenizer_path=str(telechat3), seq_len=32768, removed_folder=str(tmp_path / "removed"))
    tasks = list(reader.run(None))

    def jaccard(a: str, b: str) -> float:
        x, y = set(shingle_hashes(a, 5, False).tolist()), set(shingle_hashes(b, 5, False).tolist())
        return len(x & y) / max(len(x | y), 1)

    pairs = list(zip(tasks, tasks[1:]))
    on_text = sum(jaccard(a.text, b.text) >= 0.7 for a, b in pairs)
    on_change = sum(jaccard(change_text(a.metadata), change_text(b.metadata)) >= 0.7 for a, b in pairs)
    assert on_text >= len(pairs) // 2 and on_change <= len(pairs) // 20, (on_text, on_change, len(pairs))
