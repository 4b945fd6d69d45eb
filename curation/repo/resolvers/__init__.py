"""One resolver per language family; see curation.repo.resolve for the contract."""
