"""Trajectory rendering (chat layout by id + loss mask) against plain tokenization of the same text.

    python benchmarks/bench_agent.py [--tokenizer DIR] [--repeat N]

Over the shared SWE-agent trajectories (../shared/agent/swe-agent): the reference is
`encode_batch` of every message text as one plain document each (what tokenizing the same
content costs anyway); the candidate is ChatRenderer.render_batch (segments, continuation
encoding, structural ids, masks). Both in this run, same texts, 1 thread; reported as MB/s of
message text and the ratio candidate / reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.agent.render import ChatRenderer  # noqa: E402
from curation.agent.swe_agent import parse_traj_file  # noqa: E402
from curation.tokenize.tokenizer import load_tokenizer  # noqa: E402

SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default=str(SHARED / "tokenizers" / "telechat3"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer)
    convs = [parse_traj_file(p) for p in sorted((SHARED / "agent" / "swe-agent").glob("*.traj"))]
    texts = [t for c in convs for m in c.messages for t in (m.content, m.reasoning, *(x.arguments for x in m.tool_calls)) if t]
    mb = sum(len(t.encode()) for t in texts) / 2**20
    renderer = ChatRenderer(tok)

    def best(fn) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    ref = best(lambda: tok.encode_batch(texts))
    cand = best(lambda: renderer.render_batch(convs))
    rendered = renderer.render_batch(convs)
    tokens = sum(len(r.ids) for r in rendered)
    trained = sum(sum(r.mask) for r in rendered)
    print(f"{len(convs)} trajectories, {mb:.2f} MB of message text, {tokens} tokens, {trained / tokens:.1%} in the loss")
    print(f"plain encode_batch : {mb / ref:6.2f} MB/s")
    print(f"render_batch       : {mb / cand:6.2f} MB/s  ({ref / cand:.2f}x of plain)")


if __name__ == "__main__":
    main()
