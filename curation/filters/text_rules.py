"""Quality rules for prose (`kind: text` documents), configured by `filters/text.yaml`.

The rules are those of the web-text pipelines, each named after where it comes from:

    Gopher quality      word count, mean word length, symbol/word ratio, bullet and ellipsis line
                        shares, share of words with a letter, stop words (Rae et al. 2021, App. A)
    Gopher repetition   duplicate lines / paragraphs (by count and by characters), the top 2-4-gram
                        and the duplicate 5-10-grams by character share
    C4                  `lorem ipsum` anywhere; lines about JavaScript or cookie / privacy policies
                        (C4 removes such lines; a filter never rewrites, so here a document made
                        mostly of them is dropped)
    FineWeb             share of lines with terminal punctuation, share of short lines, newlines
                        per word (machine-made lists)

`check` measures a document once (`TextStats`) and runs the rules in the fixed order of `RULES`,
cheap first; the first failing rule is the drop reason and its measured value against the bound is
the detail. The thresholds live in YAML; a language's overrides (keyed by the document's
`nl_lang`, e.g. from lid.176) replace the defaults field by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, PrivateAttr, field_validator, model_validator

from curation.schema import ConfigError, StrictModel, validate

Failure = tuple[str, str]

# Gopher's "symbols": the hash and the ellipsis (three dots or the single character).
# Gopher's symbols are hashtags and ellipses. Counted: a `#` directly before a letter that does
# not open a line (a Markdown heading or a code comment opens its line; `#771`, an issue number in
# a changelog, is not a hashtag either), and `...` or `\u2026`.
_SYMBOL = re.compile(r"(?<![\n#])(?<!\A)(?<=[^\n])#(?=[^\W\d_])|\.\.\.|\u2026")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2023\u25e6\u2043\u2219\u00b7\u25aa\u25cf\u2013\u2014]|\d{1,3}[.)])\s")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|\u2026)\s*$")
_PARAGRAPH = re.compile(r"\n\s*\n")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_STRIP_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


class TextThresholds(StrictModel):
    """Bounds of the text rules; null turns a rule off. Under `languages.<id>`, the keys given
    replace the defaults (null there turns the rule off for that language)."""

    min_words: int | None = Field(50, ge=0, description="Gopher: fewer words (whitespace-separated) than this")
    max_words: int | None = Field(100_000, ge=1, description="Gopher: more words than this")
    min_mean_word_length: float | None = Field(3, ge=0, description="Gopher: mean word length below this")
    max_mean_word_length: float | None = Field(10, gt=0, description="Gopher: mean word length above this")
    max_symbol_word_ratio: float | None = Field(0.1, ge=0, description="Gopher: ('#' + ellipses) per word above this")
    max_bullet_line_fraction: float | None = Field(0.9, ge=0, le=1, description="Gopher: share of lines starting with a bullet")
    max_ellipsis_line_fraction: float | None = Field(0.3, ge=0, le=1, description="Gopher: share of lines ending with an ellipsis")
    min_alpha_word_fraction: float | None = Field(0.8, ge=0, le=1, description="Gopher: share of words with at least one letter")
    min_stop_words: int | None = Field(2, ge=0, description="Gopher: fewer distinct stop words (of `stop_words`) than this")
    stop_words: list[str] = Field(default_factory=list, description="the language's stop words (lowercase)")
    repetition_min_words: int = Field(50, ge=0, description="the repetition rules skip documents shorter than this")
    max_dup_line_fraction: float | None = Field(0.3, ge=0, le=1, description="Gopher: share of lines that repeat an earlier line")
    max_dup_para_fraction: float | None = Field(0.3, ge=0, le=1, description="Gopher: share of paragraphs that repeat an earlier one")
    max_dup_line_char_fraction: float | None = Field(0.2, ge=0, le=1, description="Gopher: characters in repeated lines")
    max_dup_para_char_fraction: float | None = Field(0.2, ge=0, le=1, description="Gopher: characters in repeated paragraphs")
    max_top_ngram_char_fraction: dict[int, float] = Field(
        default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16},
        description="Gopher: n -> bound on the characters covered by the most frequent word n-gram")
    max_dup_ngram_char_fraction: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="Gopher: n -> bound on the characters covered by word n-grams seen earlier in the document")
    min_terminal_punct_line_fraction: float | None = Field(
        0.12, ge=0, le=1, description="FineWeb: share of non-blank lines ending in terminal punctuation")
    terminal_punctuation: str = Field(".!?\"'\u201d\u3002\uff01\uff1f:;)]}", description="characters that end a sentence line")
    short_line_chars: int = Field(30, ge=1, description="FineWeb: a line of at most this many characters is short")
    max_short_line_fraction: float | None = Field(0.67, ge=0, le=1, description="FineWeb: share of short non-blank lines")
    max_newlines_per_word: float | None = Field(0.3, ge=0, description="FineWeb list ratio: newlines per word above this")
    line_pattern_fraction: dict[str, float] = Field(
        default_factory=dict, description="per `line_patterns` name: bound on the share of non-blank lines matching it")
    doc_patterns: list[str] = Field(default_factory=list, description="names of `document_patterns` that drop on any match")


class TextRuleSet(StrictModel):
    """The schema of `filters/text.yaml`."""

    version: Literal[1] = 1
    kind: Literal["text"] = Field("text", description="tells `curate validate` this is the prose rule set, not filters/code.yaml's")
    defaults: TextThresholds = Field(default_factory=TextThresholds)
    languages: dict[str, TextThresholds] = Field(
        default_factory=dict, description="overrides per natural language (lid.176 ids: en, de, zh, ...)")
    line_patterns: dict[str, str] = Field(default_factory=dict, description="named per-line regexes (case-insensitive)")
    document_patterns: dict[str, str] = Field(default_factory=dict, description="named regexes searched in the whole text")

    _merged: dict = PrivateAttr(default_factory=dict)
    _line_res: dict = PrivateAttr(default_factory=dict)
    _doc_res: dict = PrivateAttr(default_factory=dict)

    @field_validator("line_patterns", "document_patterns")
    @classmethod
    def _compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{name}: invalid regex {pattern!r}: {err}") from None
        return patterns

    @model_validator(mode="after")
    def _names_exist(self):
        for where, t in [("defaults", self.defaults)] + [(f"languages.{k}", v) for k, v in self.languages.items()]:
            for name in t.line_pattern_fraction:
                if name not in self.line_patterns:
                    raise ValueError(f"{where}.line_pattern_fraction.{name}: no such entry in line_patterns")
            for name in t.doc_patterns:
                if name not in self.document_patterns:
                    raise ValueError(f"{where}.doc_patterns: {name}: no such entry in document_patterns")
        return self

    def model_post_init(self, context, /) -> None:
        self._line_res = {k: re.compile(v, re.IGNORECASE) for k, v in self.line_patterns.items()}
        self._doc_res = {k: re.compile(v, re.IGNORECASE) for k, v in self.document_patterns.items()}

    def thresholds_for(self, lang: str | None) -> TextThresholds:
        key = (lang or "").lower()
        if key not in self._merged:
            override = self.languages.get(key)
            update = {} if override is None else {n: getattr(override, n) for n in override.model_fields_set}
            self._merged[key] = self.defaults.model_copy(update=update) if update else self.defaults
        return self._merged[key]


def load_text_rules(path: str | Path) -> TextRuleSet:
    """Read and validate `filters/text.yaml`; errors name the file, the key path and the reason."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read rule set: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return validate(TextRuleSet, data, path)


class TextStats:
    """What the rules measure, computed once per document and only when a rule asks."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def word_chars(self) -> np.ndarray:
        return np.fromiter((len(w) for w in self.words), dtype=np.int64, count=len(self.words))

    @cached_property
    def non_url_word_lengths(self) -> np.ndarray:
        """Lengths of the words that are not URLs: a README's badge links are markup, and Gopher's
        mean word length is about the words of the prose (gibberish, run-together tokens)."""
        return np.fromiter((len(w) for w in self.words if "://" not in w), dtype=np.int64)

    @cached_property
    def normalized_words(self) -> list[str]:
        """Lowercase, punctuation stripped at both ends: what stop words and n-grams compare."""
        return [_STRIP_PUNCT.sub("", w.lower()) for w in self.words]

    @cached_property
    def word_ids(self) -> np.ndarray:
        vocab: dict[str, int] = {}
        return np.fromiter((vocab.setdefault(w, len(vocab)) for w in self.normalized_words), dtype=np.uint64,
                           count=len(self.words))

    def ngram_hashes(self, n: int) -> np.ndarray:
        """One uint64 per window of n word ids (collisions are negligible at document scale)."""
        ids = self.word_ids + np.uint64(1)
        windows = len(ids) - n + 1
        with np.errstate(over="ignore"):
            acc = ids[:windows].copy()
            for k in range(1, n):
                acc = acc * np.uint64(0x100000001B3) + ids[k:k + windows]
        return acc

    def _covered_chars(self, starts: np.ndarray, n: int) -> float:
        """Share of word characters inside the n-word windows starting at `starts` (overlaps once)."""
        delta = np.zeros(len(self.words) + 1, dtype=np.int64)
        np.add.at(delta, starts, 1)
        np.add.at(delta, starts + n, -1)
        covered = np.cumsum(delta[:-1]) > 0
        return int(self.word_chars[covered].sum()) / max(int(self.word_chars.sum()), 1)

    def top_ngram_char_fraction(self, n: int) -> float:
        """Characters covered by the occurrences of the most frequent n-gram (if it repeats)."""
        if len(self.words) < n:
            return 0.0
        hashes = self.ngram_hashes(n)
        values, counts = np.unique(hashes, return_counts=True)
        best = int(np.argmax(counts))
        if counts[best] < 2:
            return 0.0
        return self._covered_chars(np.flatnonzero(hashes == values[best]), n)

    def dup_ngram_char_fraction(self, n: int) -> float:
        """Characters of the words covered by an n-gram that occurred earlier in the document."""
        if len(self.words) < n:
            return 0.0
        hashes = self.ngram_hashes(n)
        _, first = np.unique(hashes, return_index=True)
        repeat = np.ones(len(hashes), dtype=bool)
        repeat[first] = False
        if not repeat.any():
            return 0.0
        return self._covered_chars(np.flatnonzero(repeat), n)

    @staticmethod
    def duplicates(items: list[str]) -> tuple[float, float]:
        """(share of items that repeat an earlier one, share of characters in them)."""
        seen: set[str] = set()
        dup = dup_chars = total_chars = 0
        for item in items:
            total_chars += len(item)
            if item in seen:
                dup += 1
                dup_chars += len(item)
            else:
                seen.add(item)
        return (dup / len(items) if items else 0.0), (dup_chars / total_chars if total_chars else 0.0)

    @cached_property
    def line_dups(self) -> tuple[float, float]:
        return self.duplicates(self.lines)

    @cached_property
    def para_dups(self) -> tuple[float, float]:
        return self.duplicates([p.strip() for p in _PARAGRAPH.split(self.text) if p.strip()])


def _above(name: str, value: float, bound: float | None) -> Failure | None:
    return (name, f"{value:.4g} > {bound:g}") if bound is not None and value > bound else None


def _below(name: str, value: float, bound: float | None) -> Failure | None:
    return (name, f"{value:.4g} < {bound:g}") if bound is not None and value < bound else None


Rule = Callable[[TextStats, TextThresholds, TextRuleSet], Failure | None]


def _words(s: TextStats, t: TextThresholds, r) -> Failure | None:
    n = len(s.words)
    return _below("min_words", n, t.min_words) or _above("max_words", n, t.max_words)


def _mean_word_length(s: TextStats, t: TextThresholds, r) -> Failure | None:
    lengths = s.non_url_word_lengths
    if not lengths.size:
        return None
    mean = float(lengths.mean())
    return (_below("min_mean_word_length", mean, t.min_mean_word_length)
            or _above("max_mean_word_length", mean, t.max_mean_word_length))


def _document_patterns(s: TextStats, t: TextThresholds, r: TextRuleSet) -> Failure | None:
    for name in t.doc_patterns:
        if (m := r._doc_res[name].search(s.text)) is not None:
            return name, f"at character {m.start()}: {m.group(0)[:60]!r}"
    return None


def _symbols(s: TextStats, t: TextThresholds, r) -> Failure | None:
    if t.max_symbol_word_ratio is None or not s.words:
        return None
    return _above("max_symbol_word_ratio", len(_SYMBOL.findall(s.text)) / len(s.words), t.max_symbol_word_ratio)


def _line_shapes(s: TextStats, t: TextThresholds, r) -> Failure | None:
    lines = s.lines
    if not lines:
        return None
    n = len(lines)
    checks = (
        ("max_bullet_line_fraction", lambda: sum(1 for ln in lines if _BULLET.match(ln)) / n, t.max_bullet_line_fraction, _above),
        ("max_ellipsis_line_fraction", lambda: sum(1 for ln in lines if _ELLIPSIS_END.search(ln)) / n,
         t.max_ellipsis_line_fraction, _above),
        ("min_terminal_punct_line_fraction", lambda: sum(1 for ln in lines if ln[-1] in t.terminal_punctuation) / n,
         t.min_terminal_punct_line_fraction, _below),
        ("max_short_line_fraction", lambda: sum(1 for ln in lines if len(ln) <= t.short_line_chars) / n,
         t.max_short_line_fraction, _above),
    )
    for name, measure, bound, compare in checks:
        if bound is not None and (failed := compare(name, measure(), bound)):
            return failed
    return None


def _newlines(s: TextStats, t: TextThresholds, r) -> Failure | None:
    if t.max_newlines_per_word is None or not s.words:
        return None
    return _above("max_newlines_per_word", s.text.count("\n") / len(s.words), t.max_newlines_per_word)


def _line_patterns(s: TextStats, t: TextThresholds, r: TextRuleSet) -> Failure | None:
    if not s.lines:
        return None
    for name, bound in t.line_pattern_fraction.items():
        regex = r._line_res[name]
        share = sum(1 for ln in s.lines if regex.search(ln)) / len(s.lines)
        if (failed := _above(f"{name}_line_fraction", share, bound)) is not None:
            return failed
    return None


def _alpha_words(s: TextStats, t: TextThresholds, r) -> Failure | None:
    if t.min_alpha_word_fraction is None or not s.words:
        return None
    share = sum(1 for w in s.words if _HAS_LETTER.search(w)) / len(s.words)
    return _below("min_alpha_word_fraction", share, t.min_alpha_word_fraction)


def _stop_words(s: TextStats, t: TextThresholds, r) -> Failure | None:
    if t.min_stop_words is None or not t.stop_words:
        return None
    found = len(set(t.stop_words) & set(s.normalized_words))
    return _below("min_stop_words", found, t.min_stop_words)


def _repetition(s: TextStats, t: TextThresholds, r) -> Failure | None:
    if len(s.words) < t.repetition_min_words:
        return None
    line_share, line_chars = s.line_dups
    para_share, para_chars = s.para_dups
    failed = (_above("max_dup_line_fraction", line_share, t.max_dup_line_fraction)
              or _above("max_dup_para_fraction", para_share, t.max_dup_para_fraction)
              or _above("max_dup_line_char_fraction", line_chars, t.max_dup_line_char_fraction)
              or _above("max_dup_para_char_fraction", para_chars, t.max_dup_para_char_fraction))
    if failed:
        return failed
    for n, bound in sorted(t.max_top_ngram_char_fraction.items()):
        if failed := _above(f"max_top_{n}gram_char_fraction", s.top_ngram_char_fraction(n), bound):
            return failed
    for n, bound in sorted(t.max_dup_ngram_char_fraction.items()):
        if failed := _above(f"max_dup_{n}gram_char_fraction", s.dup_ngram_char_fraction(n), bound):
            return failed
    return None


# Cheap and decisive first; the repetition rules (n-gram hashing) last.
RULES: tuple[Rule, ...] = (_words, _mean_word_length, _document_patterns, _symbols, _line_patterns, _line_shapes,
                           _newlines, _alpha_words, _stop_words, _repetition)


def check_text(rules: TextRuleSet, text: str, lang: str | None = None) -> Failure | None:
    """None to keep the document, else (reason, detail) of the first failing rule, e.g.
    ("max_dup_line_fraction", "0.45 > 0.3")."""
    if not text.strip():
        return "empty", "no text"
    stats = TextStats(text)
    thresholds = rules.thresholds_for(lang)
    for rule in RULES:
        if (failed := rule(stats, thresholds, rules)) is not None:
            return failed
    return None


def measure_text(rules: TextRuleSet, text: str, lang: str | None = None) -> dict[str, float]:
    """Every signal the rules look at, whether or not its rule is on (to inspect and calibrate)."""
    s, t = TextStats(text), rules.thresholds_for(lang)
    lines, n_words = s.lines, max(len(s.words), 1)
    n_lines = max(len(lines), 1)
    out = {
        "words": float(len(s.words)),
        "mean_word_length": float(s.non_url_word_lengths.mean()) if s.non_url_word_lengths.size else 0.0,
        "symbol_word_ratio": len(_SYMBOL.findall(text)) / n_words,
        "bullet_line_fraction": sum(1 for ln in lines if _BULLET.match(ln)) / n_lines,
        "ellipsis_line_fraction": sum(1 for ln in lines if _ELLIPSIS_END.search(ln)) / n_lines,
        "terminal_punct_line_fraction": sum(1 for ln in lines if ln[-1] in t.terminal_punctuation) / n_lines,
        "short_line_fraction": sum(1 for ln in lines if len(ln) <= t.short_line_chars) / n_lines,
        "newlines_per_word": text.count("\n") / n_words,
        "alpha_word_fraction": sum(1 for w in s.words if _HAS_LETTER.search(w)) / n_words,
        "stop_words": float(len(set(t.stop_words) & set(s.normalized_words))),
        "dup_line_fraction": s.line_dups[0], "dup_line_char_fraction": s.line_dups[1],
        "dup_para_fraction": s.para_dups[0], "dup_para_char_fraction": s.para_dups[1],
    }
    for name, regex in rules._line_res.items():
        out[f"{name}_line_fraction"] = sum(1 for ln in lines if regex.search(ln)) / n_lines
    for n in range(2, 5):
        out[f"top_{n}gram_char_fraction"] = s.top_ngram_char_fraction(n)
    for n in range(5, 11):
        out[f"dup_{n}gram_char_fraction"] = s.dup_ngram_char_fraction(n)
    return out
