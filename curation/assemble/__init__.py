"""Repository-level documents: files in dependency order, cut at file boundaries to fit the context."""
