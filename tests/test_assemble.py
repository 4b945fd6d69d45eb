"""Repository-level documents on real code: installed packages (fast) and the registry corpus (slow).

What must hold for every chunk: it fits max_tokens; each file's id span decodes to the file's
content exactly (a file longer than a chunk: its pieces, concatenated, are encode(content)); every
file is in the documents once; for every resolved import A -> B, B comes first (same chunk, earlier;
or an earlier chunk) unless A and B are in one import cycle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_benchmark

from curation.assemble.repository import (
    RepoFile,
    assemble_repository,
    resolve_separators,
)
from curation.config.assemble import SeparatorPieces
from curation.ingest.languages import detect_language
from curation.schema import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tok(telechat3):
    from curation.tokenize.tokenizer import load_tokenizer

    return load_tokenizer(str(telechat3))


@pytest.fixture(scope="module")
def seps(tok):
    return resolve_separators(tok, SeparatorPieces())


def package_repo(module, suffixes=(".py",)) -> list[RepoFile]:
    root = Path(module.__file__).parent
    files = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in suffixes:
            path = f"{root.name}/{p.relative_to(root).as_posix()}"
            files.append(RepoFile(f"{root.name}@1:{path}", path, p.read_text(encoding="utf-8"), detect_language(path)))
    return files


def check_assembly(assembly, files: list[RepoFile], tok, seps, max_tokens: int, repo: str) -> None:
    by_path = {f.path: f for f in files}
    pieces: dict[str, list] = {}
    for k, chunk in enumerate(assembly.chunks):
        assert chunk.id == f"{repo}#{k}"
        ids = chunk.token_ids
        assert len(ids) <= max_tokens
        assert ids[0] == seps.repo and ids.count(seps.repo) == 1
        assert ids.count(seps.file) == len(chunk.spans) == len(chunk.files)
        text = [f"<_control1>{repo.split('@')[0]}\n"]
        for span in chunk.spans:
            header = [seps.file] + tok.encode_batch([f"{span.path}\n"])[0]
            assert ids[span.start - len(header):span.start] == header
            content = by_path[span.path].text
            if span.parts == 1 and not span.fim:
                assert ids[span.start:span.end] == tok.encode_batch([content])[0]
                assert tok.decode(ids[span.start:span.end]) == tok.roundtrip_text(content)
                text.append(f"<_control2>{span.path}\n{content}")
            else:
                text.append(f"<_control2>{span.path}\n{tok.roundtrip_text(content)[span.chars[0]:span.chars[1]]}")
            pieces.setdefault(span.path, []).append((k, span))
        assert chunk.text == "".join(text)
    # every file exactly once; a split file's pieces are consecutive chunks and rebuild it
    assert sorted(pieces) == sorted(by_path) == sorted(assembly.order)
    for path, parts in pieces.items():
        assert [s.part for _, s in parts] == list(range(parts[0][1].parts))
        if len(parts) > 1:
            chunk_of = [k for k, _ in parts]
            assert chunk_of == list(range(chunk_of[0], chunk_of[0] + len(parts)))
            assert all(len(assembly.chunks[k].spans) == 1 for k in chunk_of)  # its own chunks
            joined = [i for k, s in parts for i in assembly.chunks[k].token_ids[s.start:s.end]]
            assert joined == tok.encode_batch([by_path[path].text])[0]
            assert "".join(tok.roundtrip_text(by_path[path].text)[s.chars[0]:s.chars[1]] for _, s in parts) \
                == tok.roundtrip_text(by_path[path].text)
    check_dependencies_first(assembly)


def check_dependencies_first(assembly) -> None:
    """For every edge A -> B: B's last piece is before A's first, unless A and B share a cycle."""
    first, last = {}, {}
    for k, chunk in enumerate(assembly.chunks):
        for i, path in enumerate(chunk.files):
            first.setdefault(path, (k, i))
            last[path] = (k, i)
    component = {p: i for i, c in enumerate(assembly.components) for p in c}
    bad = [(a, b) for a, b in assembly.edges
           if a in first and b in first and component[a] != component[b] and last[b] >= first[a]]
    assert not bad, bad[:5]


@pytest.mark.parametrize("package,max_tokens", [("pydantic", 32767), ("pydantic", 4095), ("yaml", 2047),
                                                ("rich", 8191)])
def test_installed_packages_decode_exactly_fit_and_keep_dependency_order(tok, seps, package, max_tokens):
    module = __import__(package)
    files = package_repo(module)
    assembly = assemble_repository(files, tok, repo=package, rev="1", max_tokens=max_tokens, separators=seps)
    assert assembly.mode == "dependency" and assembly.main_language == "python"
    assert len(assembly.edges) > 20
    check_assembly(assembly, files, tok, seps, max_tokens, f"{package}@1")
    if max_tokens < 8192:
        assert any(s.parts > 1 for c in assembly.chunks for s in c.spans), "expected a file longer than a chunk"


def test_repository_encoded_by_line_is_the_repository_encoded_whole(tok, seps):
    """The assembler's line table (curation.tokenize.lines) changes no id, cut or span: real
    packages, long files cut across chunks, one table shared by the repositories in turn."""
    from curation.tokenize.lines import LineEncoder

    lines = LineEncoder(tok, max_lines=1_000_000)
    for package, max_tokens in (("yaml", 2047), ("rich", 8191)):
        files = package_repo(__import__(package))
        whole = assemble_repository(files, tok, repo=package, rev="1", max_tokens=max_tokens, separators=seps)
        by_line = assemble_repository(files, tok, repo=package, rev="1", max_tokens=max_tokens, separators=seps,
                                      lines=lines)
        assert by_line == whole
        assert len(whole.chunks) > 3
    assert lines.lines_encoded < 0.8 * lines.lines_seen


def test_cycle_stays_in_one_chunk_when_it_fits(tok, seps):
    # a.py <-> b.py is a cycle; filler.py comes first (path order) and nearly fills the chunk
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
    files = [RepoFile("r@1:a.py", "a.py", "from b import g\n" + body, "python"),
             RepoFile("r@1:b.py", "b.py", "from a import f1\n" + body, "python"),
             RepoFile("r@1:00filler.py", "00filler.py", body * 2, "python")]
    n = {f.path: len(tok.encode_batch([f.text])[0]) for f in files}
    max_tokens = n["00filler.py"] + n["a.py"] + 40  # room for filler + a, not for b
    together = assemble_repository(files, tok, repo="r", rev="1", max_tokens=max_tokens, separators=seps)
    assert together.components[1:] == [["a.py", "b.py"]] or ["a.py", "b.py"] in together.components
    assert [c.files for c in together.chunks] == [["00filler.py"], ["a.py", "b.py"]]
    apart = assemble_repository(files, tok, repo="r", rev="1", max_tokens=max_tokens, separators=seps,
                                keep_scc_together=False)
    assert [c.files for c in apart.chunks] == [["00filler.py", "a.py"], ["b.py"]]
    for assembly in (together, apart):
        check_assembly(assembly, files, tok, seps, max_tokens, "r@1")


def test_long_non_ascii_file_is_cut_between_characters(tok, seps):
    # CJK text falls back to bytes for rare characters: a cut must never split a character
    text = "".join(f"# 第{i}行：测试数据 ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 {chr(0x4E00 + i * 7)}\nx_{i} = '{chr(0x20000 + i)}'\n"
                   for i in range(600))
    files = [RepoFile("r@1:big.py", "big.py", text, "python"), RepoFile("r@1:small.py", "small.py", "x = 1\n", "python")]
    assembly = assemble_repository(files, tok, repo="r", rev="1", max_tokens=1000, separators=seps)
    big = [s for c in assembly.chunks for s in c.spans if s.path == "big.py"]
    assert len(big) > 5 and all(s.parts == len(big) for s in big)
    check_assembly(assembly, files, tok, seps, 1000, "r@1")


def test_order_modes_per_main_language(tok, seps):
    import yaml

    files = package_repo(yaml)
    by_path = assemble_repository(files, tok, repo="yaml", rev="1", max_tokens=32767, separators=seps,
                                  order_by_language={"python": "path"})
    assert by_path.mode == "path" and by_path.order == sorted(f.path for f in files) and by_path.edges == []
    shuffled = [assemble_repository(files, tok, repo="yaml", rev="1", max_tokens=32767, separators=seps,
                                    order="random", seed=s).order for s in (1, 1, 2)]
    assert shuffled[0] == shuffled[1] != shuffled[2] and sorted(shuffled[0]) == by_path.order
    # a rule for another language does not apply to a Python repository
    dep = assemble_repository(files, tok, repo="yaml", rev="1", max_tokens=32767, separators=seps,
                              order_by_language={"c": "path"})
    assert dep.mode == "dependency"
    order = dep.order
    assert order.index("yaml/reader.py") < order.index("yaml/loader.py") < order.index("yaml/__init__.py")


def test_separators_must_be_single_control_ids(tok):
    seps = resolve_separators(tok, SeparatorPieces())
    assert (seps.repo, seps.file) == (15, 16) and {15, 16} <= tok.special_ids
    with pytest.raises(ConfigError, match=r"assemble.separators.file: .*<reserve1>.*ordinary piece"):
        resolve_separators(tok, SeparatorPieces(file="<reserve1>"))
    with pytest.raises(ConfigError, match=r"assemble.separators.repo: .*not a single piece"):
        resolve_separators(tok, SeparatorPieces(repo="<repo_name>"))
    with pytest.raises(ValueError, match="must differ"):
        SeparatorPieces(repo="<_control1>", file="<_control1>")
    # a file that mentions the separator's text stays text
    files = [RepoFile("r@1:a.md", "a.md", "see <_control2> and <_control1>\n", "markdown")]
    chunk = assemble_repository(files, tok, repo="r", rev="1", max_tokens=100, separators=seps).chunks[0]
    assert chunk.token_ids.count(15) == 1 and chunk.token_ids.count(16) == 1


# --- the datatrove steps -------------------------------------------------------------------

def _docs(files: list[RepoFile], repo: str, source="code", license="MIT"):
    from datatrove.data import Document

    return [Document(text=f.text, id=f.id, metadata={
        "source": source, "kind": "code", "repo": repo, "rev": "1", "path": f.path, "lang": f.lang,
        "unit": "file", "license": license, "license_class": "permissive"}) for f in files]


def test_repo_assembler_step_groups_repositories_and_passes_text_through(tok, telechat3, tmp_path):
    import pyarrow.parquet as pq
    import yaml
    from datatrove.data import Document

    from curation.assemble.step import RepoAssembler
    from curation.config.assemble import FimConfig, RepoAssembleConfig
    from curation.repo.step import SyntaxTagger

    yaml_files = package_repo(yaml)
    broken = RepoFile("mini@1:bad.py", "bad.py", "def f(:\n  return )))\n", "python")
    mini = [RepoFile("mini@1:a.py", "a.py", "import b\n", "python"), RepoFile("mini@1:b.py", "b.py", "X = 1\n", "python"),
            broken]
    text_doc = Document(text="plain prose", id="t1", metadata={"source": "text", "kind": "text"})
    stream = _docs(yaml_files, "yaml") + [text_doc] + _docs(mini, "mini")
    tagger = SyntaxTagger(removed_folder=str(tmp_path / "removed"), drop=True, max_error_fraction=0.05,
                          keep_imports=True)
    step = RepoAssembler(tokenizer_path=str(telechat3), assemble=RepoAssembleConfig(), max_tokens=4095,
                         fim=FimConfig(rate=0.5, mode="syntax"))
    out = list(step.run(tagger.run(iter(stream), rank=0), rank=0))
    tagger.exclusion_writer.close()
    removed = pq.read_table(tmp_path / "removed" / "syntax" / "00000.parquet").to_pylist()
    assert [(r["id"], r["reason"], r["step"]) for r in removed] == [("mini@1:bad.py", "syntax_error", "syntax")]
    assert out[-2] is text_doc  # flushed yaml first, then the text document, then mini
    chunks = [d for d in out if d.metadata.get("unit") == "repo"]
    assert [d.id for d in chunks if d.metadata["repo"] == "mini"] == ["mini@1#0"]
    mini_doc = chunks[-1]
    assert mini_doc.metadata["files"] == ["b.py", "a.py"]  # a imports b
    yaml_chunks = [d for d in chunks if d.metadata["repo"] == "yaml"]
    assert [d.id for d in yaml_chunks] == [f"yaml@1#{k}" for k in range(len(yaml_chunks))]
    assert sorted({p for d in yaml_chunks for p in d.metadata["files"]}) == sorted(f.path for f in yaml_files)
    for d in chunks:
        m = d.metadata
        assert len(m["token_ids"]) <= 4095 and m["fim"] in ("", "psm", "spm")
        assert (m["kind"], m["unit"], m["lang"], m["license"], m["order"]) == ("code", "repo", "python", "MIT",
                                                                                 "dependency")
        assert "_repo_imports" not in m
    assert any(d.metadata["fim"] for d in yaml_chunks)
    # a repository that comes back after another one would repeat ids: refused
    again = _docs(mini[:1], "mini") + _docs(yaml_files[:1], "yaml") + _docs(mini[1:2], "mini")
    with pytest.raises(ValueError, match="mini@1 .* two separate runs"):
        list(RepoAssembler(tokenizer_path=str(telechat3), assemble=RepoAssembleConfig(), max_tokens=4095)
             .run(iter(again), rank=0))


def test_syntax_tagger_sets_signals_without_dropping_by_default():
    from datatrove.data import Document

    from curation.repo.step import SyntaxTagger

    docs = [Document(text="def f(x):\n    return x\n", id="a", metadata={"kind": "code", "lang": "python"}),
            Document(text="int main( { return 0; }", id="b", metadata={"kind": "code", "lang": "c"}),
            Document(text="# title", id="c", metadata={"kind": "code", "lang": "markdown"})]
    out = list(SyntaxTagger().run(iter(docs)))
    assert [d.id for d in out] == ["a", "b", "c"]
    assert (out[0].metadata["has_syntax_error"], out[0].metadata["syntax_error_fraction"]) == (False, 0.0)
    assert out[1].metadata["has_syntax_error"] and out[1].metadata["syntax_error_fraction"] > 0
    assert "has_syntax_error" not in out[2].metadata
    with pytest.raises(ValueError, match="removed_folder"):
        SyntaxTagger(drop=True)


# --- registry corpus (slow) --------------------------------------------------------------------

FAMILIES = ("python", "javascript", "go", "rust", "java", "cpp")
BYTES_PER_FAMILY = 2 * 2**20  # the decode checks tokenize twice; keep each test to seconds


def _bench_module():
    return load_benchmark("bench_imports")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_registry_repositories_assemble_in_dependency_order(registry_corpus, tok, seps, family):
    from curation.ingest.filetypes import vendored_reason
    from curation.repo.graph import read_repository

    repos = [root for fam, root in _bench_module().registry_repositories(registry_corpus) if fam == family]
    if not repos:
        pytest.skip(f"the registry corpus at {registry_corpus} has no {family} repository")
    budget, edges, checked = BYTES_PER_FAMILY, 0, 0
    for root in repos:
        if budget <= 0:
            break
        texts = {p: t for p, t in read_repository(root).items() if vendored_reason(p) is None}
        # a repository larger than what is left: its first files in path order (whole folders
        # first, e.g. java.base's java/io and java/lang), a real part of a real repository
        files = []
        for p in sorted(texts):
            if budget <= 0:
                break
            files.append(RepoFile(f"{root.name}@1:{p}", p, texts[p], detect_language(p)))
            budget -= len(texts[p])
        assembly = assemble_repository(files, tok, repo=root.name, rev="1", max_tokens=32767, separators=seps)
        check_assembly(assembly, files, tok, seps, 32767, f"{root.name}@1")
        edges += len(assembly.edges)
        checked += 1
    assert edges > 0, f"{family}: no resolved import in {checked} repositories"
