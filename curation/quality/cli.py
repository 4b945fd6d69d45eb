"""`curate train-quality` and `curate recall-text`: thin commands over curation.quality (their
arguments are declared in curation.cli)."""

from __future__ import annotations

from curation.quality.fasttext_train import train_classifier
from curation.quality.recall import recall_loop
from curation.quality.sources import read_source


def _train_kwargs(args) -> dict:
    return dict(test_fraction=args.test_fraction, epochs=args.epochs, lr=args.lr, wordNgrams=args.word_ngrams, dim=args.dim)


def _cap(docs: list, limit: int | None, seed: int) -> list:
    """At most `limit` documents per label, sampled (one big source must not be the whole class)."""
    if not limit:
        return docs
    import random

    by_label: dict[str, list] = {}
    for d in docs:
        by_label.setdefault(d.label, []).append(d)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_label):
        group = by_label[label]
        out += group if len(group) <= limit else rng.sample(group, limit)
    return out


def cmd_train_quality(args) -> int:
    if not (args.positive and args.negative) and not args.input:
        raise ValueError("give --positive and --negative sources, or --input with --label-key")
    docs = []
    for spec in args.positive:
        docs += read_source(spec, args.positive_label, text_key=args.text_key)
    for spec in args.negative:
        docs += read_source(spec, args.negative_label, text_key=args.text_key)
    for spec in args.input:
        docs += read_source(spec, None, text_key=args.text_key, label_key=args.label_key)
    docs = _cap(docs, args.max_per_label, args.seed)
    _, report = train_classifier(docs, positive=args.positive_label, seed=args.seed, model_path=args.out,
                                 version=args.version, **_train_kwargs(args))
    print(report.summary())
    print(f"\nmodel {args.out} (sha256 {report.model_sha256[:16]}), report {args.out}.json; "
          f"documents get score_{args.name}_v{args.version}")
    return 0


def cmd_recall_text(args) -> int:
    seeds = [d for spec in args.seeds for d in read_source(spec, "code_related", text_key=args.text_key)]
    pool = [d for spec in args.pool
            for d in read_source(spec, None if args.pool_label_key else "unlabelled", text_key=args.text_key,
                                 label_key=args.pool_label_key)]
    reports = recall_loop(seeds, pool, args.out, rounds=args.rounds, threshold=args.threshold,
                          truth_labelled=bool(args.pool_label_key), seed=args.seed, **_train_kwargs(args))
    for r in reports:
        measured = f"  precision {r.precision:.4f} recall {r.recall:.4f}" if r.recall is not None else ""
        print(f"round {r.round}: {r.positives} positives, {r.negatives} negatives, held-out F1 {r.held_out_f1:.4f}, "
              f"recalled {r.recalled}/{r.pool}{measured}  -> {r.recalled_file}")
    print(f"\nreport {args.out / 'recall_report.json'}; next model: {reports[-1].model}")
    return 0
