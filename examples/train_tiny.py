"""Train a tiny randomly initialized Llama-shaped model on a run's shards, on the CPU.

The point is the hand-off, not the model: batches come from `curation.loader.ShardLoader` exactly
as a trainer gets them, with per-document position ids, a per-document (block-diagonal causal)
attention mask built from cu_seqlens, and the loss mask applied to the targets, so padding and
the conversation turns a model does not say (tool responses) contribute nothing to the loss.
The vocabulary is the shards' tokenizer's (TeleChat3: 131,072 ids); the rest of the model is
kept tiny so a step takes about a second on two cores.

    python examples/train_tiny.py OUT/shards --steps 30 --save-at 15 --checkpoint ckpt.pt
    python examples/train_tiny.py OUT/shards --steps 30 --resume ckpt.pt   # continues at step 16
    python examples/train_tiny.py OUT/shards --start-sample 30               # data from sample 30 on

A checkpoint holds the model, the optimizer and the loader's state (one global sample index), so
a resumed run sees the same batches, and computes the same losses, as one that never stopped.
`--log FILE` writes one JSON line per step: step, loss, the batch's sample indices and a hash of
its tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from curation.loader import ShardLoader

# Tiny on purpose: the embedding (vocab x hidden) dominates; 32 wide keeps it at 4.2M parameters.
HIDDEN, LAYERS, HEADS, KV_HEADS, MLP = 32, 2, 4, 2, 64


def build_model(vocab_size: int, seq_len: int, *, pad_id: int, eos_id: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=MLP, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=seq_len,
                         tie_word_embeddings=True, pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=None)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config)


def block_causal_mask(cu_seqlens: list[torch.Tensor], seq_len: int) -> torch.Tensor:
    """[B, 1, L, L] bool: token i sees token j iff j <= i and both are in the same segment."""
    masks = []
    for cu in cu_seqlens:
        segment = torch.repeat_interleave(torch.arange(len(cu) - 1), torch.diff(cu.long()))
        same = segment[:, None] == segment[None, :]
        masks.append(same & torch.ones(seq_len, seq_len, dtype=torch.bool).tril())
    return torch.stack(masks)[:, None]


def masked_loss(model, batch: dict, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token cross entropy over the targets whose loss mask is 1.

    Position t predicts token t+1 and counts with weight loss_mask[t+1]: the mask says which
    tokens the model is trained to produce. `labels` (default: input_ids) lets a check swap the
    targets without touching the inputs."""
    input_ids = batch["input_ids"]
    labels = input_ids if labels is None else labels
    mask = block_causal_mask(batch["cu_seqlens"], input_ids.shape[1])
    logits = model(input_ids=input_ids, position_ids=batch["position_ids"], attention_mask=mask).logits
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                         reduction="none")
    weight = batch["loss_mask"][:, 1:].reshape(-1).float()
    return (ce * weight).sum() / weight.sum().clamp(min=1.0)


def batches(loader: ShardLoader):
    """Batches forever: a new epoch starts at sample 0 when the shards run out."""
    while True:
        for batch in loader:
            yield batch
        loader.load_state_dict({"next_sample": 0})


def train(shards: Path, *, steps: int, batch_size: int, lr: float, seed: int = 0, start_sample: int = 0,
          save_at: int | None = None, checkpoint: Path | None = None, resume: Path | None = None,
          log=None) -> list[float]:
    torch.manual_seed(seed)
    loader = ShardLoader(shards, batch_size=batch_size, return_tensors="pt", drop_last=True, start_sample=start_sample)
    tok = loader.index["tokenizer"]
    model = build_model(int(tok["vocab_size"]), loader.seq_len, pad_id=int(tok["pad_id"]), eos_id=int(tok["eos_id"]),
                        seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    step = 0
    if resume is not None:
        state = torch.load(resume, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["loader"])
        step = state["step"]
        print(f"resumed at step {step}, next sample {state['loader']['next_sample']}")
    model.train()
    losses = []
    stream = batches(loader)
    while step < steps:
        batch = next(stream)
        step += 1
        loss = masked_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        samples = batch["sample_index"].tolist()
        print(f"step {step} loss {loss.item():.4f} samples {samples}", flush=True)
        if log is not None:
            digest = hashlib.sha1(batch["input_ids"].numpy().tobytes()).hexdigest()
            log.write(json.dumps({"step": step, "loss": loss.item(), "samples": samples, "tokens_sha1": digest}) + "\n")
            log.flush()
        if save_at is not None and step == save_at:
            if checkpoint is None:
                raise ValueError("--save-at needs --checkpoint")
            tmp = checkpoint.with_name(checkpoint.name + ".tmp")
            torch.save({"step": step, "loader": loader.state_dict(), "model": model.state_dict(),
                        "optimizer": optimizer.state_dict()}, tmp)
            tmp.replace(checkpoint)
            print(f"saved {checkpoint} at step {step}, next sample {loader.state_dict()['next_sample']}")
    return losses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", type=Path, help="OUT/shards of a run")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-sample", type=int, default=0, help="the global sample index to start reading at")
    p.add_argument("--save-at", type=int, help="save a checkpoint after this step")
    p.add_argument("--checkpoint", type=Path, help="where --save-at writes")
    p.add_argument("--resume", type=Path, help="a checkpoint to continue from")
    p.add_argument("--log", type=Path, help="JSON lines, one per step")
    args = p.parse_args(argv)
    log = open(args.log, "a", encoding="utf-8") if args.log else None
    try:
        losses = train(args.shards, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       start_sample=args.start_sample, save_at=args.save_at, checkpoint=args.checkpoint, resume=args.resume, log=log)
    finally:
        if log is not None:
            log.close()
    if losses:
        print(f"loss: first {losses[0]:.4f}, last {losses[-1]:.4f} over {len(losses)} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
