"""Code-related text recall: seed -> train -> recall -> retrain (DeepSeek-Coder, OpenCoder).

    round 0   positives: the seeds (documentation known to be about code)
              negatives: a random sample of the pool (general text, mostly not about code)
              train a fastText classifier; score the pool; recalled: P(code_related) >= threshold
    round k   positives: seeds + what round k-1 recalled; negatives: a sample of the pool it did
              not recall; train, score, recall again

The papers put a human check between rounds (OpenCoder annotates the domains that recall
grows on); here each round's recalled set is written to `round<k>.recalled.jsonl` for that check.
When the pool carries true labels (a benchmark), each round also reports precision and recall
of the recalled set against them.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from curation.quality.fasttext_train import LabelledDoc, predict_proba, train_classifier


@dataclass
class RoundReport:
    round: int
    positives: int
    negatives: int
    recalled: int
    pool: int
    held_out_f1: float
    model: str
    recalled_file: str
    precision: float | None = None  # of the recalled set, when the pool has true labels
    recall: float | None = None


def recall_loop(seeds: list[LabelledDoc], pool: list[LabelledDoc], out_dir: str | Path, *, rounds: int = 2,
                threshold: float = 0.5, positive: str = "code_related", negative: str = "general",
                truth_labelled: bool = False, seed: int = 0, **train_kwargs) -> list[RoundReport]:
    """Run the loop; `truth_labelled`: pool documents carry their true label (for measuring)."""
    if not seeds or not pool:
        raise ValueError(f"need seeds and a pool (got {len(seeds)} seeds, {len(pool)} pool documents)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    recalled_idx: set[int] = set()
    reports = []
    for k in range(rounds):
        positives = [LabelledDoc(d.text, positive, d.group) for d in seeds]
        positives += [LabelledDoc(pool[i].text, positive, pool[i].group) for i in sorted(recalled_idx)]
        rest = [i for i in range(len(pool)) if i not in recalled_idx]
        sample = rng.sample(rest, min(len(rest), len(positives)))
        negatives = [LabelledDoc(pool[i].text, negative, pool[i].group) for i in sample]
        model_path = out / f"round{k}.bin"
        model, report = train_classifier(positives + negatives, positive=positive, seed=seed, model_path=model_path,
                                         **train_kwargs)
        scores = predict_proba(model, [d.text for d in pool], positive)
        recalled_idx = {i for i, p in enumerate(scores) if p >= threshold}
        recalled_file = out / f"round{k}.recalled.jsonl"
        with open(recalled_file, "w", encoding="utf-8") as f:
            for i in sorted(recalled_idx):
                f.write(json.dumps({"group": pool[i].group, "score": round(scores[i], 6), "text": pool[i].text}) + "\n")
        r = RoundReport(round=k, positives=len(positives), negatives=len(negatives), recalled=len(recalled_idx),
                        pool=len(pool), held_out_f1=report.f1, model=str(model_path), recalled_file=str(recalled_file))
        if truth_labelled:
            true_pos = {i for i, d in enumerate(pool) if d.label == positive}
            hit = len(true_pos & recalled_idx)
            r.precision = hit / len(recalled_idx) if recalled_idx else 0.0
            r.recall = hit / len(true_pos) if true_pos else 0.0
        reports.append(r)
    (out / "recall_report.json").write_text(json.dumps([asdict(r) for r in reports], indent=2))
    return reports
