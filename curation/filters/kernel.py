"""The compiled pass behind `FileStats`: every line, word, character-class and run-gate measure of a
file in one loop over its UTF-8 bytes (imported on first use: numba is heavy).

Python's definitions are the reference and the tests hold the two equal on real and synthetic text:

- lines are `str.splitlines()`: \\n, \\r, \\r\\n, \\v, \\f, \\x1c-\\x1e, U+0085, U+2028, U+2029 end a
  line; a final line break does not start an empty line. Lengths are in characters (code points),
  i.e. the bytes that are not UTF-8 continuation bytes.
- whitespace is `str.isspace()` (what `str.split()` and `str.strip()` use): the ASCII set
  \\t \\n \\v \\f \\r \\x1c-\\x1f and space, plus U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
  U+2029, U+202F, U+205F, U+3000, recognised by their UTF-8 bytes.
- words are the runs `str.split()` returns, stripped lines what `str.strip()` leaves; each is
  reported as (FNV-1a hash of its bytes, length in characters). Only equality within one file is
  ever asked of the hashes.
- a run gate (`curation.filters.gates.RunGate`) is the longest run of bytes in its alphabet, over
  the bytes as they are or with every `bytes.split()` whitespace run collapsed to one space and
  the ends stripped (`b" ".join(data.split())`).

The per-byte steps are written out in the loop: a call into another compiled function is not
inlined, and one per byte cost ~10 ns a byte (the hash is a call: once per word and per line).
Module-level functions, tables passed as arguments: numba then reuses its on-disk cache (next to
this file when writable) instead of compiling in every process.
"""

import numba
import numpy as np

u64 = np.uint64
FNV_OFFSET = u64(0xCBF29CE484222325)
FNV_PRIME = u64(0x100000001B3)


@numba.njit(cache=True)
def fnv1a(buf, start, end):
    """FNV-1a over buf[start:end] (called once per word and per line, not per byte)."""
    h = FNV_OFFSET
    for j in range(start, end):
        h = (h ^ u64(buf[j])) * FNV_PRIME
    return h


SPACE, BREAK, DIGIT, ALNUM, SPLIT = 1, 2, 4, 8, 16  # bits of the ASCII class table
MAX_GATES = 4


@numba.njit(cache=True)
def measure(buf, n, long_line, cls, gate_bits, raw_gates):
    """buf: the UTF-8 bytes plus 3 bytes of zero padding; n: the real length; cls: the class bits
    of each byte value (ASCII; 0 from 0x80); gate_bits: bit g set where the byte is in gate g's
    alphabet (up to MAX_GATES gates); raw_gates: the bits of the gates that do not collapse.

    -> (counts, line_hash, line_chars, word_hash, word_chars, non_ascii, gate_runs) where counts =
    [lines, max line chars, summed line chars, lines over `long_line` chars, ASCII whitespace,
    ASCII digits, ASCII alphanumerics, non-ASCII bytes, stripped non-empty lines, words]."""
    line_hash = np.empty(n // 2 + 1, np.uint64)
    line_chars = np.empty(n // 2 + 1, np.int64)
    word_hash = np.empty(n // 2 + 1, np.uint64)
    word_chars = np.empty(n // 2 + 1, np.int64)
    non_ascii = np.empty(n, np.uint8)
    space_bits = gate_bits[0x20]
    c0 = c1 = c2 = c3 = r0 = r1 = r2 = r3 = 0  # current and longest run of each gate
    n_lines = max_len = sum_len = long_lines = 0
    space = digit = alnum = n_non_ascii = n_stripped = n_words = 0
    line_len = 0  # characters of the current line so far
    first_ns = -1  # byte offset of the line's first non-space character
    last_ns_end = 0  # byte offset just past its last non-space character
    ns_chars = 0  # characters from the first non-space character to the last one
    pending = 0  # whitespace characters after the last non-space character of the line
    word_start = -1
    word_len = 0
    started = False  # the collapsed bytes have begun (leading whitespace is stripped)
    space_run = False  # inside a run of bytes.split() whitespace
    i = 0
    while i <= n:
        if i == n:  # the end of the text ends the last word, and the last line if it has characters
            b = 0
            brk = 1 if line_len > 0 else 0
            is_space = True
            width = 1
        else:
            b = buf[i]
            brk = 0
            is_space = False
            if b < 0x80:
                k = cls[b]
                width = 1
                if k & BREAK:
                    brk = 2 if b == 0x0D and buf[i + 1] == 0x0A else 1
                    width = brk
                    is_space = True
                elif k & SPACE:
                    is_space = True
                if width == 2:  # \r\n: two whitespace characters
                    space += 2
                else:
                    space += k & SPACE
                    digit += (k & DIGIT) >> 2
                    alnum += (k & ALNUM) >> 3
            else:
                if b < 0xE0:
                    width = 2
                    if b == 0xC2:
                        c = buf[i + 1]
                        if c == 0x85:
                            brk = 2
                            is_space = True
                        elif c == 0xA0:
                            is_space = True
                elif b < 0xF0:
                    width = 3
                    if b == 0xE2:
                        c, d = buf[i + 1], buf[i + 2]
                        if c == 0x80:
                            if d == 0xA8 or d == 0xA9:
                                brk = 3
                                is_space = True
                            elif d <= 0x8A or d == 0xAF:  # U+2000-U+200A, U+202F
                                is_space = True
                        elif c == 0x81 and d == 0x9F:
                            is_space = True
                    elif b == 0xE1:
                        is_space = buf[i + 1] == 0x9A and buf[i + 2] == 0x80
                    elif b == 0xE3:
                        is_space = buf[i + 1] == 0x80 and buf[i + 2] == 0x80
                else:
                    width = 4
                for j in range(width):
                    non_ascii[n_non_ascii + j] = buf[i + j]
                n_non_ascii += width
            # -- run gates, per byte: \r\n is two; the bytes of a non-ASCII character are outside
            # every (ASCII) alphabet and never bytes.split() whitespace, so its first byte stands
            # for all of them
            for j in range(width if b < 0x80 else 1):
                gb = buf[i + j]
                g = gate_bits[gb]
                if cls[gb] & SPLIT:  # the raw gates see the byte, the collapsing ones a pending space
                    if raw_gates & 1:
                        c0 = (c0 + 1) * (g & 1)
                        r0 = max(r0, c0)
                    if raw_gates & 2:
                        c1 = (c1 + 1) * ((g >> 1) & 1)
                        r1 = max(r1, c1)
                    if raw_gates & 4:
                        c2 = (c2 + 1) * ((g >> 2) & 1)
                        r2 = max(r2, c2)
                    if raw_gates & 8:
                        c3 = (c3 + 1) * ((g >> 3) & 1)
                        r3 = max(r3, c3)
                    space_run = True
                else:
                    if space_run and started:  # the one space a collapsed whitespace run became
                        sp = space_bits
                        if not raw_gates & 1:
                            c0 = (c0 + 1) * (sp & 1)
                        if not raw_gates & 2:
                            c1 = (c1 + 1) * ((sp >> 1) & 1)
                        if not raw_gates & 4:
                            c2 = (c2 + 1) * ((sp >> 2) & 1)
                        if not raw_gates & 8:
                            c3 = (c3 + 1) * ((sp >> 3) & 1)
                        r0, r1, r2, r3 = max(r0, c0), max(r1, c1), max(r2, c2), max(r3, c3)
                    c0 = (c0 + 1) * (g & 1)
                    c1 = (c1 + 1) * ((g >> 1) & 1)
                    c2 = (c2 + 1) * ((g >> 2) & 1)
                    c3 = (c3 + 1) * ((g >> 3) & 1)
                    r0, r1, r2, r3 = max(r0, c0), max(r1, c1), max(r2, c2), max(r3, c3)
                    space_run = False
                    started = True
        # -- words
        if is_space:
            if word_start >= 0:
                word_hash[n_words] = fnv1a(buf, word_start, i)
                word_chars[n_words] = word_len
                n_words += 1
                word_start = -1
        else:
            if word_start < 0:
                word_start = i
                word_len = 0
            word_len += 1
        # -- lines
        if brk:
            n_lines += 1
            max_len = max(max_len, line_len)
            sum_len += line_len
            long_lines += line_len > long_line
            if first_ns >= 0:
                line_hash[n_stripped] = fnv1a(buf, first_ns, last_ns_end)
                line_chars[n_stripped] = ns_chars
                n_stripped += 1
            line_len = 0
            first_ns = -1
            ns_chars = 0
            pending = 0
        else:
            line_len += 1
            if is_space:
                pending += 1
            else:
                if first_ns < 0:
                    first_ns = i
                    ns_chars = 1
                else:
                    ns_chars += pending + 1
                pending = 0
                last_ns_end = i + width
        i += width
    counts = np.array([n_lines, max_len, sum_len, long_lines, space, digit, alnum, n_non_ascii, n_stripped, n_words],
                      np.int64)
    runs = np.array([r0, r1, r2, r3], np.int64)
    return (counts, line_hash[:n_stripped], line_chars[:n_stripped], word_hash[:n_words], word_chars[:n_words],
            non_ascii[:n_non_ascii], runs)
