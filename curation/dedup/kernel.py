"""The compiled loop behind `shingles.token_hashes` (imported on first use: numba is heavy).

One pass over the UTF-8 bytes: a token is a run of word bytes or one punctuation byte (the byte
classes of `shingles.BYTE_CLASS`); its hash is the polynomial of its bytes by Horner's rule, mixed
with its length and finished by MurmurHash3's fmix64, exactly `shingles.token_hash`. With
`normalize`, an identifier (a word token not starting with a digit) that is not a keyword becomes
the placeholder's hash. The numpy form it replaces made ~15 passes over every byte and kept 16 MiB
of power tables per process.

Module-level function, tables passed as arguments: numba reuses its on-disk cache.
"""

import numba
import numpy as np

# shingles.SPACE and shingles.WORD (shingles imports this module: a literal here, not an import
# cycle; the equality tests of test_minhash.py hold the two together)
SPACE, WORD = 0, 1

u64 = np.uint64
s33 = u64(33)
m1, m2 = u64(0xFF51AFD7ED558CCD), u64(0xC4CEB9FE1A85EC53)


@numba.njit(cache=True)
def token_hashes(buf, byte_class, is_digit, keywords, normalize, base, len_mix, placeholder):
    """buf: the UTF-8 bytes; byte_class: `shingles.BYTE_CLASS`; keywords: sorted hashes."""
    n = buf.size
    out = np.empty(n, np.uint64)
    count = 0
    cur = SPACE  # class of the token being read (SPACE: none; a PUNCT token ends at the next byte)
    start = 0
    poly = u64(0)
    for i in range(n + 1):
        c = byte_class[buf[i]] if i < n else SPACE  # the end of the text ends the last token
        if cur == WORD and c == WORD:
            poly = poly * base + u64(buf[i])
            continue
        if cur != SPACE:  # the token [start, i) is complete
            x = poly ^ (u64(i - start) * len_mix)
            x ^= x >> s33
            x *= m1
            x ^= x >> s33
            x *= m2
            x ^= x >> s33
            if normalize and cur == WORD and not is_digit[buf[start]]:
                p = np.searchsorted(keywords, x)
                if not (p < keywords.size and keywords[p] == x):
                    x = placeholder
            out[count] = x
            count += 1
        cur = c
        start = i
        poly = u64(buf[i]) if c != SPACE else u64(0)
    return out[:count]
