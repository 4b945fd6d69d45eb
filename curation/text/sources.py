"""Real prose that a machine has offline, or that Debian's package client fetches: the readers.

    readmes             the long description (README) of every installed Python distribution
    python_reference    Python's language reference as `help()` shows it (`pydoc_data.topics`)
    stdlib_docstrings   the docstrings of the standard library's modules (read with `ast`, nothing
                        is imported), one document per module
    html                HTML files through trafilatura (below: why that extractor)
    dictd               dictionary databases (`*.index` + `*.dict[.dz]`), entries in order

Each reader yields `TextItem`s: an id stable across runs, the text, where it came from, and a
`group` (the file or module) so a train/test split never puts parts of one file on both sides.

Why trafilatura for HTML: it extracts the main content and drops the navigation, sidebars and
footers of a page (the boilerplate that the text filters would otherwise have to catch), keeps
code blocks and tables as text, and it is what FineWeb extracts Common Crawl with, so
web-scale HTML and documentation pages go through the same extractor. inscriptis renders the
whole page layout faithfully, menus included, which is the opposite of what a corpus needs.
Measured here: 3.0 MB of Python 3.11 library pages in 5.0 s (0.6 MB/s of HTML, one core).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from curation.langid import default_cache_dir

HTML_SUFFIXES = (".html", ".htm")
# Standard-library folders whose docstrings are not documentation of the library itself.
STDLIB_SKIP = frozenset({"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3", "turtledemo"})


@dataclass(frozen=True)
class TextItem:
    id: str
    text: str
    path: str  # the file (or topic, or module) it came from
    group: str  # items of one group stay on one side of a train/test split


def installed_readmes(names: list[str] | None = None) -> Iterator[TextItem]:
    """The README of each installed distribution (its METADATA body or `Description` field)."""
    from importlib import metadata

    from curation.ingest.sources import normalize_dist_name

    wanted = {normalize_dist_name(n) for n in names} if names else None
    seen = set()
    for dist in sorted(metadata.distributions(), key=lambda d: normalize_dist_name(d.metadata.get("Name") or "")):
        name = normalize_dist_name(dist.metadata.get("Name") or "")
        if not name or name in seen or (wanted is not None and name not in wanted):
            continue
        seen.add(name)
        text = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        if text.strip():
            yield TextItem(f"readme/{name}", text.strip(), f"{name}/METADATA", f"readme/{name}")


def python_reference() -> Iterator[TextItem]:
    """Python's language reference, one topic per item (what `help('with')` prints)."""
    from pydoc_data.topics import topics

    for topic in sorted(topics):
        text = topics[topic].strip()
        if text:
            yield TextItem(f"pyref/{topic}", text, f"pydoc_data.topics/{topic}", f"pyref/{topic}")


def stdlib_docstrings(root: str | Path | None = None, want: Callable[[str], bool] | None = None,
                      cache: DocstringCache | None = None) -> Iterator[TextItem]:
    """The docstrings of each standard-library module, module first, in source order. `want(group)`:
    parse only the modules a task reads (parsing is what costs). The text of each module is cached
    by its content (`DocstringCache`): the same stdlib is parsed once, not in every run."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    cache = cache or DocstringCache()
    for path in _stdlib_modules(root):
        rel = path.relative_to(root)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        if want is not None and not want(f"stdlib/{module}"):
            continue
        text = cache.text(path.read_bytes())
        if text:
            yield TextItem(f"stdlib/{module}", text, rel.as_posix(), f"stdlib/{module}")


def module_docstrings(source: bytes) -> str | None:
    """The module's, classes' and functions' docstrings in `ast.walk`'s order, joined by a blank
    line; None when the file does not parse (a few stdlib files are deliberately invalid)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    parts = []
    for node in _documented_nodes(tree):
        doc = ast.get_docstring(node)
        if doc and doc.strip():
            parts.append(doc.strip())
    return "\n\n".join(parts)


class DocstringCache:
    """`module_docstrings(source)` kept on disk by content:

        $CURATION_CACHE/text/stdlib/<blake2b of the source, this file and the Python version>.json

    The key holds this file's code and `sys.version` (`ast.get_docstring` cleans indentation by
    the interpreter's rules), so a cached text is what parsing would give now. A file that
    cannot be read is parsed again; a cache that cannot be written is left alone (the texts are
    the same, only slower). CURATION_CACHE="" turns it off."""

    def __init__(self) -> None:
        self.folder = None if os.environ.get("CURATION_CACHE") == "" else default_cache_dir() / "text" / "stdlib"
        self.salt = hashlib.blake2b(Path(__file__).read_bytes() + sys.version.encode(), digest_size=16).digest()
        self.hits = self.parsed = 0

    def text(self, source: bytes) -> str | None:
        if self.folder is None:
            self.parsed += 1
            return module_docstrings(source)
        key = hashlib.blake2b(source, key=self.salt, digest_size=20).hexdigest()
        path = self.folder / f"{key}.json"
        try:
            text = json.loads(path.read_text(encoding="utf-8"))["text"]
            if text is None or isinstance(text, str):
                self.hits += 1
                return text
        except (OSError, ValueError, KeyError, TypeError):
            pass  # absent or unreadable: parsed again and rewritten
        text = module_docstrings(source)
        self.parsed += 1
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"text": text}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
        return text


def _stdlib_modules(root: Path) -> list[Path]:
    """The `*.py` files under `root` outside STDLIB_SKIP folders, in `sorted(root.rglob("*.py"))`
    order. The skipped folders are never entered: site-packages lives under the stdlib folder of
    many installs and holds most of its files (here 13,353 files listed to keep 580)."""
    found = []
    for folder, dirs, files in os.walk(root):  # like rglob: symlinked folders are not entered
        dirs[:] = [d for d in dirs if d not in STDLIB_SKIP]
        found.extend(Path(folder, f) for f in files if f.endswith(".py"))
    return sorted(found)


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _documented_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """The module, class and function nodes of a tree in `ast.walk`'s order (breadth first), without
    descending into expressions: a definition is a statement and never sits inside an expression,
    and expressions are most of a tree's nodes (walking them was half the reader's time). Skipping
    subtrees that hold no definition keeps every definition's depth and its order within a depth,
    so the docstrings come out in exactly `ast.walk`'s order."""
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        if isinstance(node, _DOCUMENTED):
            yield node
        todo.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, ast.expr))


def html_to_text(html: str) -> str:
    """The main text of an HTML page (trafilatura: navigation and page chrome removed)."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True) or ""


def html_files(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in HTML_SUFFIXES and p.is_file())


def read_html(path: Path, root: Path, prefix: str = "html") -> TextItem:
    """One HTML file as an item; its text may be empty (a page with no main content)."""
    rel = path.relative_to(root).as_posix() if path != root else path.name
    html = path.read_bytes().decode("utf-8", errors="replace")
    return TextItem(f"{prefix}/{rel}", html_to_text(html), rel, f"{prefix}/{rel}")


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def dictd_number(value: str) -> int:
    """dictd's index numbers: base64 digits, most significant first (not RFC 4648 bytes)."""
    n = 0
    for ch in value:
        n = n * 64 + _B64.index(ch)
    return n


def dictd_entries(index: Path) -> Iterator[tuple[str, str]]:
    """(headword, entry) of a dictd database, in index order; the database's own 00-database
    entries (its name, URL, info) are left out."""
    body_path = next((p for p in (index.with_suffix(".dict.dz"), index.with_suffix(".dict")) if p.exists()), None)
    if body_path is None:
        raise FileNotFoundError(f"{index}: no {index.stem}.dict(.dz) beside it")
    raw = body_path.read_bytes()
    body = gzip.decompress(raw) if body_path.suffix == ".dz" else raw
    seen = set()
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0].startswith("00-database") or fields[0].startswith("00database"):
            continue
        start, size = dictd_number(fields[1]), dictd_number(fields[2])
        if (start, size) in seen:  # several headwords can point at one entry
            continue
        seen.add((start, size))
        yield fields[0], body[start:start + size].decode("utf-8", errors="replace").strip()


def dictd_items(root: str | Path, entries_per_item: int = 10) -> Iterator[TextItem]:
    """Entries of every dictd database under `root`, `entries_per_item` per item (a single entry
    is often one line: too short to judge as a document)."""
    root = Path(root)
    for index in sorted(root.rglob("*.index")):
        name = index.stem
        block, heads = [], []
        for k, (head, entry) in enumerate(dictd_entries(index)):
            block.append(entry)
            heads.append(head)
            if len(block) == entries_per_item:
                yield TextItem(f"dictd/{name}/{k // entries_per_item}", "\n\n".join(block), f"{name}:{heads[0]}",
                               f"dictd/{name}/{k // (entries_per_item * 10)}")
                block, heads = [], []
        if block:
            yield TextItem(f"dictd/{name}/end", "\n\n".join(block), f"{name}:{heads[0]}", f"dictd/{name}/end")


def fetch_debian_packages(packages: list[str], cache_dir: str | Path) -> dict[str, Path]:
    """`apt-get download` the packages into `cache_dir/debs` and unpack each into
    `cache_dir/pkgs/<package>` (once: a package's folder marks it done). package -> its root.
    Raises RuntimeError with apt's message when a package cannot be fetched."""
    cache = Path(cache_dir)
    debs = cache / "debs"
    roots = {p: cache / "pkgs" / p for p in packages}
    missing = [p for p in packages if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        debs.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True, text=True, check=False)
        still = [p for p in missing if not list(debs.glob(f"{p}_*.deb"))]
        if still:
            raise RuntimeError(f"apt-get download {' '.join(still)} failed in {debs} (run `apt-get update` first?): "
                               f"{proc.stderr.strip()[-500:]}")
    for p, root in roots.items():
        if not root.exists():
            tmp = root.with_name(root.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)  # a half-unpacked package from a killed run
            tmp.mkdir(parents=True)
            for deb in debs.glob(f"{p}_*.deb"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
            tmp.rename(root)
    return roots


def debian_package_documents(package: str, root: Path) -> tuple[list[Path], Path | None]:
    """(HTML pages, dictd folder or None) that an unpacked package installs under usr/share:
    usr/share/doc/<package>/ for most manuals, usr/share/<name>/ for some (the Debian Reference).
    Symlinked folders are not followed (a manual linked from usr/share/doc is read once). A package
    that installs neither is an error naming it: reading nothing from it would go unnoticed."""
    share = root / "usr" / "share"
    pages = html_files(share) if share.exists() else []
    dictd = share / "dictd" if (share / "dictd").exists() else None
    if not pages and dictd is None:
        raise ValueError(f"Debian package {package} ({root}) installs no HTML page and no dictd database under "
                         "usr/share: it is not a documentation package the debian_docs input can read")
    return pages, dictd


def debian_package_items(packages: list[str], cache_dir: str | Path) -> Iterator[TextItem]:
    """The HTML pages and dictd databases that the packages install (fetched first)."""
    for package, root in fetch_debian_packages(packages, cache_dir).items():
        pages, dictd = debian_package_documents(package, root)
        for path in pages:
            yield read_html(path, root, f"deb/{package}")
        if dictd is not None:
            for item in dictd_items(dictd):
                yield TextItem(f"deb/{package}/{item.id}", item.text, item.path, f"deb/{package}/{item.group}")
