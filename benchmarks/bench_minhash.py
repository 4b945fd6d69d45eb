"""Near-dedup benchmark: accuracy against exact Jaccard, speed against datatrove, in one run.

(a) accuracy: real code files (/work/corpus/src, or site-packages when it is absent) plus
    transformed copies: identifier renames, reformatting (indentation, spacing, line wrapping),
    partial edits of 2-50% of the lines, combinations; plus unrelated pairs. Exact Jaccard on the
    very shingles the sketch sees labels each pair (>= threshold: a duplicate). A pair is
    predicted when LSH makes it a candidate and its estimated Jaccard is >= threshold. Scored
    pairs: every labelled pair plus every pair either method predicted, so a false positive
    anywhere in the set counts. datasketch (MinHash + MinHashLSH, same shingles) alongside.
(b) speed, one process, same documents, same n-grams and permutations: datatrove's
    MinhashDedupSignature vs our signatures, and datatrove's four stages (signature, buckets,
    cluster, filter) vs ours (signature, banding, verified clustering, keep decision).

    /work/venv/bin/python benchmarks/bench_minhash.py [--mb 40] [--originals 600]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup.lsh import (  # noqa: E402
    KeepCandidate,
    candidate_pairs,
    near_duplicate_clusters,
    removals,
    verified_pairs,
)
from curation.dedup.minhash import (  # noqa: E402
    band_keys,
    derive_bands,
    shingle_hashes,
    signature,
    text_signature,
)
from curation.dedup.shingles import KEYWORDS  # noqa: E402

CODE_EXTENSIONS = {".py", ".js", ".ts", ".java", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".rb", ".php", ".pm"}
THRESHOLD, N_GRAMS, NUM_PERM = 0.7, 5, 256


def corpus_files(root: Path | None) -> list[Path]:
    if root is None or not root.exists():
        import datatrove

        root = Path(datatrove.__file__).parents[1]  # site-packages: real code on every machine
    files = sorted(p for p in root.rglob("*") if p.suffix in CODE_EXTENSIONS and p.is_file())
    print(f"corpus: {root} ({len(files)} code files)")
    return files


def read_texts(files: list[Path], rng: random.Random, budget_bytes: int, min_bytes=1, max_bytes=1 << 20) -> list[str]:
    texts, seen, total = [], set(), 0
    for path in rng.sample(files, len(files)):
        text = path.read_text(encoding="utf-8", errors="replace")
        size = len(text.encode())
        if min_bytes <= size <= max_bytes and text not in seen:
            seen.add(text)
            texts.append(text)
            total += size
            if total >= budget_bytes:
                break
    return texts


# --- (a) accuracy -----------------------------------------------------------------------------

IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")


def rename_identifiers(text: str, rng: random.Random) -> str:
    """Rename up to 12 of the most frequent non-keyword identifiers, as a clone would."""
    counts: dict[str, int] = {}
    for name in IDENTIFIER.findall(text):
        if name not in KEYWORDS:
            counts[name] = counts.get(name, 0) + 1
    chosen = sorted(counts, key=lambda n: (-counts[n], n))[:12]
    mapping = {name: f"{rng.choice('abcdefghkmnpqrstuvwxyz')}{rng.randrange(16**5):05x}" for name in chosen}
    if not mapping:
        return text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, chosen)) + r")\b")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def reformat(text: str, rng: random.Random) -> str:
    """Whitespace-only rewrite: re-indent, re-space operators and commas, wrap at commas."""
    out = []
    indent = rng.choice(["\t", "  ", "        "])
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        line = indent * ((len(line) - len(stripped)) // 4) + " " * ((len(line) - len(stripped)) % 4) + stripped
        line = re.sub(r"\s*([=+*/<>])\s*", r" \1 ", line) if rng.random() < 0.5 else line
        if len(line) > 40 and "," in line and rng.random() < 0.5:
            line = line.replace(", ", ",\n" + indent * 2)
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def edit_lines(text: str, donor: str, fraction: float, rng: random.Random) -> str:
    """Change `fraction` of the lines: a third replaced by donor lines, a third deleted, a third
    followed by an inserted donor line."""
    lines, donor_lines = text.splitlines(), donor.splitlines() or ["pass"]
    chosen = set(rng.sample(range(len(lines)), int(round(fraction * len(lines)))))
    out = []
    for index, line in enumerate(lines):
        action = rng.randrange(3) if index in chosen else -1
        if action == 0:
            out.append(rng.choice(donor_lines))
        elif action == 2:
            out.extend([line, rng.choice(donor_lines)])
        elif action == -1:
            out.append(line)
    return "\n".join(out)


def make_labelled_set(originals: list[str], rng: random.Random, unrelated: int):
    """Documents (originals then copies) and labelled pairs (i, j, kind)."""
    docs, pairs = list(originals), []
    for index, text in enumerate(originals):
        donor = originals[(index + 1 + rng.randrange(len(originals) - 1)) % len(originals)]
        kind = rng.choices(["rename", "reformat", "edit", "rename+reformat", "reformat+edit"], [2, 2, 6, 1, 2])[0]
        fraction = rng.choice([0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
        copy = text
        if "rename" in kind:
            copy = rename_identifiers(copy, rng)
        if "reformat" in kind:
            copy = reformat(copy, rng)
        if "edit" in kind:
            copy = edit_lines(copy, donor, fraction, rng)
            kind = f"{kind} {fraction:.0%}"
        docs.append(copy)
        pairs.append((index, len(docs) - 1, kind))
    for _ in range(unrelated):
        i, j = rng.sample(range(len(originals)), 2)
        pairs.append((min(i, j), max(i, j), "unrelated"))
    return docs, pairs


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.union1d(a, b).size
    return np.intersect1d(a, b, assume_unique=True).size / union if union else 1.0


def ours_predicted(shingle_sets: list[np.ndarray], bands: int, rows: int) -> set[tuple[int, int]]:
    sigs = np.stack([signature(s, NUM_PERM) for s in shingle_sets])
    left, right = candidate_pairs(band_keys(sigs, bands, rows))
    left, right, _ = verified_pairs(sigs, left, right, THRESHOLD)
    return set(zip(left.tolist(), right.tolist()))


def datasketch_predicted(shingle_sets: list[np.ndarray]) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sketches = []
    for index, shingle_set in enumerate(shingle_sets):
        sketch = MinHash(num_perm=NUM_PERM, seed=1)
        sketch.update_batch([h.to_bytes(8, "little") for h in shingle_set.tolist()])
        sketches.append(sketch)
        lsh.insert(index, sketch)
    found = set()
    for index, sketch in enumerate(sketches):
        for other in lsh.query(sketch):
            if other != index and sketch.jaccard(sketches[other]) >= THRESHOLD:
                found.add((min(index, other), max(index, other)))
    return found


def score(predicted: set, exact: dict) -> tuple[float, float, int, int]:
    positives = {p for p, j in exact.items() if j >= THRESHOLD}
    hits = len(predicted & positives)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(positives) if positives else 1.0
    return precision, recall, len(predicted), len(positives)


def accuracy(files: list[Path], originals: int, unrelated: int, seed: int) -> None:
    rng = random.Random(seed)
    texts = read_texts(files, rng, budget_bytes=1 << 40, min_bytes=1500, max_bytes=60_000)[:originals]
    docs, labelled = make_labelled_set(texts, rng, unrelated)
    bands, rows = derive_bands(THRESHOLD, NUM_PERM)
    fn_bands = derive_bands(THRESHOLD, NUM_PERM, 0.1, 0.9)
    print(f"\n(a) accuracy: {len(texts)} real files + {len(docs) - len(texts)} transformed copies, "
          f"{len(labelled)} labelled pairs; threshold {THRESHOLD}, {N_GRAMS}-grams, "
          f"{NUM_PERM} permutations -> b={bands}, r={rows} "
          f"(b={fn_bands[0]}, r={fn_bands[1]} with weights fp 0.1 / fn 0.9)")
    for normalize in (False, True):
        shingle_sets = [np.unique(shingle_hashes(d, N_GRAMS, normalize)) for d in docs]
        ours, theirs = ours_predicted(shingle_sets, bands, rows), datasketch_predicted(shingle_sets)
        # candidates are verified by their estimate, so LSH false positives cost a comparison,
        # not precision: bands derived with false negatives weighted 0.9 buy recall cheaply
        ours_fn = ours_predicted(shingle_sets, *fn_bands)
        scored = {(i, j) for i, j, _ in labelled} | ours | theirs | ours_fn
        exact = {(i, j): exact_jaccard(shingle_sets[i], shingle_sets[j]) for i, j in scored}
        kinds = {(i, j): kind.split(" ")[0] for i, j, kind in labelled}
        print(f"\n  normalize_identifiers={normalize}: {len(scored)} scored pairs, "
              f"{sum(j >= THRESHOLD for j in exact.values())} with exact J >= {THRESHOLD}")
        methods = (
            (f"ours b={bands} r={rows}", ours),
            (f"ours b={fn_bands[0]} r={fn_bands[1]}", ours_fn),
            (f"datasketch b={bands} r={rows}", theirs),
        )
        print(f"  {'method':<26} {'precision':>9} {'recall':>7} {'predicted':>9} {'positives':>9}")
        for name, predicted in methods:
            p, r, n_pred, n_pos = score(predicted, exact)
            print(f"  {name:<26} {p:>9.4f} {r:>7.4f} {n_pred:>9} {n_pos:>9}")
        print(f"  recall by exact J: {'J range':<12} {'pairs':>6} {'ours':>6} {'ours fn':>7} {'datasketch':>10}")
        for lo, hi in ((0.7, 0.75), (0.75, 0.8), (0.8, 0.9), (0.9, 1.0001)):
            in_bin = [p for p, j in exact.items() if lo <= j < hi]
            if in_bin:
                print(f"  {'':<19}[{lo:.2f},{min(hi, 1):.2f}{')' if hi < 1 else ']'} {len(in_bin):>6} "
                      f"{sum(p in ours for p in in_bin) / len(in_bin):>6.3f} "
                      f"{sum(p in ours_fn for p in in_bin) / len(in_bin):>7.3f} "
                      f"{sum(p in theirs for p in in_bin) / len(in_bin):>10.3f}")
        by_kind: dict[str, list] = {}
        for pair, kind in kinds.items():
            by_kind.setdefault(kind, []).append(pair)
        print("  by copy kind (mean exact J, share found by ours): " + "; ".join(
            f"{kind} {np.mean([exact[p] for p in ps]):.2f}/{np.mean([p in ours for p in ps]):.2f}"
            for kind, ps in sorted(by_kind.items())))


# --- (b) speed --------------------------------------------------------------------------------


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def speed(files: list[Path], megabytes: float, seed: int) -> None:
    import xxhash
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )

    texts = read_texts(files, random.Random(seed), budget_bytes=int(megabytes * 1e6))
    # a corpus has duplicates: append near-copies of 5% of the files so clustering has work
    rng = random.Random(seed + 1)
    texts += [edit_lines(t, t, 0.03, rng) for t in rng.sample(texts, len(texts) // 20)]
    size_mb = sum(len(t.encode()) for t in texts) / 1e6
    docs = [Document(text=t, id=f"doc{i:07d}") for i, t in enumerate(texts)]
    bands, rows = derive_bands(THRESHOLD, NUM_PERM)
    config = MinhashConfig(n_grams=N_GRAMS, num_buckets=bands, hashes_per_bucket=rows)
    print(f"\n(b) speed: {len(docs)} documents, {size_mb:.1f} MB, one process; {N_GRAMS}-grams, "
          f"{bands} x {rows} = {bands * rows} hashes (datatrove) / {NUM_PERM} bins, {bands} bands (ours)")

    with tempfile.TemporaryDirectory(prefix="bench_minhash_") as tmp:
        stage = MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=config)
        # datatrove 0.10.1's default xxhash64 passes str, which xxhash >= 3.5 refuses; encode, as
        # the fastest working equivalent of its default (its sha1 option would be slower)
        stage._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
        t_sig, _ = timed(lambda: stage.run(iter(docs), 0, 1))

        def buckets():
            step = MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=config)
            for rank in range(bands):
                step.run(None, rank, bands)

        t_buckets, _ = timed(buckets)
        t_cluster, _ = timed(lambda: MinhashDedupCluster(f"{tmp}/buckets", f"{tmp}/remove_ids", config=config).run(None, 0, 1))
        t_filter, dt_kept = timed(lambda: sum(1 for _ in MinhashDedupFilter(f"{tmp}/remove_ids").run(iter(docs), 0, 1)))

    t_our_sig, sigs = timed(lambda: np.stack([text_signature(d.text, N_GRAMS, NUM_PERM) for d in docs]))
    t_our_cluster, labels = timed(lambda: near_duplicate_clusters(sigs, bands, rows, THRESHOLD))
    members = [KeepCandidate(id=d.id) for d in docs]

    def keep_decision():
        removed = {row[0] for row in removals(labels, members, sigs)}
        return sum(1 for d in docs if d.id not in removed)

    t_our_keep, our_kept = timed(keep_decision)

    dt_total = t_sig + t_buckets + t_cluster + t_filter
    our_total = t_our_sig + t_our_cluster + t_our_keep
    rows_out = [
        ("signatures", t_sig, t_our_sig),
        ("buckets + cluster", t_buckets + t_cluster, t_our_cluster),
        ("filter / keep decision", t_filter, t_our_keep),
        ("all stages", dt_total, our_total),
    ]
    print(f"  {'stage':<24} {'datatrove s':>11} {'MB/s':>7} {'ours s':>8} {'MB/s':>7} {'speed-up':>8}")
    for name, theirs, ours in rows_out:
        print(f"  {name:<24} {theirs:>11.2f} {size_mb / theirs:>7.1f} {ours:>8.2f} {size_mb / ours:>7.1f} "
              f"{theirs / ours:>7.1f}x")
    print(f"  documents kept: datatrove {dt_kept}, ours {our_kept} of {len(docs)} "
          f"(tokenizers differ, so the clusters differ)")
    print(f"  targets: signatures >= 10x -> {t_sig / t_our_sig:.1f}x; all stages >= 5x -> {dt_total / our_total:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus/src"))
    parser.add_argument("--mb", type=float, default=40.0, help="speed corpus size")
    parser.add_argument("--originals", type=int, default=600, help="real files in the labelled set")
    parser.add_argument("--unrelated", type=int, default=3000, help="unrelated labelled pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=["accuracy", "speed"], action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    files = corpus_files(args.corpus)
    if "accuracy" not in args.skip:
        accuracy(files, args.originals, args.unrelated, args.seed)
    if "speed" not in args.skip:
        speed(files, args.mb, args.seed)


if __name__ == "__main__":
    main()
