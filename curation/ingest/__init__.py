"""Ingest: turn repositories, archives and text sources into one Document per file."""
