"""Near-dedup core: band derivation, code-aware shingles, OPH MinHash accuracy (against exact
Jaccard and datasketch), LSH clustering and the keep rule. Real code comes from installed
packages' sources, so the tests run wherever the venv does."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from curation.dedup import shingles
from curation.dedup.lsh import (
    KeepCandidate,
    UnionFind,
    candidate_pairs,
    choose_kept,
    near_duplicate_clusters,
    removals,
)
from curation.dedup.minhash import (
    band_keys,
    code_tokens,
    derive_bands,
    estimate_jaccard,
    is_empty_signature,
    shingle_hashes,
    shingle_hashes_from_ids,
    signature,
    text_signature,
    token_hashes,
)

NUM_PERM = 256


def real_code_files(count: int, min_bytes: int = 4000, max_bytes: int = 40000) -> list[str]:
    """Distinct real source files from installed packages (numpy's and datatrove's trees)."""
    import datatrove

    roots = [Path(np.__file__).parent, Path(datatrove.__file__).parent]
    texts, seen = [], set()
    for path in sorted(p for root in roots for p in root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if min_bytes <= len(text) <= max_bytes and text not in seen:
            seen.add(text)
            texts.append(text)
        if len(texts) == count:
            return texts
    pytest.skip(f"only {len(texts)} source files of {min_bytes}-{max_bytes} bytes found in {roots}")


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.unique(a), np.unique(b)
    union = np.union1d(a, b).size
    return np.intersect1d(a, b, assume_unique=True).size / union if union else 1.0


def edit_lines(text: str, donor: str, fraction: float, rng: random.Random) -> str:
    """Replace `fraction` of the lines of `text` with lines of `donor`."""
    lines, donor_lines = text.splitlines(), donor.splitlines()
    for index in rng.sample(range(len(lines)), int(fraction * len(lines))):
        lines[index] = rng.choice(donor_lines)
    return "\n".join(lines)


# --- bands ------------------------------------------------------------------------------------


def test_derive_bands_matches_bigcode_and_datasketch():
    assert derive_bands(0.7, 256) == (25, 10)
    datasketch_lsh = pytest.importorskip("datasketch.lsh", reason="datasketch is the reference")
    for threshold, num_perm in [(0.5, 64), (0.8, 128), (0.85, 256)]:
        assert derive_bands(threshold, num_perm) == datasketch_lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        derive_bands(1.0, 256)


# --- shingles ---------------------------------------------------------------------------------


def test_tokens_keep_operators_numbers_and_drop_whitespace():
    assert code_tokens("x = a+b  # 1.5e3") == ["x", "=", "a", "+", "b", "#", "1", ".", "5e3"]
    assert code_tokens("if (x==0){y=$z;}") == ["if", "(", "x", "=", "=", "0", ")", "{", "y", "=", "$z", ";", "}"]
    assert code_tokens("def f(x, y):\n    return x") == code_tokens("def f(x,\n      y):  return x")


@pytest.mark.parametrize(
    ("left", "right"),
    [("c = a + b * d - e", "c = a - b * d - e"), ("x = 1 + y + z", "x = 2 + y + z"), ("return f(x)", "return f[x]")],
)
def test_shingles_tell_operators_and_numbers_apart(left, right):
    for normalize in (False, True):
        assert not np.array_equal(shingle_hashes(left, 3, normalize), shingle_hashes(right, 3, normalize))


def test_renamed_clone_equal_only_with_identifier_normalization():
    original = "def total(items):\n    acc = 0\n    for item in items:\n        acc += item.price\n    return acc\n"
    renamed = "def sum_all(rows):\n    s = 0\n    for r in rows:\n        s += r.cost\n    return s\n"
    assert exact_jaccard(shingle_hashes(original, 5), shingle_hashes(renamed, 5)) < 0.2
    assert np.array_equal(shingle_hashes(original, 5, True), shingle_hashes(renamed, 5, True))
    # keywords survive normalization: a loop is not an if
    assert code_tokens("for x in y", normalize_identifiers=True) == ["for", "ID", "in", "ID"]
    assert not np.array_equal(shingle_hashes("while x: y", 2, True), shingle_hashes("if x: y", 2, True))


def test_vectorized_token_hashes_equal_reference_on_real_code():
    for text in real_code_files(5) + ["\n".join(real_code_files(3)), "émoji 🙂 x=1\r\n\tnaïve_ident+=2", "", "   \n"]:
        for normalize in (False, True):
            reference = [shingles.token_hash(t.encode("utf-8", "surrogatepass")) for t in code_tokens(text, normalize)]
            assert token_hashes(text, normalize).tolist() == reference
        tokens = code_tokens(text)
        assert np.array_equal(shingle_hashes(tokens, 5), shingle_hashes(text, 5))


def test_short_documents_and_ids():
    assert shingle_hashes("", 5).size == 0
    assert shingle_hashes("a b", 5).size == 1  # shorter than n: one shingle of everything
    ids = np.array([5, 17, 5, 17, 99, 3], dtype=np.int32)
    assert shingle_hashes_from_ids(ids, 3).size == 4
    assert shingle_hashes_from_ids(ids, 3)[0] == shingle_hashes_from_ids(ids.astype(np.int64), 3)[0]
    assert shingle_hashes_from_ids(ids, 2)[0] != shingle_hashes_from_ids(ids[::-1].copy(), 2)[-1]  # order matters
    with pytest.raises(TypeError, match="integer"):
        shingle_hashes_from_ids(np.array([1.0, 2.0]), 2)


# --- signatures: accuracy ---------------------------------------------------------------------


def graded_pairs() -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Real files paired with copies edited on 0-60% of their lines: exact J from ~0.2 to 1."""
    rng = random.Random(7)
    files = real_code_files(24)
    pairs = []
    for index, text in enumerate(files[:20]):
        fraction = [0.0, 0.03, 0.08, 0.15, 0.25, 0.4, 0.6][index % 7]
        copy = edit_lines(text, files[(index + 7) % len(files)], fraction, rng)
        a, b = shingle_hashes(text, 5), shingle_hashes(copy, 5)
        pairs.append((a, b, exact_jaccard(a, b)))
    pairs.append((shingle_hashes(files[20], 5), shingle_hashes(files[21], 5), 0.0))
    pairs[-1] = (*pairs[-1][:2], exact_jaccard(pairs[-1][0], pairs[-1][1]))
    return pairs


def test_estimates_within_sampling_error_of_exact_jaccard():
    pairs = graded_pairs()
    assert min(j for *_, j in pairs) < 0.3 and max(j for *_, j in pairs[:-1]) == 1.0
    z_scores = []
    for a, b, exact in pairs:
        estimate = estimate_jaccard(signature(a, NUM_PERM), signature(b, NUM_PERM))
        error = np.sqrt(exact * (1 - exact) / NUM_PERM)
        assert abs(estimate - exact) <= 3 * error + 1e-9, (exact, estimate)
        if 0 < exact < 1:
            z_scores.append((estimate - exact) / error)
    # the spread matches k-permutation MinHash: mean squared z near 1, not merely inside 3 sigma
    assert np.mean(np.square(z_scores)) < 2.0


def test_densified_signatures_of_small_documents_stay_unbiased():
    rng = np.random.default_rng(3)
    estimates = []
    for _ in range(200):
        shared = rng.integers(0, 2**63, 40, dtype=np.uint64)
        a = np.concatenate((shared, rng.integers(0, 2**63, 10, dtype=np.uint64)))
        b = np.concatenate((shared, rng.integers(0, 2**63, 10, dtype=np.uint64)))
        estimates.append(estimate_jaccard(signature(a), signature(b)))  # 50 shingles, 256 bins
    assert abs(np.mean(estimates) - 40 / 60) < 0.02


def test_agrees_with_datasketch_on_the_same_shingles():
    datasketch = pytest.importorskip("datasketch", reason="datasketch is the reference MinHash")
    for a, b, exact in graded_pairs():
        theirs = []
        for shingle_set in (a, b):
            sketch = datasketch.MinHash(num_perm=NUM_PERM, seed=1)
            sketch.update_batch([h.to_bytes(8, "little") for h in np.unique(shingle_set).tolist()])
            theirs.append(sketch)
        their_estimate = theirs[0].jaccard(theirs[1])
        our_estimate = estimate_jaccard(signature(a, NUM_PERM), signature(b, NUM_PERM))
        combined_error = np.sqrt(2 * exact * (1 - exact) / NUM_PERM)
        assert abs(our_estimate - their_estimate) <= 3 * combined_error + 1e-9, (exact, our_estimate, their_estimate)


def test_signatures_are_deterministic_across_processes_and_depend_on_seed():
    text = real_code_files(1)[0]
    sig = text_signature(text)
    assert sig.dtype == np.uint32 and sig.shape == (NUM_PERM,)
    assert np.array_equal(sig, text_signature(text))
    assert np.array_equal(sig, signature(np.random.default_rng(0).permutation(shingle_hashes(text, 5))))
    code = (
        "import sys; from curation.dedup.minhash import text_signature; "
        "sys.stdout.write(text_signature(sys.stdin.read()).tobytes().hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=text, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""}, cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert out == sig.tobytes().hex()
    other_seed = text_signature(text, seed=2)
    assert estimate_jaccard(sig, other_seed) < 0.05


def test_empty_document_signature_is_marked_empty():
    assert is_empty_signature(signature(np.empty(0, dtype=np.uint64)))
    assert not is_empty_signature(text_signature("x = 1"))


# --- LSH, clustering, keep rule ---------------------------------------------------------------


def test_band_keys_collide_exactly_when_a_band_is_equal():
    sig = text_signature(real_code_files(1)[0])
    keys = band_keys(sig, 25, 10)
    assert keys.shape == (25,) and keys.dtype == np.uint64 and np.unique(keys).size == 25
    changed = sig.copy()
    changed[13] ^= 1  # band 1 holds values 10..19
    diff = np.flatnonzero(band_keys(changed, 25, 10) != keys)
    assert diff.tolist() == [1]
    with pytest.raises(ValueError, match="need 260"):
        band_keys(sig, 26, 10)


def test_clusters_near_duplicates_and_leaves_unrelated_code_alone():
    rng = random.Random(1)
    files = real_code_files(8)
    docs = files + [
        edit_lines(files[0], files[5], 0.05, rng),  # 8: near-copy of 0
        files[1].replace("    ", "\t"),  # 9: re-indented 1
        edit_lines(files[2], files[6], 0.6, rng),  # 10: heavily edited 2: not a duplicate
        "",  # 11: empty
        " ",  # 12: empty
    ]
    sigs = np.stack([text_signature(d) for d in docs])
    labels = near_duplicate_clusters(sigs, *derive_bands(0.7, NUM_PERM), threshold=0.7)
    groups = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(row)
    assert sorted(g for g in groups.values() if len(g) > 1) == [[0, 8], [1, 9]]
    members = [KeepCandidate(id=f"doc{row:02d}") for row in range(len(docs))]
    removed = removals(labels, members, sigs)
    assert [(r, k) for r, k, _ in removed] == [("doc08", "doc00"), ("doc09", "doc01")]
    assert removed[1][2] == 1.0 and 0.7 <= removed[0][2] < 1.0


def test_candidate_pairs_are_linear_in_bucket_size():
    keys = np.zeros((1000, 2), dtype=np.uint64)  # one huge bucket in both bands
    left, right = candidate_pairs(keys)
    assert left.size < 2000 and np.all(left < right)
    clusters = UnionFind(1000)
    clusters.union_pairs(left, right)
    assert np.unique(clusters.roots()).size == 1


def test_keep_rule_order():
    old, new = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=timezone.utc)
    gpl_popular = KeepCandidate("a", "copyleft", stars=10_000, date=new)
    unlicensed = KeepCandidate("b", "none", stars=1)
    mit_few = KeepCandidate("c", "permissive", stars=5, date=old)
    mit_many = KeepCandidate("d", "permissive", stars=50, date=old)
    mit_many_newer = KeepCandidate("e", "permissive", stars=50, date=new.timestamp())
    mit_unknown_stars = KeepCandidate("f", "permissive", date=new)
    mit_twin = KeepCandidate("0", "permissive", stars=50, date=new)
    assert choose_kept([gpl_popular, unlicensed]) == unlicensed
    assert choose_kept([unlicensed, mit_few]) == mit_few
    assert choose_kept([mit_few, mit_many, mit_unknown_stars]) == mit_many
    assert choose_kept([mit_many, mit_many_newer]) == mit_many_newer
    assert choose_kept([mit_many_newer, mit_twin]) == mit_twin  # all else equal: smaller id
    everyone = [gpl_popular, unlicensed, mit_few, mit_many, mit_many_newer, mit_unknown_stars, mit_twin]
    assert all(choose_kept(random.Random(s).sample(everyone, len(everyone))) == mit_twin for s in range(5))
    with pytest.raises(ValueError):
        choose_kept([])
