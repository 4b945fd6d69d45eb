"""Exact tokenization with the model's tokenizer (TeleChat3 by default); see tokenizer.py."""

from curation.tokenize.tokenizer import (
    DEFAULT_TOKENIZER,
    Tokenizer,
    TokenizerError,
    load_fallback_tokenizer,
    load_tokenizer,
)

__all__ = ["DEFAULT_TOKENIZER", "Tokenizer", "TokenizerError", "load_fallback_tokenizer", "load_tokenizer"]
