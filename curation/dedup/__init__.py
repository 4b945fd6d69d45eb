"""Deduplication: exact (content hash) now; near-duplicate MinHash LSH builds on the same files."""
