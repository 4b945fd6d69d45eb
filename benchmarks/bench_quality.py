"""Scoring throughput, MB/s on one core, on real code: the heuristic scorer and a fastText scorer.

Code: /work/corpus/src (or --corpus; site-packages when absent). The fastText model is --model,
or one trained here on installed READMEs vs license texts (the speed of predict does not depend
on what the model learnt, only on dim, wordNgrams and the text). Also lid.176 when cached.

    /work/venv/bin/python benchmarks/bench_quality.py [--mb 20] [--corpus DIR] [--model M.bin]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.ingest.languages import detect_language, language_kind  # noqa: E402


def load_code(root: Path | None, budget: int, seed: int = 0) -> list[tuple[str, str, str]]:
    if root is None or not root.exists():
        import yaml

        root = Path(yaml.__file__).resolve().parents[1]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 1 << 20)
    random.Random(seed).shuffle(files)
    out, total = [], 0
    for p in files:
        lang = detect_language(p.name)
        if language_kind(lang) != "code":
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        out.append((text, lang, str(p)))
        total += len(text.encode())
        if total >= budget:
            break
    print(f"corpus: {root}: {len(out)} code files, {total / 1e6:.1f} MB")
    return out


def throughput(name: str, docs, fn) -> float:
    mb = sum(len(d[0].encode()) for d in docs) / 1e6
    start = time.process_time()  # CPU time of this process: MB/s per core on a shared machine
    fn(docs)
    secs = time.process_time() - start
    print(f"{name:<34}{mb / secs:8.2f} MB/s per core  ({mb:.1f} MB in {secs:.1f} s)")
    return mb / secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--corpus", type=Path, default=Path("/work/corpus/src"))
    ap.add_argument("--model", type=Path)
    args = ap.parse_args()
    docs = load_code(args.corpus, int(args.mb * 1e6))

    from curation.quality.heuristics import score_code

    throughput("heuristic (score_code)", docs, lambda ds: [score_code(t, lang, p) for t, lang, p in ds])
    by_lang: dict[str, list] = {}
    for d in docs:
        by_lang.setdefault(d[1], []).append(d)
    for lang, ds in sorted(by_lang.items(), key=lambda kv: -sum(len(d[0]) for d in kv[1]))[:6]:
        throughput(f"  heuristic, {lang}", ds, lambda ds: [score_code(t, la, p) for t, la, p in ds])

    import fasttext

    from curation.quality.fasttext_train import predict_proba

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from test_quality import (
                _small_labelled,  # the same small real data as the tests
            )

            from curation.quality.fasttext_train import train_classifier

            model_path = Path(tmp) / "m.bin"
            train_classifier(_small_labelled(), positive="code_related", epochs=5, model_path=model_path)
        model = fasttext.load_model(str(model_path))
        texts = [d[0] for d in docs]
        throughput("fastText classifier (predict)", docs,
                   lambda ds: [predict_proba(model, texts[i:i + 256], "code_related") for i in range(0, len(texts), 256)])
    from curation.langid import LanguageIdentifier, default_cache_dir

    lid = default_cache_dir() / "lid.176.ftz"
    if lid.exists():
        ident = LanguageIdentifier(lid)
        throughput("lid.176 (first 2000 chars)", docs,
                   lambda ds: [ident.identify([d[0] for d in ds[i:i + 256]]) for i in range(0, len(ds), 256)])


if __name__ == "__main__":
    main()
