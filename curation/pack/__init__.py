"""Packing tokenized documents into fixed-length rows and writing them as Parquet shards."""

from curation.pack.packer import ConcatPacker, PackedRow
from curation.pack.shards import ShardWriter, read_shard_docs

__all__ = ["ConcatPacker", "PackedRow", "ShardWriter", "read_shard_docs"]
