"""Fill-in-the-middle (FIM): cut a file into prefix / middle / suffix and move the middle last.

Layout, as in the FIM paper (Bavarian et al. 2022) and its StarCoder / Code Llama implementations
(bigcode Megatron-LM `permute`; SPM is the paper's "variant 2", the one both use):

    PSM:  <pre> prefix <suf> suffix <mid> middle
    SPM:  <pre> <suf> suffix <mid> prefix middle

The sentinels are inserted by id (default TeleChat3 control pieces, which raw text can never
produce), so a file that mentions `<fim_prefix>` stays text. The three pieces are tokenized
separately, after the cut, so the model never sees half a token at a boundary (character-level
FIM, as StarCoder). SentencePiece adds a dummy "▁" in front of every text it encodes: the prefix
keeps it (it starts the file, like every plain document), the suffix and middle are encoded as
continuations without it (Code Llama does the same), otherwise the model would learn to emit a
spurious space after <mid>.

Spans: "char" picks two cut points uniformly over the characters (StarCoder); "syntax" picks a
tree-sitter node of the file as the middle, first a kind uniformly among those the file has
(function body, block, expression), then a node of that kind uniformly; a file without such a
node (or in a language without a grammar) falls back to "char", and the result says so.

Randomness is per document: `fim_rng(seed, doc_id)`, so a document's FIM does not depend on which
task or in which order it was processed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.repo.parsing import parse
from curation.schema import ConfigError
from curation.tokenize.tokenizer import Tokenizer, piece_id

if TYPE_CHECKING:
    from curation.tokenize.lines import LineEncoder

MODES = ("char", "syntax")
TAGS = ("", "psm", "spm")

# Node types that are a block of statements, across the grammars of curation.repo.parsing.
BLOCK_TYPES = frozenset({
    "block", "compound_statement", "statement_block", "declaration_list", "field_declaration_list",
    "class_body", "interface_body", "enum_body", "constructor_body", "switch_block", "switch_body",
    "match_block", "object", "array", "initializer_list",
})
# Python's grammar names its expressions without an "_expression" suffix.
PYTHON_EXPRESSIONS = frozenset({
    "call", "binary_operator", "boolean_operator", "comparison_operator", "conditional_expression",
    "list_comprehension", "dictionary_comprehension", "set_comprehension", "generator_expression",
    "lambda", "subscript", "attribute", "parenthesized_expression", "dictionary", "list", "tuple",
})
OTHER_EXPRESSIONS = frozenset({"method_invocation", "object_creation_expression", "macro_invocation"})


@dataclass(frozen=True)
class FimSentinels:
    prefix: int
    middle: int
    suffix: int

    def ids(self) -> tuple[int, int, int]:
        return self.prefix, self.middle, self.suffix


@dataclass
class FimResult:
    ids: list[int]        # the file's ids: encode(text) when tag == "", else the FIM arrangement
                          # (an int32 array when encoded through a LineEncoder)
    tag: str = ""         # "", "psm", "spm"
    span: str = ""        # "char", or the syntax kind ("function_body", "block", "expression")
    cut: tuple[int, int] = (0, 0)  # character offsets of the middle in the original text
    # token ranges inside `ids` of each piece (prefix is empty-ranged when the prefix is empty)
    pieces: dict[str, tuple[int, int]] = field(default_factory=dict)


def fim_rng(seed: int, doc_id: str) -> random.Random:
    """A generator that depends only on the seed and the document id (not on task or order)."""
    digest = hashlib.blake2b(f"{seed}\0{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


def encode_continuation(tokenizer: "Tokenizer", texts: list[str], num_threads: int = 1) -> list[list[int]]:
    """Ids of texts that continue a document: no dummy-prefix "▁" in front.

    SentencePiece has no switch for the dummy prefix at encode time; "\n" is a user-defined
    piece of TeleChat3, always its own token, so encoding "\n" + text and dropping the ids of
    "\n" leaves text encoded as it would be mid-document. Byte-level tokenizers add nothing.
    """
    if tokenizer.backend != "sentencepiece":
        return tokenizer.encode_batch(texts, num_threads=num_threads)
    lead = tokenizer.encode_batch(["\n"])[0]
    out = []
    for text, ids in zip(texts, tokenizer.encode_batch(["\n" + t for t in texts], num_threads=num_threads)):
        if ids[:len(lead)] != lead:
            raise ValueError(f"tokenizer {tokenizer.name}: '\\n' is not a piece of its own here "
                             f"(encoding {text[:40]!r}); continuation encoding needs it")
        out.append(ids[len(lead):])
    return out


def decode_continuation(tokenizer: "Tokenizer", ids: list[int]) -> str:
    """Inverse of encode_continuation: keeps a leading space that plain decode would strip."""
    if tokenizer.backend != "sentencepiece":
        return tokenizer.decode(ids)
    lead = tokenizer.encode_batch(["\n"])[0]
    return tokenizer.decode(lead + list(ids))[1:]


@dataclass(frozen=True)
class FimPlan:
    """Where one file is cut, decided before anything is tokenized."""

    spm: bool
    kind: str  # "char" or the syntax kind
    a: int     # character offsets of the middle
    b: int


def plan_fim(text: str, rng: random.Random, *, rate: float, spm_rate: float, mode: str = "char",
             lang: str | None = None) -> FimPlan | None:
    """The FIM decision for one file, or None for no FIM. Consumes `rng` exactly as `apply_fim`
    always has, so a file's outcome is the same whether it is encoded alone or in a batch."""
    if mode not in MODES:
        raise ValueError(f"unknown FIM mode {mode!r}; expected one of {', '.join(MODES)}")
    if rng.random() >= rate or not text:
        return None
    spm = rng.random() < spm_rate
    span = None
    if mode == "syntax":
        span = choose_syntax_span(text, lang, rng)
    if span is None:
        a, b = sorted((rng.randrange(len(text) + 1), rng.randrange(len(text) + 1)))
        kind = "char"
    else:
        kind, a, b = span
    return FimPlan(spm, kind, a, b)


def assemble_fim(plan: FimPlan, prefix_ids, middle_ids, suffix_ids, sentinels: FimSentinels) -> FimResult:
    """ids: a list, or an int32 array when the pieces are arrays (`LineEncoder`)."""
    pre, mid, suf = sentinels.prefix, sentinels.middle, sentinels.suffix
    arrays = isinstance(prefix_ids, np.ndarray)
    if plan.spm:
        order = ([pre, suf], suffix_ids, [mid], prefix_ids, middle_ids)
        s0 = 2
        p0 = s0 + len(suffix_ids) + 1
        m0 = p0 + len(prefix_ids)
    else:
        order = ([pre], prefix_ids, [suf], suffix_ids, [mid], middle_ids)
        p0 = 1
        s0 = p0 + len(prefix_ids) + 1
        m0 = s0 + len(suffix_ids) + 1
    if arrays:
        ids = np.concatenate([np.asarray(part, dtype=np.int32) for part in order])
    else:
        ids = [i for part in order for i in part]
    pieces = {"prefix": (p0, p0 + len(prefix_ids)), "middle": (m0, m0 + len(middle_ids)),
              "suffix": (s0, s0 + len(suffix_ids))}
    return FimResult(ids, "spm" if plan.spm else "psm", plan.kind, (plan.a, plan.b), pieces)


def encode_fim_batch(texts: list[str], plans: list[FimPlan], tokenizer: "Tokenizer", sentinels: FimSentinels,
                     num_threads: int = 1, lines: "LineEncoder | None" = None) -> list[FimResult]:
    """The FIM results of files whose plans are known: every prefix in one encode call, every
    middle and suffix in one continuation call (each piece is encoded on its own, so the ids are
    those `apply_fim` gives one file at a time). lines: encode through it (the same ids, as
    int32 arrays)."""
    if not texts:
        return []
    prefix_texts = [t[:p.a] for t, p in zip(texts, plans)]
    rest_texts = [x for t, p in zip(texts, plans) for x in (t[p.a:p.b], t[p.b:])]
    if lines is not None:
        prefixes = lines.encode(prefix_texts, num_threads=num_threads)
        rest = lines.encode(rest_texts, continuation=True, num_threads=num_threads)
    else:
        prefixes = tokenizer.encode_batch(prefix_texts, num_threads=num_threads)
        rest = encode_continuation(tokenizer, rest_texts, num_threads=num_threads)
    return [assemble_fim(p, prefixes[i], rest[2 * i], rest[2 * i + 1], sentinels) for i, p in enumerate(plans)]


def apply_fim(text: str, tokenizer: "Tokenizer", rng: random.Random, *, rate: float, spm_rate: float,
              sentinels: FimSentinels, mode: str = "char", lang: str | None = None,
              plain_ids: list[int] | None = None) -> FimResult:
    """FIM one file's text with probability `rate` (SPM with probability `spm_rate` given FIM).

    plain_ids: encode(text) if already known (returned unchanged when no FIM is applied).
    The rng is always advanced the same way for a given text, mode and outcome.
    """
    plan = plan_fim(text, rng, rate=rate, spm_rate=spm_rate, mode=mode, lang=lang)
    if plan is None:
        ids = plain_ids if plain_ids is not None else tokenizer.encode_batch([text])[0]
        return FimResult(list(ids))
    return encode_fim_batch([text], [plan], tokenizer, sentinels)[0]


def undo_fim(result: FimResult, tokenizer: "Tokenizer") -> str:
    """The original text back from a FIM result (the middle moved back between prefix and suffix)."""
    if not result.tag:
        return tokenizer.decode(result.ids)
    piece = {name: result.ids[s:e] for name, (s, e) in result.pieces.items()}
    return (tokenizer.decode(piece["prefix"]) + decode_continuation(tokenizer, piece["middle"])
            + decode_continuation(tokenizer, piece["suffix"]))


# --- syntax spans ---------------------------------------------------------------------------

def syntax_spans(data: bytes, lang: str | None) -> dict[str, list[tuple[int, int]]]:
    """Candidate middles per kind, as UTF-8 byte ranges: function bodies, blocks, expressions.

    Empty when the language has no grammar. Nodes inside a parse error are skipped: a span that
    is not really a block would teach the model nothing about blocks.
    """

    result = parse(data, lang) if lang else None
    if result is None:
        return {}
    expressions = PYTHON_EXPRESSIONS if lang == "python" else OTHER_EXPRESSIONS
    bodies: set[tuple[int, int]] = set()
    blocks: list[tuple[int, int]] = []
    exprs: list[tuple[int, int]] = []
    stack = [result.tree.root_node]
    while stack:
        node: Any = stack.pop()
        if node.is_error:
            continue
        kind = node.type
        if node.end_byte > node.start_byte:
            if "function" in kind or "method" in kind:
                body = node.child_by_field_name("body")
                if body is not None and body.end_byte > body.start_byte:
                    bodies.add((body.start_byte, body.end_byte))
            if kind in BLOCK_TYPES:
                blocks.append((node.start_byte, node.end_byte))
            elif kind in expressions or kind.endswith("_expression"):
                exprs.append((node.start_byte, node.end_byte))
        stack.extend(node.named_children)
    spans = {"function_body": sorted(bodies), "block": sorted(set(blocks) - bodies), "expression": sorted(set(exprs))}
    return {kind: items for kind, items in spans.items() if items}


def choose_syntax_span(text: str, lang: str | None, rng: random.Random) -> tuple[str, int, int] | None:
    """(kind, start, end) in characters of `text`, or None when the file has no candidate node."""
    data = text.encode("utf-8", "surrogatepass")
    spans = syntax_spans(data, lang)
    if not spans:
        return None
    kind = rng.choice(sorted(spans))
    start, end = rng.choice(spans[kind])
    if len(data) == len(text):  # ASCII: bytes are characters
        return kind, start, end
    # node boundaries are character boundaries, so the byte prefixes decode cleanly
    return kind, len(data[:start].decode("utf-8", "surrogatepass")), len(data[:end].decode("utf-8", "surrogatepass"))


def resolve_sentinels(tokenizer: Tokenizer, pieces, key: str = "fim.sentinels", separators=None) -> FimSentinels:
    """The single ids of `FimSentinelPieces`; a sentinel that is also a separator is refused."""
    if separators is not None:
        clash = {pieces.prefix, pieces.suffix, pieces.middle} & {separators.repo, separators.file}
        if clash:
            raise ConfigError(f"{key}: {sorted(clash)} is also a repository/file separator")
    return FimSentinels(*(piece_id(tokenizer, getattr(pieces, name), f"{key}.{name}")
                          for name in ("prefix", "middle", "suffix")))

