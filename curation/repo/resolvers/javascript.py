"""JavaScript / TypeScript: relative specifiers, extension and index lookup, tsconfig paths.

Intra-repository: relative specifiers ("./x", "../x", "." and ".."), and bare specifiers that
match a `paths` pattern of the tsconfig.json governing the file. A bare specifier that only
resolves through `baseUrl` counts as intra when it resolves (a bare name is otherwise a package).
"""

from __future__ import annotations

import json
import posixpath
import re

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver, join

# Tried in this order after the specifier as written, as TypeScript's and bundlers' resolvers do.
EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.mts",
              ".d.cts", ".json")
# ESM TypeScript writes the emitted name: `import "./x.js"` means ./x.ts.
_EMITTED = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts", ".d.mts"),
            ".cjs": (".cts", ".d.cts")}


class JavaScriptResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self._configs: dict[str, tuple[str | None, list[tuple[str, list[str]]]] | None] = {}
        self._config_dirs = {posixpath.dirname(p) for p in index.named("tsconfig.json")}
        self._config_dirs |= {posixpath.dirname(p) for p in index.named("jsconfig.json")}
        self._config_for_dir: dict[str, str | None] = {}

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        spec = ref.target.split("?", 1)[0].split("#", 1)[0]
        if spec in (".", "..") or spec.startswith(("./", "../")):
            base = join(posixpath.dirname(path), spec)
            found = self.lookup(base) if base is not None else None
            return True, [found] if found else []
        config = self._config(posixpath.dirname(path))
        if config is None or not spec:
            return False, []
        base_url, patterns = config
        for pattern, substitutes in patterns:
            star = _match(pattern, spec)
            if star is None:
                continue
            for substitute in substitutes:
                found = self.lookup(substitute.replace("*", star, 1))
                if found:
                    return True, [found]
            return True, []
        if base_url is not None:
            found = self.lookup(join(base_url, spec))
            if found:
                return True, [found]
        return False, []

    def lookup(self, base: str | None) -> str | None:
        """The file a module path names: as written, with an extension, or its index file."""
        if base is None:
            return None
        paths = self.index.paths
        if base in paths:
            return base
        stem, ext = posixpath.splitext(base)
        for alternative in _EMITTED.get(ext, ()):
            if stem + alternative in paths:
                return stem + alternative
        for extension in EXTENSIONS:
            if base + extension in paths:
                return base + extension
        for extension in EXTENSIONS:
            index = posixpath.join(base, "index" + extension) if base else "index" + extension
            if index in paths:
                return index
        return None

    # --- tsconfig ------------------------------------------------------------------------

    def _config(self, folder: str):
        """(baseUrl, [(pattern, substitutes)]) of the nearest tsconfig/jsconfig, or None."""
        config_dir = self._config_dir(folder)
        if config_dir is None:
            return None
        if config_dir not in self._configs:
            self._configs[config_dir] = self._load(config_dir)
        return self._configs[config_dir]

    def _config_dir(self, folder: str) -> str | None:
        if folder not in self._config_for_dir:
            if folder in self._config_dirs:
                found: str | None = folder
            else:
                found = self._config_dir(posixpath.dirname(folder)) if folder else None
            self._config_for_dir[folder] = found
        return self._config_for_dir[folder]

    def _load(self, config_dir: str):
        for name in ("tsconfig.json", "jsconfig.json"):
            path = posixpath.join(config_dir, name) if config_dir else name
            if path in self.index.paths:
                return self._load_file(path, depth=0)
        return None

    def _load_file(self, path: str, depth: int):
        """(baseUrl, patterns) of one config file, following a relative `extends` chain."""
        config_dir = posixpath.dirname(path)
        options = _compiler_options(self.index.read_text(path))
        base_url = join(config_dir, options["baseUrl"]) if isinstance(options.get("baseUrl"), str) else None
        paths = options.get("paths")
        extends = options.get("__extends__")
        inherited = None
        # Only relative extends: a package name ("@tsconfig/node18") lives outside the repository.
        if isinstance(extends, str) and extends.startswith(".") and depth < 8:
            parent = join(config_dir, extends if extends.endswith(".json") else extends + ".json")
            if parent is not None and parent in self.index.paths:
                inherited = self._load_file(parent, depth + 1)
        if inherited is not None:
            base_url = base_url if base_url is not None else inherited[0]
            if not isinstance(paths, dict):
                return base_url, inherited[1]
        patterns = []
        if isinstance(paths, dict):
            # TypeScript resolves `paths` relative to baseUrl, or to the tsconfig's folder without it.
            origin = base_url if base_url is not None else config_dir
            for pattern, substitutes in paths.items():
                if isinstance(substitutes, list):
                    patterns.append((pattern, [join(origin, s) or "" for s in substitutes if isinstance(s, str)]))
            # The longest prefix wins, as in TypeScript.
            patterns.sort(key=lambda item: -len(item[0].split("*", 1)[0]))
        return base_url, patterns


def _match(pattern: str, spec: str) -> str | None:
    """What `*` matched, "" for an exact pattern, None when `spec` does not match."""
    if "*" not in pattern:
        return "" if pattern == spec else None
    prefix, suffix = pattern.split("*", 1)
    if spec.startswith(prefix) and spec.endswith(suffix) and len(spec) >= len(prefix) + len(suffix):
        return spec[len(prefix):len(spec) - len(suffix)]
    return None


_JSONC = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _compiler_options(text: str | None) -> dict:
    """compilerOptions of a tsconfig (JSON with comments and trailing commas); {} when unreadable."""
    if not text:
        return {}
    stripped = _JSONC.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    stripped = _TRAILING_COMMA.sub(r"\1", stripped)
    try:
        data = json.loads(stripped)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    options = dict(data.get("compilerOptions") or {})
    options["__extends__"] = data.get("extends")
    return options
