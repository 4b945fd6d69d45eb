"""SWE task mining throughput on the largest shared history, with the time split.

    nice python benchmarks/bench_swe.py [--bundle ../shared/git/sirupsen+logrus.bundle] [--context 32768]

One process (so figures are per core), the whole first-parent history of HEAD:
  mine        curation.swe.history.HistoryMiner: every commit decided, every task built
              (statement, context by import graph within the budget, patch / test_patch);
              its own split: git (log, diff-tree --stdin, cat-file --batch), parsing
              (tree-sitter imports), resolving (import resolution), tokenizing (token counts for
              the budget, per distinct line: curation.swe.tokens)
  reference   tokenizing: the same mining counting whole texts instead of distinct lines (the
              outcomes and every count must be equal);
              git: the same git reads done the obvious way, one process per question, for the
              tasks that were emitted: `git diff-tree -p` per commit, `git ls-tree -r` per
              parent, `git show parent:path` per context file. Same bytes out (checked).
  render      the tokenize step's work on the emitted tasks: task_token_ids per document
Ratios are against the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUNDLES = ROOT.parent / "shared" / "git"


def largest_bundle() -> Path:
    bundles = sorted(BUNDLES.glob("*.bundle"), key=lambda p: p.stat().st_size)
    if not bundles:
        raise SystemExit(f"no bundles in {BUNDLES}")
    return bundles[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="a git bundle (default: the largest in ../shared/git)")
    parser.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "telechat3"))
    parser.add_argument("--context", type=int, default=32768)
    args = parser.parse_args(argv)

    from curation.config.swe import GitHistoryInput
    from curation.swe.history import HistoryMiner, Task
    from curation.swe.render import (
        SweMarkerPieces,
        TaskFields,
        resolve_markers,
        task_token_ids,
    )
    from curation.tokenize.tokenizer import load_tokenizer

    bundle = Path(args.bundle) if args.bundle else largest_bundle()
    tok = load_tokenizer(args.tokenizer)
    markers = resolve_markers(tok, SweMarkerPieces())
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / bundle.stem
        subprocess.run(["git", "clone", "-q", str(bundle), str(repo)], check=True)
        cfg = GitHistoryInput(kind="git_history", paths=[str(repo)], context=args.context)
        start = time.perf_counter()
        with HistoryMiner(repo, name=bundle.stem, config=cfg, tokenizer=tok, markers=markers,
                          max_tokens=cfg.max_tokens(args.context)) as miner:
            outcomes = list(miner.mine())
            split = dict(miner.timings.seconds)
        mine_s = time.perf_counter() - start
        tasks = [o for o in outcomes if isinstance(o, Task)]

        # the same mining with whole-text token counts: same outcomes, exact counts, its tokenizing time
        with HistoryMiner(repo, name=bundle.stem, config=cfg, tokenizer=tok, markers=markers,
                          max_tokens=cfg.max_tokens(args.context)) as miner:
            miner.cache.counter.by_line = False
            whole = list(miner.mine())
            whole_tokenizing = miner.timings.seconds["tokenizing"]
        assert [(o.id, getattr(o, "n_tokens", o)) for o in whole] == \
            [(o.id, getattr(o, "n_tokens", o)) for o in outcomes], "per-line counts differ from whole-text counts"
        reasons = Counter(o.reason for o in outcomes if not isinstance(o, Task))

        start = time.perf_counter()
        for task in tasks:
            ref = reference_reads(repo, task)
            assert ref == (task.patch, task.test_patch, task.context), task.id
        ref_s = time.perf_counter() - start

        start = time.perf_counter()
        n_ids = sum(len(task_token_ids(TaskFields(t.repo, t.statement, t.files, t.context, t.patch, t.test_patch),
                                       tok, markers)) for t in tasks)
        render_s = time.perf_counter() - start

    n = len(outcomes)
    other = mine_s - sum(split.values())
    print(f"repository        {bundle.stem}: {n} first-parent commits, {len(tasks)} tasks, "
          f"context {args.context}")
    print(f"mine              {mine_s:7.2f} s   {len(tasks) / mine_s:7.1f} tasks/s   {n / mine_s:7.1f} commits/s")
    for what in ("git", "parsing", "resolving", "tokenizing"):
        print(f"  {what:<14}  {split.get(what, 0.0):7.2f} s   {split.get(what, 0.0) / mine_s:6.1%}")
    print(f"  {'rules, rest':<14}  {other:7.2f} s   {other / mine_s:6.1%}")
    print(f"reference tokens  {whole_tokenizing:7.2f} s   (whole-text counts, same outcomes)   per-line/whole: "
          f"{split.get('tokenizing', 0.0) / whole_tokenizing:.3f}")
    print(f"reference git     {ref_s:7.2f} s   (per-file processes, emitted tasks only)   "
          f"ours/reference git time: {split.get('git', 0.0) / ref_s:.3f} "
          f"({ref_s / max(split.get('git', 1e-9), 1e-9):.1f}x faster)")
    print(f"render (tokenize) {render_s:7.2f} s   {n_ids / render_s / 1e3:7.1f} K ids/s   "
          f"{len(tasks) / render_s:7.1f} tasks/s   mean {n_ids / max(len(tasks), 1):.0f} ids/task")
    print("skips             " + ", ".join(f"{r} {c}" for r, c in reasons.most_common()))
    return 0


def reference_reads(repo: Path, task) -> tuple[str, str, list[str]]:
    """What the miner reads for one task, one git process per question."""
    from curation.swe.patches import split_tests

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout

    diff = git("diff-tree", "-p", "--no-renames", "--full-index", task.base_commit, task.commit).decode()
    git("ls-tree", "-r", "-z", task.base_commit)
    contents = [git("show", f"{task.base_commit}:{path}").decode() for path in task.files]
    return (*split_tests(diff), contents)


if __name__ == "__main__":
    raise SystemExit(main())
