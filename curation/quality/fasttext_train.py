"""Train a fastText supervised classifier from labelled documents; report held-out metrics.

Determinism, measured with fasttext-numpy2 0.10.4 (2026-11): with `thread=1` and a fixed `seed`
ten trainings gave byte-identical models; with `thread=2` four trainings gave four different
models (Hogwild updates race). With `wordNgrams=1` and no character n-grams (fastText then sets
`bucket=0`) six of ten trainings failed with "Encountered NaN" and the other four gave two
different models: uninitialised memory in that build's bucket-free path. So training always runs
with one thread, and `wordNgrams >= 2` (or character n-grams) is required.

Uninitialised memory, the general case: that build keeps matrices in `posix_memalign` buffers, and
with one thread its random initialisation fills only the first tenth of the input matrix (upstream
fastText leaves the rest at the zeros of a `std::vector`). The other nine tenths are whatever the
allocator hands out: zeros when the pages are fresh, old bytes when the process has freed memory
before. In CI, a long test process gave "Encountered NaN" at every learning rate; a process whose
heap holds freed 0xFF bytes fails the same way every time (tests/test_quality.py). So each training
runs in a fresh child process with `MALLOC_MMAP_THRESHOLD_` fixed: the input matrix is mapped
fresh, zeroed pages, and the model depends on the data and the parameters only.

The held-out split is by `group` (the source file), stratified by label: the chunks of one file
never land on both sides, which would let the classifier recognise a file instead of a class.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from curation.io import atomic_path

LABEL_PREFIX = "__label__"
# Punctuation split off words: `foo()` and `foo` then share a token, which matters for the
# identifier-heavy text of documentation.
_TOKEN = re.compile(r"\w+|[^\w\s]")
# fastText cost is linear in tokens; past this many characters a document's class is settled.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class LabelledDoc:
    text: str
    label: str
    group: str = ""  # documents of one group (file, site) stay on one side of the split


@dataclass
class TrainParams:
    seed: int = 0
    test_fraction: float = 0.2
    epochs: int = 10
    lr: float = 0.5
    wordNgrams: int = 2
    dim: int = 64
    minCount: int = 2
    bucket: int = 200_000  # hash buckets x dim x 4 bytes: 51 MB at dim 64


@dataclass
class TrainReport:
    labels: list[str]
    positive: str
    counts: dict[str, dict[str, int]]  # split -> label -> documents
    params: dict
    metrics: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: dict[str, dict[str, int]]  # true label -> predicted label -> documents
    accuracy: float
    model_sha256: str = ""
    version: int = 1  # the N of score_<name>_v<N>: bump it when the data or parameters change
    notes: list[str] = field(default_factory=list)

    @property
    def f1(self) -> float:
        return self.metrics[self.positive]["f1"]

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"f1": self.f1}, indent=2, sort_keys=True)

    def summary(self) -> str:
        rows = [f"{'label':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for label in self.labels:
            m = self.metrics[label]
            rows.append(f"{label:<24}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{int(m['support']):>10}")
        rows.append(f"accuracy {self.accuracy:.4f}   positive label {self.positive!r}: F1 {self.f1:.4f}")
        rows.append("confusion (rows: true, columns: predicted)")
        rows.append(" " * 24 + "".join(f"{p[:12]:>14}" for p in self.labels))
        for t in self.labels:
            rows.append(f"{t:<24}" + "".join(f"{self.confusion[t][p]:>14}" for p in self.labels))
        return "\n".join(rows)


def preprocess(text: str, max_chars: int = MAX_CHARS) -> str:
    """One document as one fastText line: lowercase, punctuation split off, whitespace (newlines
    included) collapsed to single spaces. The scorer applies the same function, so training and
    scoring see the same tokens."""
    return " ".join(_TOKEN.findall(text[:max_chars].lower()))


def split_groups(docs: list[LabelledDoc], test_fraction: float, seed: int) -> tuple[list[LabelledDoc], list[LabelledDoc]]:
    """Group-wise, per-label split: about `test_fraction` of each label's groups go to test."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    by_label: dict[str, dict[str, list[LabelledDoc]]] = defaultdict(lambda: defaultdict(list))
    for i, d in enumerate(docs):
        by_label[d.label][d.group or f"#{i}"].append(d)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        groups = sorted(by_label[label])
        rng.shuffle(groups)
        n_test = max(1, round(len(groups) * test_fraction)) if len(groups) > 1 else 0
        for k, g in enumerate(groups):
            (test if k < n_test else train).extend(by_label[label][g])
    return train, test


def _write_lines(docs: Iterable[LabelledDoc], path: Path, rng: random.Random) -> int:
    lines = [f"{LABEL_PREFIX}{d.label} {preprocess(d.text)}" for d in docs]
    lines = [ln for ln in lines if " " in ln]  # a document without tokens teaches nothing
    rng.shuffle(lines)  # fastText reads in file order; sorted-by-label input would bias the last epoch
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def _check_params(p: TrainParams) -> None:
    if p.wordNgrams < 2:
        raise ValueError("wordNgrams must be >= 2: with wordNgrams=1 fastText trains without hash buckets, "
                         "and that path of fasttext-numpy2 fails at random with 'Encountered NaN' "
                         "(see curation/quality/fasttext_train.py)")


NAN_RETRIES = 3
# The child process of one training: no state from the caller's process, the model saved to a file.
_CHILD = """
import json, sys
import fasttext
kw = json.loads(sys.argv[1])
output = kw.pop("output")
fasttext.train_supervised(**kw).save_model(output)
"""


def _fit_in_child(train_file: Path, p: TrainParams, lr: float, model_file: Path) -> None:
    """One fastText training in a fresh Python process (see the module docstring: why). A failure
    raises RuntimeError with the child's last stderr line: fastText's own error ("RuntimeError:
    Encountered NaN.") or Python's."""
    kw = dict(input=str(train_file), output=str(model_file), seed=p.seed, thread=1, epoch=p.epochs, lr=lr,
              wordNgrams=p.wordNgrams, dim=p.dim, minCount=p.minCount, bucket=p.bucket, loss="softmax", verbose=0)
    # A fixed threshold: every buffer of 128 KiB or more is a fresh mapping, zero-filled by the kernel
    # (and mappings allowed, whatever the caller's environment says).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 << 10), "MALLOC_MMAP_MAX_": "65536"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(kw)], env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not model_file.is_file():
        lines = proc.stderr.strip().splitlines()
        raise RuntimeError(f"fastText training on {train_file} failed (exit {proc.returncode}): "
                           f"{lines[-1] if lines else 'no output'}")


def _train_supervised(train_file: Path, p: TrainParams, fit=_fit_in_child):
    """Train (in a child process) and load the model. If SGD diverges ("Encountered NaN"; fastText's
    FAQ: the learning rate is too high for the data), train again at half the learning rate, up to
    NAN_RETRIES times, with a warning; the lr that trained the model is the one the report records."""
    import fasttext

    lr = p.lr
    for attempt in range(NAN_RETRIES + 1):
        model_file = train_file.with_name(f"model-{attempt}.bin")
        try:
            fit(train_file, p, lr, model_file)
            return fasttext.load_model(str(model_file)), lr
        except RuntimeError as err:
            if "NaN" not in str(err) or attempt == NAN_RETRIES:
                raise
            warnings.warn(f"fastText diverged at lr {lr} ({err}); training again at lr {lr / 2}", stacklevel=2)
            lr /= 2
    raise AssertionError("unreachable")


def train_classifier(docs: Iterable[LabelledDoc], *, positive: str, seed: int = 0, test_fraction: float = 0.2,
                     epochs: int = 10, lr: float = 0.5, wordNgrams: int = 2, dim: int = 64, minCount: int = 2,
                     model_path: str | Path | None = None, version: int = 1) -> tuple[object, TrainReport]:
    """Split, train on the training side, evaluate on the held-out side.

    Returns (fasttext model, report). With `model_path`, the model is saved there (atomically)
    together with `<model_path>.json`: the report plus what the scorer needs (labels, positive).
    """
    params = TrainParams(seed=seed, test_fraction=test_fraction, epochs=epochs, lr=lr,
                         wordNgrams=wordNgrams, dim=dim, minCount=minCount)
    _check_params(params)
    docs = _dedupe(docs)
    labels = sorted({d.label for d in docs})
    if len(labels) < 2:
        raise ValueError(f"need documents of at least two labels, got {labels or 'none'}")
    if positive not in labels:
        raise ValueError(f"positive label {positive!r} is not among the labels {labels}")
    train, test = split_groups(docs, test_fraction, seed)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="curate-ft-") as tmp:
        train_file = Path(tmp) / "train.txt"
        _write_lines(train, train_file, rng)
        model, params.lr = _train_supervised(train_file, params)
    report = evaluate(model, test, labels=labels, positive=positive)
    report.params = asdict(params)
    report.counts = {"train": _count(train, labels), "test": _count(test, labels)}
    report.version = version
    if model_path is not None:
        report.model_sha256 = save_model(model, model_path, report)
    return model, report


def predict_proba(model, texts: list[str], positive: str) -> list[float]:
    """P(positive) for each text (binary or multi-class softmax)."""
    lines = [preprocess(t) for t in texts]
    k = len(model.get_labels())
    out = []
    labels_list, probs_list = model.predict(lines, k=k)
    target = LABEL_PREFIX + positive
    for labs, probs in zip(labels_list, probs_list):
        out.append(next((float(min(p, 1.0)) for lab, p in zip(labs, probs) if lab == target), 0.0))
    return out


def evaluate(model, test: list[LabelledDoc], *, labels: list[str], positive: str) -> TrainReport:
    confusion = {t: {p: 0 for p in labels} for t in labels}
    if test:
        predicted, _ = model.predict([preprocess(d.text) for d in test], k=1)
        for d, pred in zip(test, predicted):
            label = pred[0][len(LABEL_PREFIX):] if pred else labels[0]
            confusion[d.label][label] += 1
    metrics = {}
    for label in labels:
        tp = confusion[label][label]
        fp = sum(confusion[t][label] for t in labels if t != label)
        fn = sum(confusion[label][p] for p in labels if p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics[label] = {"precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn)}
    correct = sum(confusion[t][t] for t in labels)
    return TrainReport(labels=labels, positive=positive, counts={}, params={}, metrics=metrics,
                       confusion=confusion, accuracy=correct / len(test) if test else 0.0)


def save_model(model, path: str | Path, report: TrainReport) -> str:
    """Write the model and its sidecar `<path>.json` atomically; returns the model's sha256."""
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save_model(str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    report.model_sha256 = digest
    with atomic_path(sidecar_path(path)) as tmp:
        tmp.write_text(report.to_json())
    return digest


def sidecar_path(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def _dedupe(docs: Iterable[LabelledDoc]) -> list[LabelledDoc]:
    """Identical texts once (first label wins): a copy on both sides of the split inflates F1."""
    seen, out = set(), []
    for d in docs:
        key = hashlib.sha1(preprocess(d.text).encode()).digest()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _count(docs: list[LabelledDoc], labels: list[str]) -> dict[str, int]:
    return {label: sum(1 for d in docs if d.label == label) for label in labels}
