"""Repository-level assembly throughput on the registry corpus, next to bare tree-sitter parsing.

    python benchmarks/bench_assemble.py [--corpus DIR] [--tokenizer DIR] [--mb-per-family N] [--context N]

Per repository family, one process (so MB/s is per core), over the same bytes:
  parse      tree-sitter parse of every supported file (the bare cost)
  tokenize   TeleChat3 encode of every file (what the tokenize step pays anyway)
  assemble   curation.assemble.repository.assemble_repository: parse + imports + resolve + order +
             tokenize + chunking, FIM off; and again with FIM (char mode, rate 0.5)
  graph      assemble minus tokenize: what repository-level documents add to the pipeline
Bytes are those of all files of the repository (source and other text), as the step sees them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="folder holding src/ (default: $CURATION_TEST_CORPUS or .cache/corpus)")
    parser.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "telechat3"))
    parser.add_argument("--mb-per-family", type=float, default=8.0, help="stop adding repositories past this")
    parser.add_argument("--context", type=int, default=32768)
    args = parser.parse_args(argv)

    from bench_imports import find_corpus, registry_repositories

    from curation.assemble.repository import (
        FimSettings,
        RepoFile,
        assemble_repository,
        resolve_separators,
    )
    from curation.config.assemble import FimSentinelPieces, SeparatorPieces
    from curation.ingest.filetypes import vendored_reason
    from curation.ingest.languages import detect_language
    from curation.repo.graph import read_repository
    from curation.repo.parsing import SUPPORTED_LANGUAGES, parse
    from curation.tokenize.fim import FimSentinels, resolve_sentinels
    from curation.tokenize.tokenizer import load_tokenizer

    src = find_corpus(args.corpus)
    tok = load_tokenizer(args.tokenizer)
    seps = resolve_separators(tok, SeparatorPieces())
    sentinels: FimSentinels = resolve_sentinels(tok, FimSentinelPieces())
    fim = FimSettings(0.5, 0.5, sentinels, "char", seed=0)
    secs: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    size: dict[str, int] = defaultdict(int)
    parsed: dict[str, int] = defaultdict(int)
    chunks: dict[str, int] = defaultdict(int)
    split: dict[str, int] = defaultdict(int)
    for family, root in registry_repositories(src):
        if size[family] >= args.mb_per_family * 2**20:
            continue
        texts = {p: t for p, t in read_repository(root).items() if vendored_reason(p) is None}
        files = [RepoFile(f"{root.name}:{p}", p, t, detect_language(p)) for p, t in texts.items()]
        size[family] += sum(len(f.text.encode("utf-8", "surrogatepass")) for f in files)
        t = secs[family]
        started = time.perf_counter()
        for f in files:
            if f.lang in SUPPORTED_LANGUAGES:
                parse(f.text, f.lang)
                parsed[family] += len(f.text)
        t["parse"] += time.perf_counter() - started
        started = time.perf_counter()
        tok.encode_batch([f.text for f in files])
        t["tokenize"] += time.perf_counter() - started
        for name, settings in (("assemble", None), ("assemble+fim", fim)):
            started = time.perf_counter()
            result = assemble_repository(files, tok, repo=root.name, rev="1", max_tokens=args.context - 1,
                                         separators=seps, fim=settings)
            t[name] += time.perf_counter() - started
        chunks[family] += len(result.chunks)
        split[family] += sum(1 for c in result.chunks if any(s.parts > 1 for s in c.spans))

    print(f"registry corpus: {src}; context {args.context}; MB/s per core (one process)\n")
    header = (f"{'family':<11} {'MB':>6} {'parsed MB':>9} {'chunks':>6} {'split':>5} {'parse':>7} {'tokenize':>8} "
              f"{'assemble':>8} {'+fim':>7} {'graph':>7}")
    print(header)
    print("-" * len(header))
    for family in sorted(size):
        mb, t = size[family] / 2**20, secs[family]
        graph = max(t["assemble"] - t["tokenize"], 1e-9)
        # parse MB/s is over the parsed (supported-language) bytes, the others over all bytes
        print(f"{family:<11} {mb:6.2f} {parsed[family] / 2**20:9.2f} {chunks[family]:6d} {split[family]:5d} "
              f"{parsed[family] / 2**20 / max(t['parse'], 1e-9):7.1f} {mb / t['tokenize']:8.2f} "
              f"{mb / t['assemble']:8.2f} {mb / t['assemble+fim']:7.2f} {mb / graph:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
