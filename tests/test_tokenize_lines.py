"""Encoding by distinct line (curation.tokenize.lines) gives exactly the ids of encoding each text
whole with SentencePiece, the reference: on real code of every language of the registry corpus,
on continuations (FIM middles and suffixes), and on texts made to break it. Tokenizers that may
merge across a newline are encoded whole."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np

from curation.tokenize.fim import encode_continuation
from curation.tokenize.lines import MAX_LINE_CHARS, LineEncoder, newline_is_atomic
from curation.tokenize.tokenizer import load_tokenizer

SUFFIXES = (".py", ".js", ".ts", ".java", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".hpp", ".rb", ".php", ".sh",
            ".md", ".rst", ".json", ".yaml", ".css", ".html", ".txt")


def corpus_texts(root: Path, per_suffix_bytes: int) -> list[str]:
    """Files of every suffix, whole packages' worth (lines repeat across a package's files)."""
    texts: list[str] = []
    for suffix in SUFFIXES:
        size = 0
        for path in sorted(root.rglob(f"*{suffix}")):
            if size >= per_suffix_bytes or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            texts.append(text)
            size += len(text)
    return texts


def same(got: list[np.ndarray], want: list[list[int]]) -> list[int]:
    """Indexes where the ids differ (and the lengths must match)."""
    assert len(got) == len(want)
    return [i for i, (a, b) in enumerate(zip(got, want)) if a.dtype != np.int32 or a.tolist() != list(b)]


def test_line_encoding_equals_whole_text_encoding_on_real_code(telechat3, registry_corpus):
    tok = load_tokenizer(str(telechat3))
    texts = corpus_texts(registry_corpus, 300_000)
    assert len({t[:200] for t in texts}) > 500
    want = tok.encode_batch(texts, num_threads=2)
    # A table smaller than the input restarts along the way: the ids do not depend on it.
    for max_lines in (1_000_000, 5_000):
        lines = LineEncoder(tok, max_lines=max_lines)
        assert lines.by_line
        got = [ids for start in range(0, len(texts), 64) for ids in lines.encode(texts[start:start + 64])]
        assert same(got, want) == []
    # The table saved work: real code repeats lines (this is what makes it faster).
    assert lines.lines_encoded < 0.8 * lines.lines_seen
    # Continuations: the middle and suffix of random cuts, as FIM encodes them.
    rng = random.Random(7)
    pieces = []
    for text in texts[:1500]:
        a, b = sorted((rng.randrange(len(text) + 1), rng.randrange(len(text) + 1)))
        pieces += [text[a:b], text[b:]]
    got = LineEncoder(tok, max_lines=1_000_000).encode(pieces, continuation=True, num_threads=2)
    assert same(got, encode_continuation(tok, pieces, num_threads=2)) == []


EDGE_TEXTS = [
    "", "\n", "\n\n", "\n\n\n x", " ", "  \n  ", "\r\n", "a\r\nb\r\n", "x", "x\n", "\nx", "\tx\n\t\ty\n",
    "\u2581", "\u2581\n\u2581", " \u2581x\n\u2581 y", "12\n34\n", "__init__\n__\n___\n____x", "_\n_",
    "<reserve1>\n<_end>\n<tool_call>", "emoji 🙂\n🙂\n\x00\x01\n", "日本語\n日本語のテキスト\n",
    "    return x\n    return x\n", "x" * (MAX_LINE_CHARS + 5) + "\n" + "x" * (MAX_LINE_CHARS + 5),
    "}" + "\n}" * 50, "\n".join(["    "] * 20),
]


def test_texts_made_to_break_line_encoding(telechat3):
    tok = load_tokenizer(str(telechat3))
    texts = EDGE_TEXTS + [t + "\n" + t for t in EDGE_TEXTS] + ["\n" + t for t in EDGE_TEXTS]
    lines = LineEncoder(tok, max_lines=1_000_000)
    for _ in range(2):  # the second round finds every line in the table
        assert same(lines.encode(texts), tok.encode_batch(texts)) == []
        assert same(lines.encode(texts, continuation=True), encode_continuation(tok, texts)) == []
    # Long lines are encoded but never kept, so they are encoded again.
    before = lines.lines_encoded
    lines.encode(["a\n" + "y" * (MAX_LINE_CHARS + 1), "b\n" + "y" * (MAX_LINE_CHARS + 1)])
    assert lines.lines_encoded == before + 1
    lines.encode(["c\n" + "y" * (MAX_LINE_CHARS + 1)])
    assert lines.lines_encoded == before + 2


def edited_model(telechat3: Path, target: Path, edit) -> Path:
    from sentencepiece import sentencepiece_model_pb2

    target.mkdir()
    for name in ("tokenizer_config.json",):
        if (telechat3 / name).exists():
            shutil.copy(telechat3 / name, target / name)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((telechat3 / "tokenizer.model").read_bytes())
    edit(proto, sentencepiece_model_pb2.ModelProto.SentencePiece)
    (target / "tokenizer.model").write_bytes(proto.SerializeToString())
    return target


def test_tokenizers_that_may_merge_across_a_newline_are_encoded_whole(telechat3, tmp_path):
    def newline_normal(proto, piece):
        next(p for p in proto.pieces if p.piece == "\n").type = piece.NORMAL

    def user_double_newline(proto, piece):
        proto.pieces.add(piece="\n\n", score=0.0, type=piece.USER_DEFINED)

    texts = ["def f():\n\n    return 1\n", "a\n\nb", "\n\n\nx"]
    for edit in (newline_normal, user_double_newline):
        tok = load_tokenizer(str(edited_model(telechat3, tmp_path / edit.__name__, edit)))
        assert not newline_is_atomic(tok)
        lines = LineEncoder(tok, max_lines=1_000_000)
        assert not lines.by_line
        assert same(lines.encode(texts), tok.encode_batch(texts)) == []
    assert newline_is_atomic(load_tokenizer(str(telechat3)))
    # max_lines=0 turns it off for any tokenizer.
    assert not LineEncoder(load_tokenizer(str(telechat3)), max_lines=0).by_line
