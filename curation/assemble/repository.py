"""Repository-level documents: a repository's files, dependencies first, cut to fit a context.

Built in token space, so separators are single ids that raw text can never produce:

    <repo_sep> encode(f"{repo}\\n")
    <file_sep> encode(f"{path}\\n") encode(content)        for each file, in order

DeepSeek-Coder marks each file with a comment holding its path; a control id cannot be confused
with code and costs one token. The path ends with "\\n" (its own piece in TeleChat3), so the content
that follows tokenizes exactly as the file alone: a file's ids are `encode(content)`, the ids the
file-level stage 1 trained on, and decoding its span gives the content back.

Order: `curation.repo.order.dependency_order` over the resolved imports (or "path" / "random"),
chosen per repository by its main language (the one with the most bytes). Chunks: a chunk holds
at most `max_tokens` ids (the stage context minus room for EOS). Files are placed in order; a
strongly connected component (an import cycle) moves to a fresh chunk as a whole when it does not
fit in the current one but fits in an empty one. A file longer than a chunk gets chunks of its
own, cut at token boundaries whose decoded prefix is a prefix of the text (never inside a
character); each piece is a span with `part`/`parts` set, the declared split points.

Each chunk repeats the repository header, so every chunk says where it comes from.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from curation.repo.imports import FileImports, extract_imports
from curation.repo.order import MODES, dependency_order
from curation.repo.parsing import SUPPORTED_LANGUAGES
from curation.repo.resolve import resolve_repository
from curation.tokenize.fim import FimSentinels, apply_fim, decode_continuation, fim_rng
from curation.tokenize.lines import LineEncoder
from curation.tokenize.tokenizer import Tokenizer, piece_id


@dataclass(frozen=True)
class RepoFile:
    id: str              # the file document's id ({repo}@{rev}:{path})
    path: str            # repo-relative, "/"-separated
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Separators:
    repo: int            # id that opens a chunk, before the repository name
    file: int            # id before each file's path
    repo_piece: str = "<_control1>"
    file_piece: str = "<_control2>"


@dataclass(frozen=True)
class FimSettings:
    rate: float
    spm_rate: float
    sentinels: "FimSentinels"
    mode: str = "char"
    seed: int = 0


@dataclass
class FileSpan:
    path: str
    start: int           # token offsets of the content in the chunk's ids (FIM arrangement included)
    end: int
    part: int = 0        # piece number of a file longer than a chunk (0 for a whole file)
    parts: int = 1
    chars: tuple[int, int] = (0, 0)   # this piece's characters of the (round-tripped) content
    fim: str = ""        # "", "psm", "spm": this file carries the chunk's FIM


@dataclass
class RepoChunk:
    id: str              # {repo}@{rev}#{k}
    index: int
    files: list[str]     # paths in document order (a split file appears in each of its chunks)
    file_ids: list[str]  # the file documents' ids, same order
    token_ids: list[int]
    text: str            # readable rendering: separators as their piece text
    spans: list[FileSpan]
    size_bytes: int
    lang: str | None     # the chunk's main language by bytes
    fim: str = ""
    fim_file: str | None = None
    fim_span: str = ""   # "char" or the syntax kind of the middle
    cuts: list[int] = field(default_factory=list)  # offsets of the file separators after the first:
    #                  where the packer may cut the chunk into separate training documents


@dataclass
class RepoAssembly:
    chunks: list[RepoChunk]
    order: list[str]                 # every path once, in document order
    components: list[list[str]]      # consecutive runs of `order`; 2+ files: one import cycle
    edges: list[tuple[str, str]]     # resolved (dependent, dependency) pairs used for the order
    mode: str                        # the order mode applied
    main_language: str | None
    duplicate_paths: list[str] = field(default_factory=list)  # later copies of a path, left out


def repo_seed(seed: int, key: str) -> int:
    digest = hashlib.blake2b(f"{seed}\0{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def main_language(files: Sequence[RepoFile]) -> str | None:
    weight: Counter[str] = Counter()
    for f in files:
        if f.lang:
            weight[f.lang] += len(f.text)
    if not weight:
        return None
    return min(weight, key=lambda lang: (-weight[lang], lang))


def repository_edges(files: Sequence[RepoFile], imports: Mapping[str, "FileImports"] | None = None
                     ) -> list[tuple[str, str]]:
    """Resolved intra-repository imports; `imports` may carry already extracted ones by path."""

    texts = {f.path: f.text for f in files}
    langs = {f.path: f.lang for f in files if f.lang in SUPPORTED_LANGUAGES}
    extracted = {}
    for path, lang in langs.items():
        known = (imports or {}).get(path)
        extracted[path] = known if known is not None else extract_imports(texts[path], lang)
    return resolve_repository(texts.keys(), extracted, langs, texts.get).edges


def assemble_repository(files: Sequence[RepoFile], tokenizer: "Tokenizer", *, repo: str, rev: str,
                        max_tokens: int, separators: Separators, order: str = "dependency",
                        order_by_language: Mapping[str, str] | None = None, keep_scc_together: bool = True,
                        seed: int = 0, fim: FimSettings | None = None,
                        imports: Mapping[str, "FileImports"] | None = None, threads: int = 1,
                        lines: LineEncoder | None = None) -> RepoAssembly:
    """Order one repository's files and cut them into chunks of at most `max_tokens` ids.
    lines: encode through it (the same ids; a repository's files share many lines)."""
    unique: dict[str, RepoFile] = {}
    duplicates = []
    for f in files:
        if f.path in unique:
            duplicates.append(f.path)
        else:
            unique[f.path] = f
    main = main_language(list(unique.values()))
    mode = (order_by_language or {}).get(main, order) if main else order
    if mode not in MODES:
        raise ValueError(f"unknown order mode {mode!r}; expected one of {', '.join(MODES)}")
    edges = repository_edges(list(unique.values()), imports) if mode == "dependency" else []
    ordered = dependency_order(unique, edges, mode, seed=repo_seed(seed, f"{repo}@{rev}"))

    texts = [f"{repo}\n"] + [f"{p}\n" for p in ordered.files] + [unique[p].text for p in ordered.files]
    if lines is not None:
        header_ids, *encoded = [ids.tolist() for ids in lines.encode(texts, num_threads=threads)]
    else:
        header_ids, *encoded = tokenizer.encode_batch(texts, num_threads=threads)
    n = len(ordered.files)
    path_ids = dict(zip(ordered.files, encoded[:n]))
    content_ids = dict(zip(ordered.files, encoded[n:]))
    header = [separators.repo, *header_ids]

    reserve = FIM_RESERVE if fim is not None and fim.rate > 0 else 0
    budget = max_tokens - len(header) - reserve
    longest_path = max((len(ids) for ids in path_ids.values()), default=0)
    if budget < 1 + longest_path + 1:
        raise ValueError(f"{repo}@{rev}: max_tokens={max_tokens} leaves no room for a file after the repository "
                         f"header ({len(header)} ids) and a path ({longest_path} ids)")

    def block_len(path: str) -> int:
        return 1 + len(path_ids[path]) + len(content_ids[path])

    # plan: lists of (path, token range of its content) per chunk
    # per chunk: (path, token range of its content, part, parts, character range of a part or None)
    plans: list[list[tuple]] = []
    current: list[tuple] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        if current:
            plans.append(current)
        current, used = [], 0

    def place(path: str) -> None:
        nonlocal used
        size = block_len(path)
        if size > budget - used and size <= budget:
            flush()
        if size <= budget - used:
            current.append((path, 0, len(content_ids[path]), 0, 1, None))
            used += size
            return
        flush()  # longer than a chunk: its own chunks, cut at clean token boundaries
        cuts = clean_cuts(tokenizer, content_ids[path], budget - 1 - len(path_ids[path]), unique[path].text)
        for k, ((a, char_a), (b, char_b)) in enumerate(zip(cuts, cuts[1:])):
            plans.append([(path, a, b, k, len(cuts) - 1, (char_a, char_b))])

    units = ordered.components if keep_scc_together else [[p] for p in ordered.files]
    for unit in units:
        size = sum(block_len(p) for p in unit)
        if len(unit) > 1 and size <= budget:
            if size > budget - used:
                flush()
            for p in unit:
                place(p)
        else:
            for p in unit:
                place(p)
    flush()

    chunks = [_materialize(k, plan, unique, tokenizer, repo=repo, rev=rev, header=header, separators=separators,
                           path_ids=path_ids, content_ids=content_ids, max_tokens=max_tokens, fim=fim)
              for k, plan in enumerate(plans)]
    return RepoAssembly(chunks, ordered.files, ordered.components, list(edges), mode, main, duplicates)


# Room kept in each chunk for FIM: three sentinels plus the tokens that re-tokenizing the three
# pieces separately can add at the two cuts. A chunk where FIM still would not fit keeps its plain
# ids (tag "") rather than grow past the context.
FIM_RESERVE = 8


def clean_cuts(tokenizer: "Tokenizer", ids: list[int], size: int, text: str) -> list[tuple[int, int]]:
    """(token offset, character offset) pairs from (0, 0) to the end, cutting `ids` (= encode(text))
    into pieces of at most `size` ids, each cut between two characters of the text (a byte-fallback
    character spans several ids: a cut inside it moves back). Decodes each piece once: O(len)."""

    if size < 1:
        raise ValueError(f"piece size must be >= 1, got {size}")
    whole = tokenizer.roundtrip_text(text)

    def piece_text(a: int, b: int) -> str:
        return tokenizer.decode(ids[a:b]) if a == 0 else decode_continuation(tokenizer, ids[a:b])

    cuts = [(0, 0)]
    while len(ids) - cuts[-1][0] > size:
        a, char = cuts[-1]
        cut = a + size
        while True:
            piece = piece_text(a, cut)
            after = char + len(piece)
            # clean: this piece is the text here, and the next ids start a character of the text
            nxt = decode_continuation(tokenizer, ids[cut:cut + 8])[:1]
            if whole.startswith(piece, char) and after < len(whole) and nxt == whole[after]:
                break
            if cut == a + 1:
                raise ValueError(f"cannot cut ids {a}..{a + size} between two characters")
            cut -= 1
        cuts.append((cut, after))
    cuts.append((len(ids), len(whole)))
    return cuts


def _materialize(k: int, plan, files: Mapping[str, RepoFile], tokenizer: "Tokenizer", *, repo: str, rev: str,
                 header: list[int], separators: Separators, path_ids, content_ids, max_tokens: int,
                 fim: FimSettings | None) -> RepoChunk:
    chunk_id = f"{repo}@{rev}#{k}"
    fim_result, fim_path = None, None
    if fim is not None and fim.rate > 0:
        fim_result, fim_path = _chunk_fim(chunk_id, plan, files, tokenizer, content_ids, fim,
                                          room=max_tokens - len(header) - sum(1 + len(path_ids[p]) + b - a
                                                                              for p, a, b, *_ in plan))
    ids = list(header)
    text = [f"{separators.repo_piece}{repo}\n"]
    spans: list[FileSpan] = []
    size_bytes = 0
    weight: Counter[str] = Counter()
    cuts: list[int] = []
    for path, a, b, part, parts, part_chars in plan:
        if spans:
            cuts.append(len(ids))
        ids.append(separators.file)
        ids.extend(path_ids[path])
        content = files[path].text
        if parts == 1:
            chars = (0, len(content))
            piece_text = content
        else:
            chars = part_chars
            piece_text = tokenizer.roundtrip_text(content)[chars[0]:chars[1]]
        start_tok = len(ids)
        tag = ""
        if path == fim_path:
            ids.extend(fim_result.ids)
            tag = fim_result.tag
        else:
            ids.extend(content_ids[path][a:b])
        spans.append(FileSpan(path, start_tok, len(ids), part, parts, chars, tag))
        text.append(f"{separators.file_piece}{path}\n{piece_text}")
        n_bytes = len(piece_text.encode("utf-8", "surrogatepass"))
        size_bytes += n_bytes
        if files[path].lang:
            weight[files[path].lang] += n_bytes
    if len(ids) > max_tokens:  # a bug, not an input problem: the plan was built to fit
        raise AssertionError(f"{chunk_id}: {len(ids)} ids > max_tokens={max_tokens}")
    lang = min(weight, key=lambda x: (-weight[x], x)) if weight else None
    return RepoChunk(chunk_id, k, [p for p, *_ in plan], [files[p].id for p, *_ in plan], ids, "".join(text),
                     spans, size_bytes, lang, fim_result.tag if fim_result else "", fim_path if fim_result else None,
                     fim_result.span if fim_result else "", cuts)


def _chunk_fim(chunk_id: str, plan, files, tokenizer, content_ids, fim: FimSettings, room: int):
    """FIM one whole file of the chunk (DeepSeek-Coder applies FIM per file; one file per chunk keeps
    every other file's ids exactly encode(content)). -> (FimResult, path) or (None, None)."""

    rng = fim_rng(fim.seed, chunk_id)
    candidates = [p for p, a, b, part, parts, _ in plan if parts == 1 and files[p].text]
    if rng.random() >= fim.rate or not candidates:
        return None, None
    path = rng.choice(candidates)
    result = apply_fim(files[path].text, tokenizer, rng, rate=1.0, spm_rate=fim.spm_rate, sentinels=fim.sentinels,
                       mode=fim.mode, lang=files[path].lang, plain_ids=content_ids[path])
    if len(result.ids) - len(content_ids[path]) > room:
        return None, None
    return result, path


def resolve_separators(tokenizer: Tokenizer, pieces, key: str = "assemble.separators") -> Separators:
    """The single ids of `SeparatorPieces` (repo, file), refused when raw text can produce them."""
    ids = {name: piece_id(tokenizer, getattr(pieces, name), f"{key}.{name}") for name in ("repo", "file")}
    return Separators(ids["repo"], ids["file"], pieces.repo, pieces.file)

