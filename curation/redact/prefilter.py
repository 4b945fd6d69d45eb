"""One pass over a document that says which detectors can possibly fire.

Python's `re` scans at 400-700 MB/s only when a pattern starts with a literal; a case-insensitive
or alternation pattern drops to 4-10 MB/s here (benchmarks/bench_redact.py). Hyperscan runs every
detector's trigger patterns together in one pass over the UTF-8 bytes, in prefilter mode (it may
report a superset of the Python pattern's matches, never a subset), so the expensive Python
patterns run only on the few documents where they can match.

Without hyperscan installed every detector runs on every document: the same output, slower.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from curation.redact.base import Detector


def _hs_flags(hyperscan, pattern: re.Pattern) -> int:
    flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
    if pattern.flags & re.IGNORECASE:
        flags |= hyperscan.HS_FLAG_CASELESS
    if pattern.flags & re.MULTILINE:
        flags |= hyperscan.HS_FLAG_MULTILINE
    if pattern.flags & re.DOTALL:
        flags |= hyperscan.HS_FLAG_DOTALL
    return flags


def _hs_source(pattern: re.Pattern) -> bytes:
    # Python's inline "(?i)" is a flag here; named groups mean nothing to a prefilter.
    source = re.sub(r"^\(\?[aiLmsux]+\)", "", pattern.pattern)
    return re.sub(r"\(\?P<[A-Za-z_]\w*>", "(", source).replace("(?P=", "(?:").encode()


class Prefilter:
    """`triggered(text)` -> indexes of the detectors whose triggers match somewhere in `text`."""

    def __init__(self, detectors: Sequence[Detector]):
        self.detectors = tuple(detectors)
        self.always: list[int] = []  # detectors whose triggers hyperscan cannot compile
        self.backend = "python"
        self._db = self._scratch = None
        try:
            import hyperscan
        except ImportError:
            self.always = list(range(len(self.detectors)))
            return
        usable: list[tuple[int, list[tuple[bytes, int]]]] = []
        for index, detector in enumerate(self.detectors):
            compiled = []
            for pattern in detector.triggers:
                if pattern.flags & re.VERBOSE and re.search(r"\s|#", pattern.pattern):
                    compiled = None  # verbose whitespace and comments mean nothing to hyperscan
                    break
                compiled.append((_hs_source(pattern), _hs_flags(hyperscan, pattern)))
            if compiled:
                usable.append((index, compiled))
            else:
                self.always.append(index)
        try:  # all at once: one compile (each costs ~5 ms, and a task builds this once)
            self._db = self._compile(hyperscan, usable)
        except hyperscan.error:
            # Some construct hyperscan cannot compile: find whose, so it costs only its detector.
            kept = []
            for index, compiled in usable:
                try:
                    self._compile(hyperscan, [(index, compiled)])
                    kept.append((index, compiled))
                except hyperscan.error:
                    self.always.append(index)
            self.always.sort()
            self._db = self._compile(hyperscan, kept) if kept else None
        if self._db is not None:
            self.backend = "hyperscan"

    @staticmethod
    def _compile(hyperscan, usable):
        expressions = [source for _, compiled in usable for source, _ in compiled]
        if not expressions:
            return None
        db = hyperscan.Database()
        db.compile(expressions=expressions, ids=[index for index, compiled in usable for _ in compiled],
                   elements=len(expressions), flags=[flag for _, compiled in usable for _, flag in compiled])
        return db

    def triggered(self, text: str) -> list[int]:
        if self._db is None:
            return list(self.always)
        if self._scratch is None:
            import hyperscan

            self._scratch = hyperscan.Scratch(self._db)
        found: set[int] = set(self.always)

        def on_match(index, start, end, flags, context):
            found.add(index)

        self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=on_match, scratch=self._scratch)
        return sorted(found)

    def __getstate__(self):  # hyperscan handles do not pickle; rebuild where the step runs
        return {"detectors": self.detectors}

    def __setstate__(self, state):
        self.__init__(state["detectors"])
