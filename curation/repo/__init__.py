"""Repository structure: parse files (tree-sitter), extract imports, resolve them, order files by
dependency. Each module is imported by name (`curation.repo.graph`, `curation.repo.order`, ...)."""
