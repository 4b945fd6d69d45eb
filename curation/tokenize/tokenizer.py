"""The model's tokenizer, with exact ids: raw text never turns into special ids.

Two backends behind one small class:
- "sentencepiece": the folder has a SentencePiece `tokenizer.model` (TeleChat3). We encode with
  `sentencepiece` itself, because it is the reference (the model's own tokenizer class calls it)
  and batched with threads it is 1.6x faster than the transformers fast conversion, which differs
  from it on ~2.4% of real files (see DESIGN.md, Fidelity). SentencePiece never emits control ids
  for text, so a file mentioning `<_end>` stays one document.
- "hf-fast": a tokenizer.json-only tokenizer (GPT-2 style, or our demo fallback). Encoded through
  transformers with `split_special_tokens=True`, and checked that no special id comes out.

TeleChat3's normalizer is "identity" with add_dummy_prefix on and remove_extra_whitespaces off:
every text gets one leading "▁" that decode strips again, so leading spaces, tabs, newlines and
`\r\n` survive. The one character that cannot round-trip is U+2581 "▁" itself: SentencePiece
reads it as its own space symbol, so it encodes like " " and decodes to " ". We keep the
reference ids (what the model was trained on) and state the loss: `roundtrip_text(text)` is what
`decode(encode(text))` returns, and `lossy_chars` lists the characters that change.

User-defined pieces (digits, "\n", "__", `<reserve1>`..) are ordinary text pieces in
SentencePiece: literal `<reserve1>` in a file becomes id 40. So structural markers (separators,
FIM sentinels) must be control pieces; `token_id` refuses a piece that raw text can produce.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from curation.schema import ConfigError

DEFAULT_TOKENIZER = "Tele-AI/TeleChat3-Coder-36B-Thinking"

# Files that define a tokenizer; their names and bytes make up `files_sha256`.
TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)
SPM_SPACE = "\u2581"

# Without network the hub client retries for ~25 s; a reachability probe this short answers first.
HUB_PROBE_TIMEOUT_S = 3.0
HUB_ETAG_TIMEOUT_S = 5.0

# The demo fallback: a small byte-level BPE that keeps TeleChat3's special ids, so EOS=2, PAD=3.
FALLBACK_NAME = "curation-demo-bpe-16k"
FALLBACK_VOCAB_SIZE = 16384
TELECHAT3_SPECIAL_TOKENS = (
    "<_unk>", "<_start>", "<_end>", "<_pad>", "<_user>", "<_bot>", "<_system>", "<_observation>",
    "<_sep>", "</think>", "<think>", "<tool_call>", "</tool_call>", "<tool_response>",
    "</tool_response>", *(f"<_control{i}>" for i in range(1, 10)),
)  # ids 0..23, in id order


class TokenizerError(Exception):
    """The tokenizer could not be resolved or loaded, or a piece is not a single special id."""

    exit_code = 1


@dataclass
class Tokenizer:
    name: str  # what the user asked for (repo id or path)
    path: str  # the local folder actually loaded
    backend: str  # "sentencepiece" or "hf-fast"
    vocab_size: int
    eos_id: int
    pad_id: int  # EOS when the tokenizer has no pad token; padding is masked out anyway
    bos_id: int | None
    files_sha256: str
    special_ids: frozenset[int] = field(repr=False)  # ids raw text can never produce
    lossy_chars: str = ""  # characters that decode(encode(text)) does not give back
    _sp: Any = field(default=None, repr=False, compare=False)
    _hf: Any = field(default=None, repr=False, compare=False)

    def __reduce__(self):
        # Datatrove ships steps to workers by pickling: reload from the folder rather than
        # pickling native tokenizer objects, and refuse if the files changed in between.
        return (_reload, (self.name, self.path, self.files_sha256))

    def encode_batch(self, texts: list[str], num_threads: int = 1) -> list[list[int]]:
        """Ids of raw texts, no BOS/EOS added. Never produces a special id."""
        if not texts:
            return []
        if self._sp is not None:
            # SentencePiece cannot emit control/unknown ids for text (byte fallback covers all).
            return self._sp.encode(list(texts), num_threads=max(1, num_threads))
        # num_threads: the tokenizers library uses its own global pool (RAYON_NUM_THREADS).
        # verbose=False: a model_max_length warning means nothing here, documents are split later.
        encoded = self._hf(list(texts), add_special_tokens=False, split_special_tokens=True, verbose=False)
        ids = encoded["input_ids"]
        self._check_no_special(texts, ids)
        return ids

    def decode(self, ids: list[int]) -> str:
        """Text of ids. Special ids decode to their piece text, e.g. `<_end>`."""
        ids = [int(i) for i in ids]
        if self._hf is not None:
            return self._hf.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        # SentencePiece drops control ids and would show the next document's dummy prefix as a
        # space; decoding each run between specials on its own undoes both.
        parts: list[str] = []
        run: list[int] = []
        for i in ids:
            if i in self.special_ids:
                parts.append(self._sp.decode(run))
                parts.append(self._sp.id_to_piece(i))
                run = []
            else:
                run.append(i)
        parts.append(self._sp.decode(run))
        return "".join(parts)

    def roundtrip_text(self, text: str) -> str:
        """What decode(encode(text)) returns: `text`, except for the characters in `lossy_chars`."""
        if SPM_SPACE in self.lossy_chars:
            return text.replace(SPM_SPACE, " ")
        return text

    def token_id(self, piece: str, *, allow_text_piece: bool = False) -> int:
        """The single id of a structural piece (EOS, separator, FIM sentinel).

        A piece that raw text can also produce (e.g. TeleChat3's `<reserve1>`, a user-defined
        piece) is refused unless `allow_text_piece`: as a marker it would be ambiguous with text.
        """
        if self._sp is not None:
            i = self._sp.piece_to_id(piece)
            found = self._sp.id_to_piece(i) == piece
        else:
            i = self._hf.convert_tokens_to_ids(piece)
            found = i is not None and self._hf.convert_ids_to_tokens(i) == piece
        if not found:
            raise TokenizerError(f"tokenizer {self.name}: {piece!r} is not a single piece of its vocabulary")
        if i not in self.special_ids and not allow_text_piece:
            raise TokenizerError(
                f"tokenizer {self.name}: {piece!r} (id {i}) is an ordinary piece that raw text also "
                f"produces, so it cannot mark structure; use a special piece such as "
                f"{self._example_special()}"
            )
        return i

    def _example_special(self) -> str:
        names = [self.decode([i]) for i in sorted(self.special_ids)[-3:]]
        return ", ".join(names)

    def _check_no_special(self, texts: list[str], ids: list[list[int]]) -> None:
        for text, row in zip(texts, ids):
            bad = self.special_ids.intersection(row)
            if bad:
                raise TokenizerError(
                    f"tokenizer {self.name}: raw text produced special ids {sorted(bad)} "
                    f"(text starts {text[:60]!r}); split_special_tokens did not take effect"
                )


def piece_id(tokenizer: Tokenizer, piece: str, key: str) -> int:
    """`token_id` for a piece named in a config: a refusal is a config error naming the key."""
    try:
        return tokenizer.token_id(piece)
    except TokenizerError as err:
        raise ConfigError(f"{key}: {err}") from None


def load_tokenizer(name_or_path: str, *, offline: bool | None = None) -> Tokenizer:
    """Load a tokenizer from a local folder or the HF hub (cache first), never with remote code."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _load_folder(name_or_path, path)
    if path.exists():
        raise TokenizerError(f"{name_or_path}: is a file; pass the folder that holds tokenizer.model / tokenizer.json")
    if name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") != 1:
        raise TokenizerError(f"{name_or_path}: no such folder (and not a hub repo id of the form owner/name)")
    return _load_folder(name_or_path, _resolve_from_hub(name_or_path, offline))


def _resolve_from_hub(repo_id: str, offline: bool | None) -> Path:
    from huggingface_hub import constants

    if offline is None:
        env = os.environ.get("HF_HUB_OFFLINE", "").upper()
        offline = constants.is_offline_mode() or env in {"1", "ON", "YES", "TRUE"}
    tried = []
    try:
        return _hub_snapshot(repo_id, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not usable from the cache"
        tried.append(f"HF cache: {_short(err)}")
    if offline:
        tried.append("hub: skipped (offline mode)")
    else:
        reason = _probe_hub(constants.ENDPOINT)
        if reason:
            tried.append(f"hub {constants.ENDPOINT}: unreachable ({reason})")
        else:
            try:
                return _hub_snapshot(repo_id, local_files_only=False)
            except Exception as err:  # noqa: BLE001
                tried.append(f"hub: {_short(err)}")
    raise TokenizerError(
        f"could not resolve tokenizer {repo_id!r} offline or from the hub; tried:\n  "
        + "\n  ".join(tried)
        + "\nPass a local folder instead (tokenizer.name_or_path: /path/to/folder) holding "
        "tokenizer.model or tokenizer.json plus tokenizer_config.json."
    )


def _hub_snapshot(repo_id: str, *, local_files_only: bool) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    def fetch(filename: str) -> Path:
        path = hf_hub_download(
            repo_id, filename, local_files_only=local_files_only, etag_timeout=HUB_ETAG_TIMEOUT_S
        )
        return Path(path)

    config = fetch("tokenizer_config.json")
    have_model = False
    for optional in ("tokenizer.model", "tokenizer.json"):
        try:
            fetch(optional)
            have_model = True
        except EntryNotFoundError:  # includes "not in the local cache"
            pass
    if not have_model:
        raise TokenizerError(f"{repo_id}: neither tokenizer.model nor tokenizer.json is available")
    return config.parent


def _probe_hub(endpoint: str) -> str:
    """'' if the hub's host accepts a TCP connection within the timeout, else the reason."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return ""  # the proxy decides; the download's own timeout applies
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as err:
        return str(err) or type(err).__name__
    return ""


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _reload(name: str, path: str, expected_sha256: str) -> Tokenizer:
    tok = _load_folder(name, Path(path))
    if tok.files_sha256 != expected_sha256:
        raise TokenizerError(f"{path}: tokenizer files changed since it was loaded (sha256 differs)")
    return tok


def _load_folder(name: str, folder: Path) -> Tokenizer:
    folder = Path(folder)
    spm_file = folder / "tokenizer.model"
    if not spm_file.is_file() and not (folder / "tokenizer.json").is_file():
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise TokenizerError(f"{folder}: no tokenizer.model or tokenizer.json (found: {present or 'nothing'})")
    sha = files_sha256(folder)
    if spm_file.is_file() and (meta := _plain_spm_config(folder)) is not None:
        return _spm_tokenizer(name, folder, spm_file, meta, sha)
    # transformers announces at import that PyTorch is absent: true, and irrelevant to tokenizers.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoTokenizer

    try:
        meta = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as err:  # noqa: BLE001
        raise TokenizerError(
            f"{folder}: transformers.AutoTokenizer could not load it without remote code ({_short(err)}); "
            "a tokenizer_config.json naming LlamaTokenizer (for tokenizer.model) or "
            "PreTrainedTokenizerFast (for tokenizer.json) is enough"
        ) from err
    if spm_file.is_file():
        return _spm_tokenizer(name, folder, spm_file, meta, sha)
    return _hf_tokenizer(name, folder, meta, sha)


# tokenizer_config.json classes whose special tokens are exactly the config's values.
_PLAIN_SPM_CLASSES = frozenset({"LlamaTokenizer", "LlamaTokenizerFast"})


@dataclass(frozen=True)
class _SpecialTokens:
    bos_token: str | None
    eos_token: str | None
    pad_token: str | None


def _plain_spm_config(folder: Path) -> _SpecialTokens | None:
    """BOS/EOS/PAD straight from tokenizer_config.json, when that is all transformers would read.

    AutoTokenizer on a SentencePiece folder converts the model into a fast tokenizer first
    (transformers 5: ~10 s of CPU, in every task process that loads the tokenizer) only for us to
    read three token names. When the config names a Llama tokenizer class, no remote code, states
    all three tokens, and no other file could override them (special_tokens_map.json,
    added_tokens.json, tokenizer.json), the names are read from the JSON; anything else goes
    through AutoTokenizer as before. tests/test_tokenizer.py checks both ways agree.
    """
    config_file = folder / "tokenizer_config.json"
    if not config_file.is_file() or any((folder / f).exists() for f in
                                        ("special_tokens_map.json", "added_tokens.json", "tokenizer.json")):
        return None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None  # AutoTokenizer reports it
    if not isinstance(config, dict) or config.get("tokenizer_class") not in _PLAIN_SPM_CLASSES or "auto_map" in config:
        return None
    names = []
    for key in ("bos_token", "eos_token", "pad_token"):
        value = config.get(key)
        if isinstance(value, dict):  # a serialized AddedToken
            value = value.get("content")
        if not isinstance(value, str):
            return None  # absent or null: the class default decides, as AutoTokenizer knows it
        names.append(value)
    return _SpecialTokens(*names)


def _spm_tokenizer(name: str, folder: Path, spm_file: Path, meta: Any, sha: str) -> Tokenizer:
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_file))
    special = frozenset(i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i))

    def spm_id(token: str | None, what: str) -> int | None:
        if token is None:
            return None
        i = sp.piece_to_id(token)
        if sp.id_to_piece(i) != token:
            raise TokenizerError(
                f"{folder}: {what} token {token!r} from tokenizer_config.json is not in tokenizer.model"
            )
        return i

    eos = spm_id(meta.eos_token, "eos")
    if eos is None:
        eos = sp.eos_id() if sp.eos_id() >= 0 else None
    if eos is None:
        raise TokenizerError(f"{folder}: no EOS token in tokenizer_config.json or tokenizer.model")
    pad = spm_id(meta.pad_token, "pad")
    if pad is None:
        pad = sp.pad_id() if sp.pad_id() >= 0 else eos
    return Tokenizer(
        name=name, path=str(folder), backend="sentencepiece", vocab_size=sp.get_piece_size(),
        eos_id=eos, pad_id=pad, bos_id=spm_id(meta.bos_token, "bos"), files_sha256=sha,
        special_ids=special, lossy_chars=SPM_SPACE, _sp=sp,
    )


def _hf_tokenizer(name: str, folder: Path, meta: Any, sha: str) -> Tokenizer:
    if not getattr(meta, "is_fast", False):
        raise TokenizerError(f"{folder}: tokenizer.json did not load as a fast tokenizer ({type(meta).__name__})")
    special = {i for i, tok in meta.added_tokens_decoder.items() if tok.special} | set(meta.all_special_ids)
    if meta.eos_token_id is None:
        raise TokenizerError(f"{folder}: tokenizer_config.json names no eos_token")
    return Tokenizer(
        name=name, path=str(folder), backend="hf-fast", vocab_size=len(meta),
        eos_id=meta.eos_token_id,
        pad_id=meta.pad_token_id if meta.pad_token_id is not None else meta.eos_token_id,
        bos_id=meta.bos_token_id, files_sha256=sha, special_ids=frozenset(special), _hf=meta,
    )


def files_sha256(folder: Path) -> str:
    """sha256 over the tokenizer files present, in name order: name, NUL, size, NUL, bytes."""
    digest = hashlib.sha256()
    for fname in sorted(TOKENIZER_FILES):
        path = Path(folder) / fname
        if path.is_file():
            data = path.read_bytes()
            digest.update(f"{fname}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def load_fallback_tokenizer(cache_dir: Path, corpus_texts: Iterable[str]) -> Tokenizer:
    """A small byte-level BPE for the demo when TeleChat3 cannot be resolved offline.

    Trained on `corpus_texts` once and cached in `cache_dir/curation-demo-bpe-16k/`; a later call
    loads the cached files without reading `corpus_texts` (delete the folder to retrain).
    Byte-level with no normalizer, so any UTF-8 text round-trips exactly. Training is
    deterministic: the same texts give a byte-identical tokenizer.json (measured across
    processes and thread counts with tokenizers 0.23).
    """
    folder = Path(cache_dir) / FALLBACK_NAME
    if not (folder / "tokenizer.json").is_file():
        _train_fallback(folder, corpus_texts)
    tok = _load_folder(FALLBACK_NAME, folder)
    if tok.eos_id != 2 or tok.pad_id != 3:
        raise TokenizerError(f"{folder}: fallback tokenizer has EOS {tok.eos_id}, PAD {tok.pad_id}; expected 2, 3")
    return tok


def _train_fallback(folder: Path, corpus_texts: Iterable[str]) -> None:
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    raw = RawTokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=FALLBACK_VOCAB_SIZE,
        special_tokens=list(TELECHAT3_SPECIAL_TOKENS),  # take ids 0..23 in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: nothing is unknown
        show_progress=False,
    )
    raw.train_from_iterator(corpus_texts, trainer)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<_start>", "eos_token": "<_end>", "pad_token": "<_pad>", "unk_token": "<_unk>",
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    raw.save(str(tmp / "tokenizer.json"))
    (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    try:
        os.replace(tmp, folder)
    except OSError:
        if not (folder / "tokenizer.json").is_file():
            raise
        # Another process finished first; its result is the same (deterministic training).
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
