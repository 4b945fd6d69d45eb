"""FIM on real code with the real TeleChat3 tokenizer: layout, exact reconstruction, rates, syntax spans."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from curation.config.assemble import FimSentinelPieces, SeparatorPieces
from curation.schema import ConfigError
from curation.tokenize.fim import (
    FimSentinels,
    apply_fim,
    decode_continuation,
    encode_continuation,
    fim_rng,
    resolve_sentinels,
    syntax_spans,
    undo_fim,
)


@pytest.fixture(scope="module")
def tok(telechat3):
    from curation.tokenize.tokenizer import load_tokenizer

    return load_tokenizer(str(telechat3))


@pytest.fixture(scope="module")
def sentinels(tok) -> FimSentinels:
    return resolve_sentinels(tok, FimSentinelPieces())


@pytest.fixture(scope="module")
def snippets() -> list[tuple[str, str]]:
    """(id, text): real functions-sized pieces of PyYAML and rich, ~600 characters each."""
    import rich
    import yaml

    out = []
    for module in (yaml, rich):
        for p in sorted(Path(module.__file__).parent.rglob("*.py")):
            text = p.read_text(encoding="utf-8")
            out += [(f"{p.name}:{i}", text[i:i + 600]) for i in range(0, len(text), 600)]
    return out[:1500]


def binomial_ok(hits: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_sentinels_are_distinct_single_control_ids(tok, sentinels):
    assert set(sentinels.ids()) <= tok.special_ids
    assert (sentinels.prefix, sentinels.suffix, sentinels.middle) == (17, 18, 19)
    with pytest.raises(ConfigError, match=r"fim.sentinels.middle: .*ordinary piece"):
        resolve_sentinels(tok, FimSentinelPieces(middle="<reserve2>"))
    with pytest.raises(ConfigError, match="also a repository/file separator"):
        resolve_sentinels(tok, FimSentinelPieces(prefix="<_control1>"), separators=SeparatorPieces())


def test_psm_and_spm_layout_is_exact(tok, sentinels):
    text = "def add(a, b):\n    return a + b\n"
    a, b = text.index("return"), text.index(" + b")
    mid_ids, suf_ids = encode_continuation(tok, [text[a:b], text[b:]])
    pre_ids = tok.encode_batch([text[:a]])[0]
    pre, mid, suf = sentinels.prefix, sentinels.middle, sentinels.suffix
    seen = {}
    for seed in range(60):
        rng = fim_rng(seed, "doc")
        # force the cut through a stub rng: random() decides FIM and SPM, randrange the cuts
        result = apply_fim(text, tok, _Scripted(rng.random() < 0.5, [a, b]), rate=1.0, spm_rate=0.5,
                           sentinels=sentinels)
        seen[result.tag] = result.ids
    assert seen["psm"] == [pre, *pre_ids, suf, *suf_ids, mid, *mid_ids]
    assert seen["spm"] == [pre, suf, *suf_ids, mid, *pre_ids, *mid_ids]
    # the middle and suffix are continuations: no dummy-prefix space in front of " + b"
    assert tok.decode(suf_ids) == "+ b\n" and decode_continuation(tok, suf_ids) == " + b\n"


class _Scripted:
    """An rng whose FIM draw always fires, whose SPM draw is given, and whose cuts are given."""

    def __init__(self, spm: bool, cuts: list[int]):
        self.draws = [0.0, 0.0 if spm else 0.99]
        self.cuts = list(cuts)

    def random(self):
        return self.draws.pop(0)

    def randrange(self, n):
        return self.cuts.pop(0)


def test_char_fim_reconstructs_every_file_and_respects_rates(tok, sentinels, snippets):
    rate, spm_rate = 0.3, 0.5
    tags = []
    for doc_id, text in snippets:
        result = apply_fim(text, tok, fim_rng(7, doc_id), rate=rate, spm_rate=spm_rate, sentinels=sentinels)
        tags.append(result.tag)
        assert undo_fim(result, tok) == tok.roundtrip_text(text)
        if result.tag:
            assert result.span == "char"
            assert [result.ids.count(s) for s in sentinels.ids()] == [1, 1, 1]
            assert result.ids[0] == sentinels.prefix
            empty_prefix = result.pieces["prefix"][0] == result.pieces["prefix"][1]
            assert (result.ids[1] == sentinels.suffix) == (result.tag == "spm" or empty_prefix)
        else:
            assert result.ids == tok.encode_batch([text])[0]
    n, fim = len(tags), sum(1 for t in tags if t)
    assert n > 1000
    assert binomial_ok(fim, n, rate), (fim, n)
    assert binomial_ok(tags.count("spm"), fim, spm_rate), (tags.count("spm"), fim)
    # the same seed and id give the same result; the id changes it
    again = [apply_fim(t, tok, fim_rng(7, i), rate=rate, spm_rate=spm_rate, sentinels=sentinels).tag
             for i, t in snippets[:200]]
    assert again == tags[:200]
    assert [apply_fim(t, tok, fim_rng(8, i), rate=rate, spm_rate=spm_rate, sentinels=sentinels).tag
            for i, t in snippets[:200]] != again


def test_literal_sentinel_text_stays_text(tok, sentinels):
    text = "s = '<_control3><_control4><_control5>'  # looks like sentinels\n"
    for seed in range(20):
        result = apply_fim(text, tok, fim_rng(seed, "x"), rate=1.0, spm_rate=0.5, sentinels=sentinels)
        assert [result.ids.count(s) for s in sentinels.ids()] == [1, 1, 1]
        assert undo_fim(result, tok) == text


def test_syntax_spans_are_real_nodes_and_fall_back_to_char(tok, sentinels):
    import yaml

    text = (Path(yaml.__file__).parent / "constructor.py").read_text(encoding="utf-8")
    spans = syntax_spans(text.encode(), "python")
    assert set(spans) == {"function_body", "block", "expression"}
    data = text.encode()
    # every function body is the indented block after a `def ...:` line
    for s, e in spans["function_body"][:50]:
        head = data[:s].rsplit(b"\n", 2)
        assert b"def " in b"\n".join(head[-2:]) or data[s - 1:s] in (b" ", b"\n")
    kinds = set()
    for seed in range(60):
        result = apply_fim(text, tok, fim_rng(seed, "constructor.py"), rate=1.0, spm_rate=0.5,
                           sentinels=sentinels, mode="syntax", lang="python")
        kinds.add(result.span)
        a, b = result.cut
        assert (result.span, text[a:b].encode()) in {
            (k, data[s:e]) for k, items in spans.items() for s, e in items}
        assert undo_fim(result, tok) == text
    assert kinds == {"function_body", "block", "expression"}
    # no grammar for the language: a character-level span, and said so
    md = apply_fim("# Title\n\nSome text.\n", tok, fim_rng(0, "r.md"), rate=1.0, spm_rate=0.5,
                   sentinels=sentinels, mode="syntax", lang="markdown")
    assert md.span == "char" and undo_fim(md, tok) == "# Title\n\nSome text.\n"


def test_syntax_spans_use_character_offsets_on_non_ascii_code(tok, sentinels):
    text = 'def greet(name):\n    return f"你好, {name} ✓"\n\ndef other():\n    return ["é", 1 + 2]\n'
    for seed in range(40):
        result = apply_fim(text, tok, fim_rng(seed, "u.py"), rate=1.0, spm_rate=0.5, sentinels=sentinels,
                           mode="syntax", lang="python")
        a, b = result.cut
        assert result.span != "char"
        middle = text[a:b]
        assert middle.strip() == middle and middle  # a node: no half characters, no stray whitespace
        assert undo_fim(result, tok) == text


def test_repo_chunks_carry_fim_on_one_file_at_the_configured_rate(tok, sentinels):
    import datatrove
    import rich
    import yaml

    from curation.assemble.repository import (
        FimSettings,
        RepoFile,
        assemble_repository,
        resolve_separators,
    )

    seps = resolve_separators(tok, SeparatorPieces())
    chunks, by_path = [], {}
    for module in (rich, yaml, datatrove):
        root = Path(module.__file__).parent
        files = [RepoFile(f"p:{p}", f"{root.name}/{p.relative_to(root).as_posix()}", p.read_text(encoding="utf-8"),
                          "python") for p in sorted(root.rglob("*.py"))]
        by_path.update((f.path, f.text) for f in files)
        chunks += assemble_repository(files, tok, repo=root.name, rev="1", max_tokens=2047, separators=seps,
                                      fim=FimSettings(0.5, 0.5, sentinels, "char", seed=3)).chunks
    with_candidates = [c for c in chunks if any(s.parts == 1 and by_path[s.path] for s in c.spans)]
    fim_chunks = [c for c in chunks if c.fim]
    assert len(with_candidates) > 60
    assert binomial_ok(len(fim_chunks), len(with_candidates), 0.5)
    assert binomial_ok(sum(c.fim == "spm" for c in fim_chunks), len(fim_chunks), 0.5)
    for c in chunks:
        assert len(c.token_ids) <= 2047
        tagged = [s for s in c.spans if s.fim]
        assert len(tagged) == (1 if c.fim else 0)
        assert [c.token_ids.count(s) for s in sentinels.ids()] == ([1, 1, 1] if c.fim else [0, 0, 0])
        if c.fim:
            span = tagged[0]
            assert span.fim == c.fim and span.path == c.fim_file and c.fim_span == "char"
            # rebuild the FIM file from the chunk's ids alone: find the sentinels, move the middle back
            ids = c.token_ids[span.start:span.end]
            assert tok.roundtrip_text(by_path[span.path]) in _undo_from_ids(ids, tok, sentinels)


def _undo_from_ids(ids, tok, sentinels) -> str:
    """The file from a FIM span's ids alone: find the sentinels, move the middle back."""
    pre, mid, suf = sentinels.prefix, sentinels.middle, sentinels.suffix
    assert ids[0] == pre and ids.count(mid) == 1
    m = ids.index(mid)
    if ids[1] == suf:  # SPM: <pre><suf> suffix <mid> prefix middle
        # prefix + middle is one run; decode strips only the prefix's dummy-prefix space, which
        # is right unless the prefix is empty (then the run is a continuation)
        suffix = decode_continuation(tok, ids[2:m])
        rest = ids[m + 1:]
        return tok.decode(rest) + suffix, decode_continuation(tok, rest) + suffix
    s = ids.index(suf)
    text = tok.decode(ids[1:s]) + decode_continuation(tok, ids[m + 1:]) + decode_continuation(tok, ids[s + 1:m])
    return text, text
