"""Megatron indexed datasets (.bin + .idx) written with megatron-core's own IndexedDatasetBuilder.

TO/
  sources/<name>.bin/.idx   one per plan source: every document once, as Megatron's
                            tools/preprocess_data.py --append-eod writes it (the ids, then EOD as
                            the document's last token; one sequence per document)
  sources/<name>.docs.parquet   sequence i -> document id, to trace a token back to its file
  packed/rows.bin/.idx      one sequence (and document) per shard row: exactly seq_len tokens
  packed/rows_loss_mask.*   int8 sidecar: the shard's loss mask, row for row (Megatron's GPTDataset
                            derives its loss mask from EOD / pad ids and reads no per-token mask)
  packed/rows_cu_seqlens.*  int32 sidecar: the shard's segment boundaries, row for row
  blend.json                weights per source, planned and Megatron-realized shares, arguments
  data_args.txt             the `--data-path w1 p1 w2 p2 ...` line for Megatron-LM / NeMo

Blend weights. Megatron's BlendedDataset draws samples of `--seq-length` tokens, each from one
dataset, giving every position to the dataset furthest below its weight: sample shares equal the
normalized weights (to one sample), and every sample is seq_length tokens, so token shares do too.
A GPTDataset asked for more samples than one pass holds builds more epochs (each reshuffled; a
small last epoch is shuffled apart, so the first floor(e) passes are whole): the plan's epochs
per source come out of the weights alone. So each weight is the plan's target tokens over the
plan total, and `--train-samples` = ceil(total / seq_len) asks for the plan's budget (Megatron
rounds each dataset's part up, so its blend holds up to one sample per source more). blend.json
records that size and the shares Megatron's own blending index (helpers.build_blending_indices)
gives the weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from curation.export.contract import (
    ShardReader,
    iter_source_documents,
    read_plan,
    source_fingerprint,
)
from curation.export.outputs import (
    MARKER_SUFFIX,
    OutputGroup,
    write_json_atomic,
    write_text_atomic,
)

PACKED_PREFIX = "packed/rows"


def dataset_name(source: str) -> str:
    """A file name for a plan source: `code:python` -> `code-python`, `code:*` -> `code-rest`."""
    base, _, lang = source.partition(":")
    name = base if not lang else f"{base}-{'rest' if lang == '*' else lang}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def _files(prefix: Path, sidecars: tuple[str, ...] = ()) -> list[Path]:
    files = [prefix.with_name(prefix.name + ".bin"), prefix.with_name(prefix.name + ".idx")]
    for side in sidecars:
        files += [prefix.with_name(f"{prefix.name}_{side}.bin"), prefix.with_name(f"{prefix.name}_{side}.idx")]
    return files


def _builder(path: Path, dtype):
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    return IndexedDatasetBuilder(str(path), dtype=dtype)


def token_dtype(vocab_size: int):
    from megatron.core.datasets.indexed_dataset import DType

    return DType.optimal_dtype(vocab_size)  # int32 for TeleChat3's 131072 ids; uint16 below 65500


def write_source_dataset(tokens_dir: Path, source: str, prefix: Path, *, plan, vocab_size: int, eos_id: int,
                         log: Callable[[str], None]) -> dict[str, Any]:
    """One plan source as a Megatron dataset; skipped when a verified earlier export is in place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = pq.ParquetFile(next(iter(sorted((tokens_dir / source.partition(":")[0]).glob("*.parquet"))))).schema_arrow
    masked = "loss_mask" in first.names
    docs_path = prefix.with_name(prefix.name + ".docs.parquet")
    files = _files(prefix, ("loss_mask",) if masked else ()) + [docs_path]
    inputs = {"source": source, "tokens": source_fingerprint(tokens_dir, source), "eos_id": eos_id,
              "available_tokens": plan.source(source).available_tokens}
    group = OutputGroup(prefix.with_name(prefix.name + MARKER_SUFFIX), files, inputs)
    if group.is_done():
        log(f"  {source}: done earlier, verified ({files[0].name}, {files[1].name})")
        return {"skipped": True}
    with group:
        tokens = _builder(group.tmp(files[0]), token_dtype(vocab_size))
        masks = _builder(group.tmp(files[2]), np.int8) if masked else None
        doc_ids: list[str] = []
        for doc in iter_source_documents(tokens_dir, source, plan=plan, vocab_size=vocab_size):
            # preprocess_data.py --append-eod: EOD closes the document's (only) sequence.
            tokens.add_document(np.append(doc.ids, np.int32(eos_id)), [doc.ids.size + 1])
            if masks is not None:
                # A document without a mask is trained on whole; the EOD is trained on like the packer's.
                mask = doc.loss_mask if doc.loss_mask is not None else np.ones(doc.ids.size, np.int8)
                masks.add_document(np.append(mask, np.int8(1)), [doc.ids.size + 1])
            doc_ids.append(doc.doc_id)
        tokens.finalize(str(group.tmp(files[1])))
        if masks is not None:
            masks.finalize(str(group.tmp(files[3])))
        pq.write_table(pa.table({"id": pa.array(doc_ids, pa.string())}), group.tmp(docs_path))
    log(f"  {source}: {len(doc_ids)} documents -> {files[0]}")
    return {"skipped": False, "documents": len(doc_ids)}


def write_packed(reader: ShardReader, prefix: Path, *, log: Callable[[str], None]) -> dict[str, Any]:
    """The shard rows, one sequence each, with the loss mask and cu_seqlens as sidecar datasets."""
    files = _files(prefix, ("loss_mask", "cu_seqlens"))
    group = OutputGroup(prefix.with_name(prefix.name + MARKER_SUFFIX), files, reader.fingerprint())
    if group.is_done():
        log(f"  packed: done earlier, verified ({files[0].name})")
        return {"skipped": True, "rows": reader.rows}
    with group:
        tokens = _builder(group.tmp(files[0]), token_dtype(reader.vocab_size))
        masks = _builder(group.tmp(files[2]), np.int8)
        bounds = _builder(group.tmp(files[4]), np.int32)
        rows = 0
        for row in reader:
            tokens.add_document(row.input_ids, [reader.seq_len])
            masks.add_document(row.loss_mask, [reader.seq_len])
            bounds.add_document(row.cu_seqlens, [row.cu_seqlens.size])
            rows += 1
        for builder, idx in ((tokens, files[1]), (masks, files[3]), (bounds, files[5])):
            builder.finalize(str(group.tmp(idx)))
    log(f"  packed: {rows} rows of {reader.seq_len} -> {files[0]}")
    return {"skipped": False, "rows": rows}


def megatron_blend(weights: list[float], train_samples: int) -> tuple[int, list[float]]:
    """What Megatron's BlendedDataset makes of these weights for `--train-samples`: its size
    (the sum of each dataset's ceil(weight * samples)) and the share of samples each dataset gets,
    from megatron-core's own functions."""
    from megatron.core.datasets import helpers
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        _get_size_per_split_per_dataset,
    )

    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    size = sum(per_split[0] for per_split in _get_size_per_split_per_dataset(w.tolist(), [train_samples]))
    dataset_index = np.zeros(size, dtype=np.int16)
    dataset_sample_index = np.zeros(size, dtype=np.int64)
    helpers.build_blending_indices(dataset_index, dataset_sample_index, w, len(w), size, False)
    return size, (np.bincount(dataset_index, minlength=len(w)) / size).tolist()


def blend(plan, index: dict[str, Any], to: Path, names: dict[str, str]) -> dict[str, Any]:
    seq_len = int(index["seq_len"])
    active = [s for s in plan.sources if s.target_tokens > 0]
    total = sum(s.target_tokens for s in active)
    train_samples = math.ceil(total / seq_len)
    weights = [s.target_tokens / total for s in active]
    realized_total = sum(index["realized"].values())
    megatron_samples, megatron = megatron_blend(weights, train_samples)
    sources = []
    for s, w, m in zip(active, weights, megatron):
        sources.append({
            "source": s.source, "prefix": f"sources/{names[s.source]}", "weight": round(w, 8),
            "planned_share": s.share, "megatron_share": m,
            "shards_share": index["realized"].get(s.source, 0) / realized_total if realized_total else 0.0,
            "target_tokens": s.target_tokens, "available_tokens": s.available_tokens,
            "available_documents": s.available_documents, "epochs": s.epochs,
        })
    data_path = " ".join(f"{x['weight']:.8f} {to / x['prefix']}" for x in sources)
    return {
        "seq_len": seq_len, "tokenizer": index["tokenizer"], "plan_total_tokens": total, "train_samples": train_samples,
        "megatron_samples": megatron_samples,
        "sources": sources,
        "megatron_args": f"--data-path {data_path} --train-samples {train_samples} {common_args(index)}",
        "packed": packed_entry(index, to),
    }


def common_args(index: dict[str, Any]) -> str:
    tok = index["tokenizer"]
    return (f"--seq-length {index['seq_len']} --split 100,0,0 --vocab-size {tok['vocab_size']} "
            f"--tokenizer-type HuggingFaceTokenizer --tokenizer-model {tok['name']}")


def packed_entry(index: dict[str, Any], to: Path) -> dict[str, Any]:
    return {
        "prefix": PACKED_PREFIX, "rows": index["totals"]["rows"],
        "loss_mask": f"{PACKED_PREFIX}_loss_mask", "cu_seqlens": f"{PACKED_PREFIX}_cu_seqlens",
        # Every row is one document of exactly seq_len tokens, so GPTDataset's samples start at
        # row starts: sample tokens == a shard row. EOD-based resets give the rows' documents
        # (each segment but a split document's head ends with EOD).
        "megatron_args": f"--data-path {to / PACKED_PREFIX} --train-samples {index['totals']['rows']} "
                         f"{common_args(index)} --reset-position-ids --reset-attention-mask",
    }


def export_megatron(out: Path, to: Path, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Writes TO/ (see the module doc) from the run folder OUT; returns blend.json's content.

    A run packed with `pack.method: concat` has no mixture plan: it gets the packed variant only."""
    out, to = Path(out), Path(to)
    reader = ShardReader(out / "shards")
    plan = read_plan(out) if (out / "plan.json").is_file() else None
    log(f"megatron export of {out} -> {to}")
    names = {}
    if plan is None:
        log("  no plan.json (a concat-packed run): the packed variant only, no per-source blend")
    else:
        names = {s.source: dataset_name(s.source) for s in plan.sources if s.target_tokens > 0}
        if len(set(names.values())) != len(names):
            raise ValueError(f"two sources map to one file name: {names}")
        for source, name in names.items():
            write_source_dataset(out / "tokens", source, to / "sources" / name, plan=plan,
                                 vocab_size=reader.vocab_size, eos_id=reader.eos_id, log=log)
    write_packed(reader, to / PACKED_PREFIX, log=log)
    result = blend(plan, reader.index, to, names) if plan else {"seq_len": reader.seq_len, "sources": [],
                                                                 "packed": packed_entry(reader.index, to)}
    write_json_atomic(to / "blend.json", result)
    write_text_atomic(to / "data_args.txt", result.get("megatron_args", result["packed"]["megatron_args"]) + "\n")
    for s in result["sources"]:
        log(f"  {s['source']}: weight {s['weight']:.6f}, planned {s['planned_share']:.4f}, "
            f"Megatron {s['megatron_share']:.4f}, epochs {s['epochs']:.2f}")
    return result
