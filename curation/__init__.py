"""curation: the data pipeline for continued code pretraining."""

__version__ = "0.1.0"
