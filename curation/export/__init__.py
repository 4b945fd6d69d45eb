"""Hand-off to trainers: the run's tokens and shards in the formats other trainers read.

- `megatron`: megatron-core indexed datasets (.bin + .idx) written with megatron-core's own
  `IndexedDatasetBuilder`: one per source (documents + EOS) with the blend weights that reproduce
  the mixture plan, and a packed variant whose sequences are exactly the shard rows.
- `mindrecord`: the shard rows as MindRecord, written with MindSpore's own `FileWriter`, in the
  columns MindFormers' pretraining dataset reads.

Both read their input through `contract` (the shard contract and the token files, checked on the
way) and write through `outputs` (temp + rename, and a re-run skips what is verified finished).
"""

from curation.export.contract import ExportError

__all__ = ["ExportError"]
