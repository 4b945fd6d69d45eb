"""Packing on the registry corpus: concat-and-chunk against best-fit decreasing, at 8K, 32K, 128K.

    python benchmarks/bench_packing.py [--corpus DIR] [--max-mb N] [--tokenizer DIR]

DIR holds src/ (as built by ../shared/scripts/build_corpus.sh); defaults to $CURATION_TEST_CORPUS,
else .cache/corpus, else /work/corpus. A deterministic sample of its text files (by a hash of the
path, up to --max-mb) is tokenized with TeleChat3, then packed both ways. Reported per seq_len:
fill (real tokens / row capacity), rows against the lower bound ceil(tokens / seq_len), the share
of documents cut across rows (concat: any document spanning rows; best-fit: only those longer
than seq_len), and packing throughput. Target: best-fit fill >= 99% at every length, and
tokens in = tokens out (+ padding = rows * seq_len) for both.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEQ_LENS = (8192, 32768, 131072)
MAX_FILE_BYTES = 1 << 20  # the ingest default: larger files are not documents we would train on


def corpus_src(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("CURATION_TEST_CORPUS"), ROOT / ".cache" / "corpus", "/work/corpus"):
        if candidate and (Path(candidate) / "src").is_dir():
            return Path(candidate) / "src"
    raise SystemExit("no registry corpus: build it with ../shared/scripts/build_corpus.sh or pass --corpus")


def sample_texts(src: Path, max_bytes: int) -> list[tuple[str, str]]:
    """(path, text) of decodable files, in a hash order of their paths, up to max_bytes."""
    import xxhash

    files = [p for p in src.rglob("*") if p.is_file() and not p.is_symlink() and 0 < p.stat().st_size <= MAX_FILE_BYTES]
    files.sort(key=lambda p: xxhash.xxh3_64_intdigest(str(p.relative_to(src)).encode()))
    out, size = [], 0
    for p in files:
        raw = p.read_bytes()
        if b"\0" in raw[:8192]:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append((str(p.relative_to(src)), text))
        size += len(raw)
        if size >= max_bytes:
            break
    return out


def measure(packer, docs, seq_len: int) -> dict:
    spans: dict[str, int] = {}
    start = time.perf_counter()
    for doc_id, ids in docs:
        for row in packer.add(doc_id, "corpus", ids):
            for d in set(row.doc_ids):
                spans[d] = spans.get(d, 0) + 1
    for row in packer.finish():
        for d in set(row.doc_ids):
            spans[d] = spans.get(d, 0) + 1
    seconds = time.perf_counter() - start
    spans.pop("", None)
    assert packer.tokens_in == packer.tokens_out and packer.rows * seq_len == packer.tokens_out + packer.padding
    return {"rows": packer.rows, "bound": math.ceil(packer.tokens_in / seq_len),
            "fill": packer.tokens_out / (packer.rows * seq_len),
            "cut": sum(1 for n in spans.values() if n > 1) / len(docs),
            "mtok_s": packer.tokens_in / seconds / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus")
    ap.add_argument("--max-mb", type=float, default=40)
    ap.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "telechat3"))
    args = ap.parse_args()

    from curation.pack.bestfit import BestFitPacker
    from curation.pack.packer import ConcatPacker
    from curation.tokenize import load_tokenizer

    src = corpus_src(args.corpus)
    tokenizer = load_tokenizer(args.tokenizer)
    start = time.perf_counter()
    texts = sample_texts(src, int(args.max_mb * 2**20))
    ids = tokenizer.encode_batch([t for _, t in texts], num_threads=2)
    docs = [(path, d) for (path, _), d in zip(texts, ids)]
    tokens = sum(len(d) + 1 for _, d in docs)
    mb = sum(len(t.encode()) for _, t in texts) / 2**20
    print(f"{src}: {len(docs):,} files, {mb:.1f} MB, {tokens:,} tokens (with EOS), "
          f"tokenized in {time.perf_counter() - start:.0f}s")
    lengths = sorted(len(d) + 1 for _, d in docs)
    print(f"document tokens: median {lengths[len(lengths) // 2]:,}, p90 {lengths[int(0.9 * len(lengths))]:,}, "
          f"max {lengths[-1]:,}\n")
    header = f"{'seq_len':>8} {'method':<9} {'rows':>7} {'bound':>7} {'fill':>8} {'docs cut':>9} {'Mtok/s':>7}"
    print(header + "\n" + "-" * len(header))
    for seq_len in SEQ_LENS:
        for name, packer in (("concat", ConcatPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)),
                             ("best_fit", BestFitPacker(seq_len=seq_len, eos_id=tokenizer.eos_id,
                                                        pad_id=tokenizer.pad_id))):
            m = measure(packer, docs, seq_len)
            print(f"{seq_len:>8} {name:<9} {m['rows']:>7,} {m['bound']:>7,} {m['fill']:>8.3%} {m['cut']:>9.2%} "
                  f"{m['mtok_s']:>7.1f}")


if __name__ == "__main__":
    main()
