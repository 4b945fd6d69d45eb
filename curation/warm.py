"""What every task process would otherwise load for itself, loaded once by the forkserver.

Imported (for its effect) by the forkserver that the local executor forks every task process
from (`curation.forkserver.FORKSERVER_PRELOAD`): a forked task starts with the machine code of the
decontamination kernel, the file-measure pass and the shingles' token hashes (numba: ~0.5 s of
CPU per process to import and load from its on-disk cache) and the tree-sitter grammars already
in memory. Nothing here depends on a run's configuration, and every load is the one the task
would have done itself (same code, same cache), so outputs cannot change; a failure here only
means the tasks load it themselves.

The driver never imports this module: `curate --help` and the one-task stages it runs itself do
not pay for numba.
"""

from __future__ import annotations

import numpy as np

from curation.decontam.scan import scan
from curation.dedup.shingles import token_hashes
from curation.filters.measures import file_stats
from curation.repo.parsing import GRAMMARS, language


def warm() -> None:
    # One call compiles the kernel's signature (or loads it from numba's cache): the same
    # argument types every document's scan uses.
    scan("x = 1\n", 13, 8, np.zeros(1 << 10, np.uint8), 54)
    file_stats("x = 1\n")  # the filters' and the quality scorer's compiled pass
    token_hashes("x = 1\n")  # near-dedup's token hashes
    for lang in GRAMMARS:
        try:
            language(lang)
        except ImportError:  # the grammar wheel is absent: tasks report it where they need it
            pass


try:
    warm()
except Exception:  # noqa: BLE001 - an optimisation only: every task loads what it needs anyway
    pass
