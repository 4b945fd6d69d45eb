"""Which language a file is in, from its path and first bytes (vendored, generated and binary
files are told apart in `curation.ingest.filetypes`).

Called once per file during ingest, so everything here is dict lookups and a few
string operations; nothing reads the filesystem. Paths are repo-relative with "/"
separators (a leading "./" or Windows "\\" is tolerated).
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------
# Languages and their kind
# ---------------------------------------------------------------------------

# Kinds follow GitHub linguist's types (programming / markup / data / prose), with
# "config" split out of "data": build files and settings are written by hand and
# are worth keeping in a code mixture, unlike data dumps.
_KINDS: dict[str, tuple[str, ...]] = {
    "code": (
        "python", "cython", "javascript", "typescript", "tsx", "java", "c", "cpp", "csharp",
        "go", "rust", "ruby", "php", "shell", "fish", "powershell", "batchfile", "kotlin",
        "swift", "scala", "objective-c", "objective-cpp", "dart", "lua", "perl", "raku", "r",
        "haskell", "elixir", "erlang", "clojure", "julia", "groovy", "sql", "ocaml", "fsharp",
        "visual-basic", "fortran", "matlab", "assembly", "zig", "nim", "crystal", "vue",
        "svelte", "solidity", "cuda", "verilog", "systemverilog", "vhdl", "elm", "lisp",
        "emacs-lisp", "scheme", "racket", "tcl", "coffeescript", "pascal", "d", "ada",
        "cobol", "awk", "vim-script", "haxe", "purescript", "standard-ml", "idris", "agda",
        "lean", "isabelle", "gleam", "odin", "mojo", "v", "hack", "apex", "gdscript", "glsl",
        "hlsl", "wgsl", "metal", "llvm", "webassembly", "prolog", "smalltalk", "applescript",
        "reason", "rescript", "qml", "move", "cairo", "vyper", "puppet", "jupyter-notebook",
    ),
    "markup": (
        "html", "css", "scss", "sass", "less", "stylus", "tex", "bibtex", "xml", "svg",
        "xslt", "roff", "jinja", "handlebars", "mustache", "erb", "ejs", "twig", "liquid",
        "pug", "haml", "razor", "astro",
    ),
    "config": (
        "json", "json5", "yaml", "toml", "ini", "properties", "dotenv", "dockerfile",
        "makefile", "cmake", "meson", "nix", "hcl", "protobuf", "thrift", "graphql",
        "starlark", "gradle", "go-module", "ignore-list", "editorconfig", "nginx",
        "autoconf", "automake", "xcode-config",
    ),
    "data": ("csv", "tsv", "jsonl", "go-checksums", "gettext", "diff"),
    "prose": ("markdown", "rst", "asciidoc", "org", "text"),
}
LANGUAGE_KIND: dict[str, str] = {lang: kind for kind, langs in _KINDS.items() for lang in langs}


def language_kind(lang: str | None) -> str:
    """"code", "markup", "config", "data" or "prose"; "unknown" for None or an unknown id."""
    return LANGUAGE_KIND.get(lang, "unknown") if lang else "unknown"


# Extensions whose case carries meaning: ".C"/".H" are C++ by Unix convention while
# ".c"/".h" are C. Looked up before the lowercase table.
_CASE_SENSITIVE_EXTENSIONS: dict[str, str] = {
    ".C": "cpp", ".H": "cpp", ".PL": "perl",
}

# Lowercase extension -> language. Where an extension is shared (".h", ".m", ".pl",
# ".v", ".d", ".cls"), this picks the language that owns most such files on GitHub;
# _disambiguate() corrects the few that the first bytes settle cheaply.
_EXTENSIONS: dict[str, str] = {}


def _ext(lang: str, *exts: str) -> None:
    for ext in exts:
        assert ext not in _EXTENSIONS, f"duplicate extension {ext}"
        _EXTENSIONS[ext] = lang


_ext("python", ".py", ".pyi", ".pyw", ".py3", ".pyt", ".gyp", ".gypi")
_ext("cython", ".pyx", ".pxd", ".pxi")
_ext("javascript", ".js", ".mjs", ".cjs", ".jsx", ".es6", ".jsm")
_ext("typescript", ".ts", ".mts", ".cts")
_ext("tsx", ".tsx")
_ext("java", ".java")
_ext("c", ".c", ".h")
_ext("cpp", ".cpp", ".cc", ".cxx", ".c++", ".cp", ".hpp", ".hh", ".hxx", ".h++", ".inl",
     ".ipp", ".tcc", ".tpp", ".ixx", ".cppm")
_ext("csharp", ".cs", ".csx")
_ext("go", ".go")
_ext("rust", ".rs")
_ext("ruby", ".rb", ".rake", ".gemspec", ".ru", ".rbi", ".podspec", ".jbuilder", ".thor")
_ext("php", ".php", ".php3", ".php4", ".php5", ".php7", ".phtml", ".phpt")
_ext("shell", ".sh", ".bash", ".zsh", ".ksh", ".command", ".bats", ".ebuild", ".eclass")
_ext("fish", ".fish")
_ext("powershell", ".ps1", ".psm1", ".psd1")
_ext("batchfile", ".bat", ".cmd")
_ext("kotlin", ".kt", ".kts", ".ktm")
_ext("swift", ".swift")
_ext("scala", ".scala", ".sc", ".sbt")
_ext("objective-c", ".m")
_ext("objective-cpp", ".mm")
_ext("dart", ".dart")
_ext("lua", ".lua", ".rockspec", ".luau")
_ext("perl", ".pl", ".pm", ".t", ".pod", ".psgi")
_ext("raku", ".raku", ".rakumod", ".p6", ".pm6")
_ext("r", ".r", ".rd", ".rmd", ".rprofile")
_ext("haskell", ".hs", ".lhs", ".hsc", ".hs-boot")
_ext("elixir", ".ex", ".exs", ".heex", ".leex")
_ext("erlang", ".erl", ".hrl", ".escript", ".app.src")
_ext("clojure", ".clj", ".cljs", ".cljc", ".edn")
_ext("julia", ".jl")
_ext("groovy", ".groovy", ".gvy", ".gy", ".gsh", ".jenkinsfile")
_ext("gradle", ".gradle")
_ext("sql", ".sql", ".psql", ".pgsql", ".mysql", ".plsql", ".ddl", ".hql", ".cql")
_ext("ocaml", ".ml", ".mli", ".mll", ".mly", ".eliom")
_ext("fsharp", ".fs", ".fsi", ".fsx", ".fsscript")
_ext("visual-basic", ".vb", ".vbs", ".bas", ".vba")
_ext("fortran", ".f", ".for", ".f77", ".f90", ".f95", ".f03", ".f08", ".fpp", ".ftn")
_ext("assembly", ".asm", ".s", ".nasm", ".a51")
_ext("zig", ".zig", ".zon")
_ext("nim", ".nim", ".nims", ".nimble")
_ext("crystal", ".cr")
_ext("vue", ".vue")
_ext("svelte", ".svelte")
_ext("astro", ".astro")
_ext("solidity", ".sol")
_ext("vyper", ".vy")
_ext("move", ".move")
_ext("cairo", ".cairo")
_ext("cuda", ".cu", ".cuh")
_ext("verilog", ".v", ".vh")
_ext("systemverilog", ".sv", ".svh")
_ext("vhdl", ".vhd", ".vhdl", ".vho")
_ext("elm", ".elm")
_ext("lisp", ".lisp", ".lsp", ".cl", ".asd")
_ext("emacs-lisp", ".el", ".emacs")
_ext("scheme", ".scm", ".ss", ".sld", ".sls", ".sps")
_ext("racket", ".rkt", ".rktl", ".rktd")
_ext("tcl", ".tcl", ".tk", ".itcl")
_ext("coffeescript", ".coffee", ".litcoffee", ".cson", ".iced")
_ext("pascal", ".pas", ".dpr", ".lpr", ".lfm")
_ext("puppet", ".pp")
_ext("d", ".d", ".di")
_ext("ada", ".adb", ".ads", ".ada")
_ext("cobol", ".cob", ".cbl", ".cpy")
_ext("awk", ".awk", ".gawk", ".mawk", ".nawk")
_ext("vim-script", ".vim")
_ext("haxe", ".hx", ".hxsl")
_ext("purescript", ".purs")
_ext("standard-ml", ".sml")
_ext("idris", ".idr", ".lidr")
_ext("agda", ".agda")
_ext("lean", ".lean")
_ext("isabelle", ".thy")
_ext("gleam", ".gleam")
_ext("odin", ".odin")
_ext("mojo", ".mojo", ".🔥")
_ext("hack", ".hack", ".hhi")
_ext("apex", ".trigger", ".apex")
_ext("gdscript", ".gd")
_ext("glsl", ".glsl", ".vert", ".frag", ".geom", ".comp", ".tesc", ".tese", ".vsh", ".fsh")
_ext("hlsl", ".hlsl", ".fx", ".fxh", ".hlsli")
_ext("wgsl", ".wgsl")
_ext("metal", ".metal")
_ext("llvm", ".ll")
_ext("webassembly", ".wat", ".wast")
_ext("prolog", ".prolog", ".yap")
_ext("smalltalk", ".st")
_ext("applescript", ".applescript")
_ext("reason", ".re", ".rei")
_ext("rescript", ".resi")
_ext("qml", ".qml", ".qbs")
_ext("jupyter-notebook", ".ipynb")
# markup
_ext("html", ".html", ".htm", ".xhtml", ".shtml")
_ext("css", ".css")
_ext("scss", ".scss")
_ext("sass", ".sass")
_ext("less", ".less")
_ext("stylus", ".styl")
_ext("tex", ".tex", ".sty", ".cls", ".ltx", ".dtx", ".bbx", ".cbx")
_ext("bibtex", ".bib")
_ext("xml", ".xml", ".xsd", ".plist", ".csproj", ".vbproj", ".fsproj", ".vcxproj", ".props",
     ".targets", ".nuspec", ".resx", ".xaml", ".wsdl", ".xib", ".storyboard", ".rss", ".atom",
     ".kml", ".gpx", ".pom", ".iml", ".ui", ".qrc", ".glade", ".tld", ".jelly", ".launch",
     ".urdf")
_ext("svg", ".svg")
_ext("xslt", ".xsl", ".xslt")
_ext("roff", ".roff", ".man", ".1", ".2", ".3", ".4", ".5", ".6", ".7", ".8", ".9", ".me", ".ms", ".mdoc")
_ext("jinja", ".j2", ".jinja", ".jinja2")
_ext("handlebars", ".hbs", ".handlebars")
_ext("mustache", ".mustache")
_ext("erb", ".erb", ".rhtml")
_ext("ejs", ".ejs")
_ext("twig", ".twig")
_ext("liquid", ".liquid")
_ext("pug", ".pug", ".jade")
_ext("haml", ".haml")
_ext("razor", ".cshtml", ".razor")
# config
_ext("json", ".json", ".jsonc", ".jsonld", ".geojson", ".topojson", ".webmanifest",
     ".har", ".avsc", ".babelrc", ".eslintrc", ".jshintrc", ".code-workspace")
_ext("json5", ".json5")
_ext("jsonl", ".jsonl", ".ndjson")
_ext("yaml", ".yml", ".yaml", ".clang-format", ".clang-tidy", ".sublime-syntax")
_ext("toml", ".toml")
_ext("ini", ".ini", ".cfg", ".prefs", ".pylintrc", ".flake8", ".coveragerc", ".npmrc",
     ".gitconfig", ".gitmodules", ".buckconfig", ".desktop", ".service", ".inf")
_ext("properties", ".properties")
_ext("dotenv", ".env")
_ext("dockerfile", ".dockerfile", ".containerfile")
_ext("makefile", ".mk", ".mak", ".make", ".mkfile")
_ext("cmake", ".cmake", ".cmake.in")
_ext("meson", ".meson")
_ext("nix", ".nix")
_ext("hcl", ".hcl", ".tf", ".tfvars", ".nomad")
_ext("protobuf", ".proto")
_ext("thrift", ".thrift")
_ext("graphql", ".graphql", ".gql", ".graphqls")
_ext("starlark", ".bzl", ".star", ".bazel")
_ext("autoconf", ".ac", ".m4")
_ext("automake", ".am")
_ext("xcode-config", ".xcconfig", ".pbxproj")
_ext("nginx", ".nginxconf", ".vhost")
_ext("editorconfig", ".editorconfig")
_ext("ignore-list", ".gitignore", ".dockerignore", ".npmignore", ".eslintignore",
     ".prettierignore", ".hgignore", ".gcloudignore", ".slugignore", ".vscodeignore")
# data and prose
_ext("csv", ".csv")
_ext("tsv", ".tsv", ".tab")
_ext("gettext", ".po", ".pot")
_ext("diff", ".diff", ".patch")
_ext("markdown", ".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx", ".ronn", ".workbook")
_ext("rst", ".rst", ".rest")
_ext("asciidoc", ".adoc", ".asciidoc")
_ext("org", ".org")
_ext("text", ".txt", ".text")

# Exact file names, matched case-sensitively (these tools are case-sensitive too).
_FILENAMES: dict[str, str] = {
    "Makefile": "makefile", "makefile": "makefile", "GNUmakefile": "makefile",
    "BSDmakefile": "makefile", "Kbuild": "makefile", "Makefile.am": "automake",
    "Makefile.in": "makefile", "Makefile.inc": "makefile", "Makefile.frag": "makefile",
    "Dockerfile": "dockerfile", "Containerfile": "dockerfile", "dockerfile": "dockerfile",
    "CMakeLists.txt": "cmake", "meson.build": "meson", "meson_options.txt": "meson",
    "meson.options": "meson",
    "Rakefile": "ruby", "Gemfile": "ruby", "Guardfile": "ruby", "Podfile": "ruby",
    "Vagrantfile": "ruby", "Brewfile": "ruby", "Fastfile": "ruby", "Appfile": "ruby",
    "Capfile": "ruby", "Berksfile": "ruby", "Thorfile": "ruby", "Dangerfile": "ruby",
    "Steepfile": "ruby", "Appraisals": "ruby", "config.ru": "ruby",
    "Jenkinsfile": "groovy",
    "BUILD": "starlark", "BUILD.bazel": "starlark", "WORKSPACE": "starlark",
    "WORKSPACE.bazel": "starlark", "MODULE.bazel": "starlark", "BUCK": "starlark",
    "Tiltfile": "starlark",
    "go.mod": "go-module", "go.work": "go-module", "go.sum": "go-checksums",
    "go.work.sum": "go-checksums",
    "Cargo.lock": "toml", "poetry.lock": "toml", "uv.lock": "toml", "pdm.lock": "toml",
    "Pipfile": "toml", "Pipfile.lock": "json", "flake.lock": "json", "composer.lock": "json",
    "package-lock.json": "json", "pnpm-lock.yaml": "yaml", "Gemfile.lock": "text",
    ".bashrc": "shell", ".bash_profile": "shell", ".bash_logout": "shell",
    ".bash_aliases": "shell", ".profile": "shell", ".zshrc": "shell", ".zprofile": "shell",
    ".zshenv": "shell", ".zlogin": "shell", ".zlogout": "shell", ".kshrc": "shell",
    ".mkshrc": "shell", "bashrc": "shell", "zshrc": "shell", "PKGBUILD": "shell",
    "APKBUILD": "shell", "configure": "shell", "gradlew": "shell",
    ".vimrc": "vim-script", "_vimrc": "vim-script", ".gvimrc": "vim-script",
    ".exrc": "vim-script", ".emacs": "emacs-lisp", "_emacs": "emacs-lisp",
    ".gitignore": "ignore-list", ".dockerignore": "ignore-list", ".npmignore": "ignore-list",
    ".gitattributes": "ignore-list", ".hgignore": "ignore-list",
    ".editorconfig": "editorconfig", ".gitmodules": "ini", ".gitconfig": "ini",
    ".npmrc": "ini", ".pylintrc": "ini", ".flake8": "ini", ".coveragerc": "ini",
    "pylintrc": "ini", "setup.cfg": "ini", "tox.ini": "ini",
    ".env": "dotenv", ".babelrc": "json", ".eslintrc": "json", ".jshintrc": "json",
    ".prettierrc": "json", "composer.json": "json", "tsconfig.json": "json",
    ".clang-format": "yaml", ".clang-tidy": "yaml",
    "configure.ac": "autoconf", "configure.in": "autoconf",
    "nginx.conf": "nginx", "Snakefile": "python", "SConstruct": "python",
    "SConscript": "python", "wscript": "python", "DEPS": "python",
    "Justfile": "makefile", "justfile": "makefile",
    "Project.toml": "toml", "Manifest.toml": "toml",
    "build.gradle": "gradle", "settings.gradle": "gradle",
    "default.nix": "nix", "shell.nix": "nix",
    "cpanfile": "perl", "Makefile.PL": "perl", "Build.PL": "perl",
    "Emakefile": "erlang", "rebar.config": "erlang",
    "DESCRIPTION": "text", "NAMESPACE": "r", ".Rprofile": "r",
    "METADATA": "text", "PKG-INFO": "text", "WHEEL": "text", "RECORD": "csv",
    "INSTALLER": "text", "REQUESTED": "text",
}

# Prose files that carry no extension; matched case-insensitively ("README", "ChangeLog").
_PROSE_NAMES = frozenset({
    "readme", "license", "licence", "copying", "copyright", "unlicense", "authors",
    "contributors", "changelog", "changes", "news", "history", "notice", "install",
    "todo", "thanks", "patents", "maintainers", "credits", "owners", "codeowners",
    "version",
})

# Interpreter (basename, version suffix stripped) -> language.
_INTERPRETERS: dict[str, str] = {
    "python": "python", "pypy": "python", "jython": "python",
    "node": "javascript", "nodejs": "javascript", "deno": "typescript", "bun": "javascript",
    "ts-node": "typescript", "tsx": "typescript",
    "perl": "perl", "raku": "raku", "perl6": "raku",
    "ruby": "ruby", "jruby": "ruby", "macruby": "ruby", "rake": "ruby",
    "php": "php",
    "sh": "shell", "bash": "shell", "dash": "shell", "ksh": "shell", "mksh": "shell",
    "ash": "shell", "zsh": "shell", "fish": "fish", "busybox": "shell",
    "pwsh": "powershell", "powershell": "powershell",
    "lua": "lua", "luajit": "lua",
    "rscript": "r", "r": "r", "littler": "r",
    "tclsh": "tcl", "wish": "tcl", "expect": "tcl", "jimsh": "tcl",
    "awk": "awk", "gawk": "awk", "mawk": "awk", "nawk": "awk",
    "make": "makefile", "gmake": "makefile",
    "julia": "julia", "groovy": "groovy", "scala": "scala", "kotlin": "kotlin",
    "elixir": "elixir", "escript": "erlang", "racket": "racket", "guile": "scheme",
    "chicken": "scheme", "csi": "scheme", "gosh": "scheme", "sbcl": "lisp", "clisp": "lisp",
    "ecl": "lisp", "runhaskell": "haskell", "runghc": "haskell", "stack": "haskell",
    "cabal": "haskell", "swift": "swift", "osascript": "applescript",
    "crystal": "crystal", "dart": "dart", "ocaml": "ocaml", "ocamlrun": "ocaml",
    "octave": "matlab", "nim": "nim", "clojure": "clojure", "bb": "clojure",
    "coffee": "coffeescript", "fennel": "lisp", "zig": "zig",
}

_PROSE_STEM = re.compile(r"[-_.]")
_SHEBANG_VERSION = re.compile(r"[\d.]+$")
_M_OBJC = re.compile(rb"^\s*(?:#\s*import|#\s*include|@interface|@implementation|@protocol)", re.M)
_M_MATLAB = re.compile(rb"^\s*(?:function\b|%|classdef\b)", re.M)
_MAKE_DEPENDENCY = re.compile(rb"^[\w./+-]+\.o\s*:", re.M)
# ".h" is shared by C, C++ and Objective-C (GitHub linguist settles it from the content, in this
# order). A C++ library's headers (Eigen, Abseil, fmt, GoogleTest) are C++ in every respect that
# matters downstream: per-language filters, the language mix, and the parser that checks syntax.
# Markers only C++ (or Objective-C) has; `__cplusplus` guards and `extern "C"` are not among them,
# since C headers carry them to be includable from C++.
_H_OBJC = re.compile(
    r"^[ \t]*(?:@(?:interface|class|protocol|property|end|implementation|selector|synthesize)\b|#[ \t]*import[ \t]+[<\"])",
    re.M)
_H_CPP = re.compile(
    r"^[ \t]*#[ \t]*include[ \t]*<(?:algorithm|array|atomic|bitset|chrono|c(?:assert|limits|math|stddef|stdint|stdio|"
    r"stdlib|string)|complex|deque|exception|functional|f?stream|initializer_list|io(?:manip|fwd|stream)|[io]stream|"
    r"iterator|limits|list|map|memory|mutex|new|numeric|optional|queue|set|sstream|stack|stdexcept|string|"
    r"string_view|thread|tuple|type_traits|typeinfo|unordered_(?:map|set)|utility|variant|vector)>"
    r"|^[ \t]*template[ \t]*<|^[ \t]*(?:inline[ \t]+)?namespace(?:[ \t]+[\w:]+)?[ \t]*\{|^[ \t]*using[ \t]+namespace\b"
    r"|^[ \t]*(?:class|struct)[ \t]+\w+[ \t]*(?:final[ \t]*)?:[ \t]*(?:public|private|protected)\b"
    r"|^[ \t]*class[ \t]+\w+[ \t]*\{|^[ \t]*(?:public|private|protected)[ \t]*:|\bstd::\w|\bconstexpr\b"
    r"|^[ \t]*(?:virtual|explicit|friend)[ \t]", re.M)
# A header's markers sit near its top (includes, the namespace); the whole of a huge one is not needed.
HEADER_SCAN_CHARS = 64 << 10


def header_language(text: str) -> str:
    """The language of a ".h" file from its content: "objective-c", "cpp" or "c"."""
    head = text[:HEADER_SCAN_CHARS]
    if _H_OBJC.search(head):
        return "objective-c"
    if _H_CPP.search(head):
        return "cpp"
    return "c"


_CLS_APEX = re.compile(
    rb"\b(?:public|global|private)\s+(?:(?:with|without|inherited)\s+sharing\s+|virtual\s+|abstract\s+)*class\b",
    re.I,
)


def basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _shebang_language(head: bytes) -> str | None:
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    words = line.split()
    if not words:
        return None
    interpreter = words[0].rsplit("/", 1)[-1]
    if interpreter == "env":
        # `env -S python3 -u`, `env VAR=1 node`: the program is the first plain word
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not rest:
            return None
        interpreter = rest[0].rsplit("/", 1)[-1]
    interpreter = _SHEBANG_VERSION.sub("", interpreter.lower()).rstrip("-") or interpreter
    return _INTERPRETERS.get(interpreter)


def _disambiguate(lang: str, ext: str, head: bytes) -> str:
    """Correct a shared extension where the first bytes settle it cheaply."""
    if ext == ".m" and not _M_OBJC.search(head) and _M_MATLAB.search(head):
        return "matlab"
    if ext == ".ts" and head.lstrip().startswith(b"<?xml"):
        return "xml"  # Qt Linguist translation files
    if ext == ".d" and _MAKE_DEPENDENCY.search(head):
        return "makefile"  # compiler-written dependency files, not D
    if ext == ".cls":  # LaTeX class by default; Salesforce Apex and VB6 share the extension
        if head.startswith(b"VERSION 1.0 CLASS"):
            return "visual-basic"
        if _CLS_APEX.search(head):
            return "apex"
    return lang


def detect_language(path: str, head: bytes = b"", text: str | None = None) -> str | None:
    """Canonical lowercase language id of a file, or None when unknown.

    Order: exact file name, then extension (case-sensitive first), then the shebang
    or an opening `<?php`/`<?xml` in `head` when the extension says nothing. `text`, the decoded
    content when the caller has it, settles ".h" (C, C++ or Objective-C: `header_language`).
    """
    name = basename(path)
    lang = _FILENAMES.get(name)
    if lang:
        return lang
    if name.startswith(("Dockerfile.", "Dockerfile-", "Containerfile.")):
        return "dockerfile"
    if name.startswith(".env."):  # .env.local, .env.example
        return "dotenv"
    dot = name.rfind(".")
    if dot > 0:
        ext = name[dot:]
        lang = _CASE_SENSITIVE_EXTENSIONS.get(ext) or _EXTENSIONS.get(ext.lower())
        if lang is None and name.count(".") > 1:
            # double extensions such as ".cmake.in", ".app.src"
            second = name.rfind(".", 0, dot)
            if second > 0:
                lang = _EXTENSIONS.get(name[second:].lower())
        if lang:
            if ext == ".h" and text is not None:
                return header_language(text)
            return _disambiguate(lang, ext.lower(), head) if head else lang
    elif dot == 0:  # a dotfile such as ".eslintrc": the whole name is the extension
        lang = _EXTENSIONS.get(name.lower())
        if lang:
            return lang
    if _PROSE_STEM.split(name, 1)[0].lower() in _PROSE_NAMES:
        return "text"  # README, LICENSE-MIT, README.Debian, COPYING.LESSER
    if head:
        lang = _shebang_language(head)
        if lang:
            return lang
        start = head.lstrip()[:5]
        if start == b"<?php":
            return "php"
        if start == b"<?xml":
            return "xml"
    return None
