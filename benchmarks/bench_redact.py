"""Redaction on the registry corpus: throughput and every redaction made on clean code.

Reads the files ingest would keep (text, known language, <= 1 MB), then in the same run times
(1) reading them, (2) the prefilter alone, (3) redaction, (4) TeleChat3 tokenization, the floor of
stage 1 (DESIGN.md). Redaction's share of stage-1 time is at most redact / tokenize, since stage 1
does tokenization and more. Every finding is listed with its file and line, grouped by type:
the registry corpus is published packages, so any key, password or private key found in it is at
best a test or documentation value and counts as a false redaction; emails there are real people's
(authors, translators); IP addresses are listed for review.

    PYTHONPATH=. nice python benchmarks/bench_redact.py --corpus /work/main/.cache/corpus/src \
        --tokenizer ../shared/tokenizers/telechat3 --out redact_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from curation.config.redact import RedactConfig
from curation.ingest.filetypes import binary_extension_reason, is_probably_binary
from curation.ingest.languages import detect_language
from curation.redact.labels import SECRET_LABELS
from curation.redact.plugins import plugin_class
from curation.redact.redactor import Redactor

MAX_FILE_BYTES = 1 << 20  # ingest's default max_file_bytes


def corpus_files(root: str | Path, *, every: int = 1, langs=None) -> list[tuple[str, str, str]]:
    """(relative path, language, text) of the files ingest keeps, in sorted path order; every
    `every`-th file only, for a sample that still spans all packages; only `langs` (judged by the
    file name) when given."""
    root = Path(root)
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        paths.extend(os.path.join(dirpath, f) for f in sorted(filenames))
    out = []
    for k, full in enumerate(paths):
        if k % every:
            continue
        rel = os.path.relpath(full, root)
        if binary_extension_reason(rel) or not os.path.isfile(full) or os.path.getsize(full) > MAX_FILE_BYTES:
            continue
        if langs is not None and detect_language(rel) not in langs:
            continue
        data = Path(full).read_bytes()
        if is_probably_binary(data):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        lang = detect_language(rel, data[:512])
        if lang is not None:
            out.append((rel, lang, text))
    return out


def clean_corpus_findings(redactor: Redactor, docs) -> list[dict]:
    rows = []
    for rel, lang, text in docs:
        for f in redactor.find(text, lang, rel):
            line_start = text.rfind("\n", 0, f.start) + 1
            line_end = text.find("\n", f.end)
            rows.append({"path": rel, "line": text.count("\n", 0, f.start) + 1, "label": f.label.value,
                         "detector": f.detector, "match": text[f.start:f.end][:120],
                         "context": text[max(line_start, f.start - 80):(len(text) if line_end < 0 else line_end)][:240]})
    return rows


def summarize(rows: list[dict], megabytes: float) -> dict:
    secret_values = {label.value for label in SECRET_LABELS}
    secrets = [r for r in rows if r["label"] in secret_values]
    return {
        "findings_by_label": dict(Counter(r["label"] for r in rows)),
        "findings_by_detector": dict(Counter(r["detector"] for r in rows)),
        "false_secret_redactions": len(secrets),
        "false_secret_redactions_per_10mb": round(len(secrets) / megabytes * 10, 3),
        "ip_redactions_per_10mb": round(sum(r["label"] == "ip_address" for r in rows) / megabytes * 10, 3),
    }


def compare_detect_secrets_scan(root: str, redactor: Redactor, every: int) -> dict:
    """detect-secrets' file-oriented scan (`SecretsCollection.scan_file`, its default plugins and
    filters) and its plugins' `analyze_string` on every line (our default plugins, no prefilter)
    against our redactor on the same sample of files, same run."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    docs = corpus_files(root, every=every)
    megabytes = sum(len(t.encode("utf-8")) for _, _, t in docs) / 1e6
    paths = [str(Path(root) / rel) for rel, _, _ in docs]
    with default_settings():
        collection = SecretsCollection()
        scan_s, _ = timed(lambda: [collection.scan_file(p) for p in paths])
    redact_s, _ = timed(lambda: [redactor.redact(t, lang) for _, lang, t in docs])
    plugins = [plugin_class(name)() for name in RedactConfig().plugins]
    lines = [line for _, _, t in docs for line in t.splitlines()]
    per_line_s, _ = timed(lambda: [list(p.analyze_string(line)) for line in lines for p in plugins])
    return {"files": len(docs), "megabytes": round(megabytes, 2), "scan_file_seconds": round(scan_s, 3),
            "plugins_per_line_seconds": round(per_line_s, 3),
            "plugins_per_line_vs_redact": round(per_line_s / redact_s, 1),
            "scan_file_mb_per_s": round(megabytes / scan_s, 2), "redact_seconds": round(redact_s, 3),
            "scan_file_vs_redact": round(scan_s / redact_s, 1),
            "scan_file_secrets_reported": sum(len(v) for _, v in collection.data.items())}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", default=None, help="TeleChat3 folder; omit to skip the tokenization reference")
    ap.add_argument("--every", type=int, default=1, help="use every N-th file (a quick sample)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--detect-secrets-every", type=int, default=400,
                    help="also time detect-secrets' own file scan on every N-th file (0: skip)")
    args = ap.parse_args(argv)

    read_s, docs = timed(lambda: corpus_files(args.corpus, every=args.every))
    megabytes = sum(len(t.encode("utf-8")) for _, _, t in docs) / 1e6
    redactor = Redactor.from_config(RedactConfig())
    prefilter_s, _ = timed(lambda: [redactor.prefilter.triggered(t) for _, _, t in docs])
    redact_s, _ = timed(lambda: [redactor.redact(t, lang) for _, lang, t in docs])
    rows = clean_corpus_findings(redactor, docs)
    report = {
        "corpus": str(args.corpus), "files": len(docs), "megabytes": round(megabytes, 2),
        "prefilter_backend": redactor.prefilter.backend,
        "seconds": {"read": round(read_s, 3), "prefilter": round(prefilter_s, 3), "redact": round(redact_s, 3)},
        "redact_mb_per_s": round(megabytes / redact_s, 2),
        "redact_vs_read": round(redact_s / read_s, 3),
        **summarize(rows, megabytes),
    }
    if args.detect_secrets_every:
        report["detect_secrets_scan"] = compare_detect_secrets_scan(args.corpus, redactor, args.detect_secrets_every)
    if args.tokenizer:
        from curation.tokenize.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
        texts = [t for _, _, t in docs]
        tokenize_s, _ = timed(lambda: [tokenizer.encode_batch(texts[i:i + 256]) for i in range(0, len(texts), 256)])
        report["seconds"]["tokenize"] = round(tokenize_s, 3)
        report["redact_vs_tokenize"] = round(redact_s / tokenize_s, 3)
    report["findings"] = sorted((r for r in rows if r["label"] != "email"), key=lambda r: (r["label"], r["path"]))
    report["email_examples"] = [r for r in rows if r["label"] == "email"][:50]
    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text)
    summary = {k: v for k, v in report.items() if k not in ("findings", "email_examples")}
    print(json.dumps(summary, indent=1), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
