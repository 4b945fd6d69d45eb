"""Repository enumeration on hostile inputs: links, loops, FIFOs, huge files, bad archives, git revs."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from curation.ingest.sources import (
    EMPTY_GIT_NOTE,
    Limits,
    RepoFile,
    RepoSource,
    SourceError,
    discover_repos,
    installed_distributions,
)
from curation.ingest.tables import iter_table_rows, shard_of

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture(autouse=True)
def nothing_written_outside(tmp_path):
    """Reading must never extract or write anything next to the test's own folder."""
    before = sorted(os.listdir(tmp_path.parent))
    yield
    assert sorted(os.listdir(tmp_path.parent)) == before


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          env=GIT_ENV).stdout.decode().strip()


def tree_state(root: Path) -> dict:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def summary(files: list[RepoFile]) -> list[tuple[str, str | None]]:
    return [(f.path, f.drop) for f in files]


# ---- dir ------------------------------------------------------------------------------------

def test_dir_repo_reports_links_fifos_and_huge_files_without_reading_them(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "a.py").write_text("print('a')\n")
    (repo / "latin1.txt").write_bytes(b"caf\xe9\n")
    (repo / "loop").symlink_to(".")
    (repo / "passwd").symlink_to("/etc/passwd")
    os.mkfifo(repo / "fifo")
    with open(repo / "huge.bin", "wb") as fh:
        fh.truncate(2**30)  # sparse: reading it would take seconds and a GB of memory
    with open(os.path.join(os.fsencode(repo), b"bad-\xff.txt"), "wb") as fh:
        fh.write(b"x")
    (repo / ".git").mkdir()  # a stray git database is never content
    (repo / ".git" / "config").write_text("[core]\n")

    src = RepoSource("repo", "worktree", "dir", str(repo))
    started = time.monotonic()
    files = list(src.files())
    assert time.monotonic() - started < 2

    assert summary(files) == [
        ("bad-%FF%2Etxt", "unsafe_path"),
        ("fifo", "special_file"),
        ("huge.bin", "too_large"),
        ("latin1.txt", None),
        ("loop", "symlink"),
        ("passwd", "symlink"),
        ("pkg/a.py", None),
    ]
    by_path = {f.path: f for f in files}
    assert by_path["latin1.txt"].data == b"caf\xe9\n"  # bytes as stored; decoding is the caller's job
    assert by_path["pkg/a.py"].data == b"print('a')\n"
    assert by_path["huge.bin"].size == 2**30 and by_path["huge.bin"].detail == f"{2**30} > {10 * 2**20}"
    assert by_path["passwd"].data is None and by_path["passwd"].detail == "-> /etc/passwd"
    assert by_path["fifo"].detail == "fifo"
    assert src.size_hint() == len(b"caf\xe9\n") + len("print('a')\n") + len(b"x")  # not the unread GB


def test_dir_repo_stops_reading_past_the_repo_cap(tmp_path):
    for name in "abcd":
        (tmp_path / f"{name}.txt").write_bytes(b"x" * 40)
    src = RepoSource("r", "worktree", "dir", str(tmp_path), Limits(max_file_bytes=50, max_repo_bytes=100))
    assert summary(list(src.files())) == [("a.txt", None), ("b.txt", None),
                                          ("c.txt", "repo_too_large"), ("d.txt", "repo_too_large")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_dir_repo_unreadable_file_keeps_the_os_error(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    [record] = RepoSource("r", "worktree", "dir", str(tmp_path)).files()
    assert record.drop == "unreadable" and "Permission denied" in record.detail


# ---- git ------------------------------------------------------------------------------------

@pytest.fixture
def git_repo(tmp_path) -> tuple[Path, str, str]:
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("v1\n")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "a.py").write_text("v2\n")
    (repo / "link").symlink_to("a.py")
    (repo / "big.txt").write_text("y" * 200)
    with open(os.path.join(os.fsencode(repo), b"caf\xe9.py"), "wb") as fh:
        fh.write(b"z\n")
    git(repo, "add", ".")
    # A gitlink, as a submodule leaves in the tree, without needing a second repository.
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{first},vendor/sub")
    git(repo, "commit", "-qm", "two")
    second = git(repo, "rev-parse", "HEAD")
    (repo / "untracked.txt").write_text("junk\n")
    (repo / "b.txt").write_text("modified but not committed\n")
    return repo, first, second


def test_git_reads_only_the_committed_tree_of_the_revision(git_repo, monkeypatch):
    repo, first, second = git_repo
    before = tree_state(repo)
    popen, cat_file_processes = subprocess.Popen, []

    def counting_popen(args, *a, **kw):
        if "cat-file" in args:
            cat_file_processes.append(args)
        return popen(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    [src] = discover_repos(repo, limits=Limits(max_file_bytes=100))
    assert (src.name, src.kind, src.rev, src.note) == ("proj", "git", second, "")
    files = list(src.files())
    assert summary(files) == [
        ("a.py", None),
        ("b.txt", None),
        ("big.txt", "too_large"),
        ("caf%E9%2Epy", "unsafe_path"),
        ("link", "symlink"),
        ("vendor/sub", "submodule"),
    ]
    data = {f.path: f.data for f in files}
    assert data["a.py"] == b"v2\n" and data["b.txt"] == b"b\n"  # not the uncommitted edit
    assert files[2].size == 200 and files[2].detail == "200 > 100"
    assert files[5].detail == f"commit {first}"
    assert len(cat_file_processes) == 1  # one batch process for all blobs
    assert src.size_hint() == 3 + 2 + 2  # big.txt is never read
    assert tree_state(repo) == before  # reading never touches the repository

    [old] = discover_repos(repo, rev=first)
    assert [(f.path, f.data) for f in old.files()] == [("a.py", b"v1\n"), ("b.txt", b"b\n")]


def test_git_bad_revision_names_repo_and_rev(git_repo):
    repo, _, _ = git_repo
    with pytest.raises(SourceError, match=rf"{repo}: revision 'no-such-branch' is not a commit"):
        discover_repos(repo, rev="no-such-branch")


def test_empty_git_repository_is_a_source_with_a_note_and_no_files(tmp_path):
    git(tmp_path, "init", "-q", "empty")
    [src] = discover_repos(tmp_path / "empty")
    assert (src.name, src.kind, src.rev, src.note) == ("empty", "git", "", EMPTY_GIT_NOTE)
    assert list(src.files()) == [] and src.size_hint() == 0


def test_broken_git_dir_fails_instead_of_reading_a_parent_repository(tmp_path):
    git(tmp_path, "init", "-q")  # the parent is a valid repository
    (tmp_path / "child" / ".git").mkdir(parents=True)
    with pytest.raises(SourceError, match="not a readable git repository"):
        discover_repos(tmp_path / "child")


# ---- tar ------------------------------------------------------------------------------------

def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def test_tar_drops_escaping_names_links_and_devices_and_strips_the_top_folder(tmp_path):
    archive = tmp_path / "left-pad-1.3.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        add_member(tar, "package/", type=tarfile.DIRTYPE)
        add_member(tar, "package/index.js", b"module.exports = 1;\n")
        add_member(tar, "package/lib/util.js", b"x\n")
        add_member(tar, "../evil", b"owned\n")
        add_member(tar, "/abs", b"owned\n")
        add_member(tar, "package/passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add_member(tar, "package/hard", type=tarfile.LNKTYPE, linkname="package/index.js")
        add_member(tar, "package/fifo", type=tarfile.FIFOTYPE)
        add_member(tar, "package/big.bin", b"0" * 300)
    [src] = discover_repos(archive, limits=Limits(max_file_bytes=200))
    assert (src.name, src.kind, src.rev[:7], len(src.rev)) == ("left-pad-1.3.0", "tar", "sha256:", 19)
    files = list(src.files())
    assert summary(files) == [
        ("%2E%2E%2Fevil", "unsafe_path"),
        ("%2Fabs", "unsafe_path"),
        ("big.bin", "too_large"),
        ("fifo", "special_file"),
        ("hard", "link"),
        ("index.js", None),
        ("lib/util.js", None),
        ("passwd", "link"),
    ]
    assert files[0].detail == "member name '../evil'" and files[0].data is None
    assert files[5].data == b"module.exports = 1;\n"
    assert files[7].detail == "-> /etc/passwd"


def test_truncated_tar_yields_members_before_the_cut_then_corrupt_archive(tmp_path):
    contents = {f"src/f{i}.bin": os.urandom(8192) for i in range(10)}  # incompressible: the cut lands mid-archive
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in contents.items():
            add_member(tar, name, data)
    whole = buffer.getvalue()
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(whole[: len(whole) // 2])

    files = list(RepoSource("cut", "sha256:0", "tar", str(archive)).files())
    *read, last = files
    assert (last.path, last.data, last.size, last.drop) == ("", None, 0, "corrupt_archive")
    assert last.detail  # the decoder's own message
    assert 1 <= len(read) < 10
    # Exactly the members before the cut, complete, with the shared "src/" folder stripped.
    assert [(f.path, f.data) for f in read] == [(n[4:], contents[n]) for n in sorted(contents)[: len(read)]]


def test_tar_duplicate_member_keeps_the_last_like_extraction(tmp_path):
    archive = tmp_path / "dup.tar"
    with tarfile.open(archive, "w") as tar:
        add_member(tar, "a.txt", b"old")
        add_member(tar, "a.txt", b"new")
    files = list(RepoSource("dup", "sha256:0", "tar", str(archive)).files())
    assert [(f.path, f.data, f.drop) for f in files] == [("a.txt", None, "duplicate_path"), ("a.txt", b"new", None)]


# ---- zip ------------------------------------------------------------------------------------

def test_zip_refuses_traversal_links_and_bombs(tmp_path):
    archive = tmp_path / "proj.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("proj/main.py", "print(1)\n")
        zf.writestr("../evil.py", "owned\n")
        with zf.open("proj/bomb.bin", "w") as fh:  # 50 MB of zeros deflate to ~50 KB
            for _ in range(50):
                fh.write(bytes(2**20))
        zf.writestr("proj/zeros.bin", bytes(2**20))  # under the size cap, far over the ratio cap
        link = zipfile.ZipInfo("proj/passwd")
        link.create_system, link.external_attr = 3, (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    [src] = discover_repos(archive)
    assert (src.name, src.kind) == ("proj", "zip")
    files = list(src.files())
    assert summary(files) == [
        ("%2E%2E%2Fevil%2Epy", "unsafe_path"),
        ("bomb.bin", "too_large"),
        ("main.py", None),
        ("passwd", "link"),
        ("zeros.bin", "too_large"),
    ]
    assert files[1].size == 50 * 2**20
    assert files[2].data == b"print(1)\n"
    assert "compression ratio" in files[4].detail
    # With the ratio guard off, the bomb is still refused by its declared size before any read.
    lax = RepoSource("p", "sha256:0", "zip", str(archive), Limits(max_compression_ratio=1e9))
    assert summary(list(lax.files()))[1] == ("bomb.bin", "too_large")


def test_truncated_zip_is_one_corrupt_archive_record(tmp_path):
    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.py", "x" * 1000)
    archive.write_bytes(archive.read_bytes()[:500])
    [record] = RepoSource("cut", "sha256:0", "zip", str(archive)).files()
    assert (record.path, record.drop) == ("", "corrupt_archive") and "BadZipFile" in record.detail


# ---- layout ---------------------------------------------------------------------------------

def test_layout_rules_and_names(tmp_path):
    coll = tmp_path / "coll"
    (coll / "alpha" / "src").mkdir(parents=True)
    (coll / "alpha" / "src" / "x.py").write_text("x = 1\n")
    (coll / "alpha" / "README").write_text("alpha\n")
    git(coll, "init", "-q", "beta")
    (coll / "beta" / "b.py").write_text("b = 1\n")
    git(coll / "beta", "add", ".")
    git(coll / "beta", "commit", "-qm", "b")
    with zipfile.ZipFile(coll / "alpha.zip", "w") as zf:  # same name as the dir "alpha"
        zf.writestr("z.py", "z = 1\n")
    with tarfile.open(coll / "gamma-1.0.tar.bz2", "w:bz2") as tar:
        add_member(tar, "gamma-1.0/g.py", b"g\n")
    (coll / "README.md").write_text("not a repository\n")

    found = discover_repos(coll)
    assert [(s.name, s.kind) for s in found] == [("alpha", "dir"), ("alpha-2", "zip"),
                                                 ("beta", "git"), ("gamma-1.0", "tar")]
    assert [f.path for f in found[3].files()] == ["g.py"]
    assert [(s.name, s.kind) for s in discover_repos(coll, layout="repo")] == [("coll", "dir")]
    # A dir with files and no repos in it is one repo; "collection" forces the split.
    assert [(s.name, s.kind) for s in discover_repos(coll / "alpha")] == [("alpha", "dir")]
    assert [s.name for s in discover_repos(coll / "alpha", layout="collection")] == ["src"]
    # A dir holding only dirs is a collection.
    (tmp_path / "only_dirs" / "one").mkdir(parents=True)
    (tmp_path / "only_dirs" / "two").mkdir()
    assert [s.name for s in discover_repos(tmp_path / "only_dirs")] == ["one", "two"]


def test_paths_that_cannot_be_sources(tmp_path):
    with pytest.raises(SourceError, match=f"{tmp_path / 'nope'}: no such file or directory"):
        discover_repos(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="notes.txt: not a directory, git repository or archive"):
        discover_repos(tmp_path / "notes.txt", layout="repo")
    with pytest.raises(SourceError, match="unknown layout 'flat'"):
        discover_repos(tmp_path, layout="flat")


# ---- Stack-style tables ---------------------------------------------------------------------

STACK_COLUMNS = {"content": "content", "path": "max_stars_repo_path", "repo": "max_stars_repo_name",
                 "license": "license"}


def stack_rows() -> list[dict]:
    return [{"content": f"print({i})\n", "max_stars_repo_path": f"f{i}.py",
             "max_stars_repo_name": f"org/repo{i % 7}", "license": "mit"} for i in range(40)]


def split_check(rows_by_rank: list[list[dict]], expected_paths: set[tuple[str, str]]) -> None:
    seen = [(r["repo"], r["path"]) for rows in rows_by_rank for r in rows if "error" not in r]
    assert sorted(seen) == sorted(expected_paths)  # every row exactly once
    for rank, rows in enumerate(rows_by_rank):
        for row in rows:
            if "error" not in row:
                assert shard_of(row["repo"], len(rows_by_rank)) == rank  # a repo lives in one task
    repos_per_rank = [{r["repo"] for r in rows if "error" not in r} for rows in rows_by_rank]
    assert sum(len(s) for s in repos_per_rank) == len(set().union(*repos_per_rank))


def test_parquet_rows_split_by_repo_across_tasks(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = stack_rows()
    path = tmp_path / "stack.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=6)
    by_rank = [list(iter_table_rows(path, columns=STACK_COLUMNS, rank=r, world_size=3)) for r in range(3)]
    split_check(by_rank, {(r["max_stars_repo_name"], r["max_stars_repo_path"]) for r in rows})
    first = next(r for r in by_rank[shard_of("org/repo0", 3)] if r["path"] == "f0.py")
    assert first == {"content": "print(0)\n", "path": "f0.py", "repo": "org/repo0", "rev": None, "license": "mit",
                     "stars": None, "date": None}
    with pytest.raises(SourceError, match=r"stack.parquet: no column 'hexsha' \(for rev\)"):
        list(iter_table_rows(path, columns={**STACK_COLUMNS, "rev": "hexsha"}))


def test_jsonl_malformed_line_is_an_error_row_and_reading_goes_on(tmp_path):
    rows = stack_rows()
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, '{"content": "trunc')
    path = tmp_path / "stack.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    by_rank = [list(iter_table_rows(path, columns=STACK_COLUMNS, rank=r, world_size=4)) for r in range(4)]
    split_check(by_rank, {(r["max_stars_repo_name"], r["max_stars_repo_path"]) for r in rows})
    errors = [r for rows_ in by_rank for r in rows_ if "error" in r]
    assert len(errors) == 1 and errors[0]["line"] == 4 and errors[0]["error"].startswith("malformed JSON")


# ---- installed distributions ----------------------------------------------------------------

def test_installed_distributions_are_repos_of_their_source_files():
    import yaml

    [src] = installed_distributions(["PyYAML"])
    assert (src.name, src.kind, src.rev) == ("pyyaml", "dist", metadata.version("pyyaml"))
    files = {f.path: f for f in src.files()}
    init = files["yaml/__init__.py"]
    assert init.drop is None and init.data == Path(yaml.__file__).read_bytes()
    assert not [p for p in files if p.endswith(".pyc") or "__pycache__" in p or p.startswith(("/", ".."))]
    assert src.size_hint() > len(init.data)

    names = [s.name for s in installed_distributions()]
    assert names == sorted(names) and {"pyyaml", "pydantic"} <= set(names)
    with pytest.raises(SourceError, match="not installed: no-such-dist"):
        installed_distributions(["no_such.dist"])


def test_module_is_light_to_import():
    # The CLI imports this module; pyarrow must only load when a table is read.
    code = "import sys, curation.ingest.sources; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == b"False"


def test_tree_size_sums_what_scan_tree_lists_on_real_packages():
    """The driver's lean sizing of a folder equals the regular files `scan_tree` lists, capped:
    their bytes and their count."""
    import stat

    import datatrove
    import pyarrow

    from curation.ingest.walk import scan_tree, tree_size

    for root in (Path(datatrove.__file__).parent, Path(pyarrow.__file__).parent):
        for cap in (10**4, 10**9):
            listed = [e.size for e in scan_tree(root)
                      if e.st is not None and stat.S_ISREG(e.st.st_mode) and e.size <= cap]
            assert listed and tree_size(str(root), cap) == (sum(listed), len(listed))
