"""Packers: tokenized documents into fixed-length rows (concatenate-and-chunk, best-fit decreasing).
Writing rows as shards is `curation.mixture.shards`."""
