"""Content fingerprints and near-duplicate clustering: MinHash over word shingles, LSH band keys.

A syndicated copy of a story (other headline, a sentence added or reworded, the last paragraph
trimmed, a boilerplate line, a dateline, other line breaks) must land in the story's cluster;
another write-up of the same event must not. The store keeps each article's `Fingerprint`: the
signature in the article row and one `article_band(band_key, article_id)` row per band key, so a
new article finds its candidates with an indexed lookup per band at any archive size, and
`choose_cluster` confirms them by estimated Jaccard similarity.

What is compared
- The words of the text, normalised by `textnorm.tokenize` exactly as the query language does
  (NFKC, case folding, Arabic hamza/alef, taa marbuta, alef maqsura, tatweel and harakat folded),
  Arabic words further reduced to their stem without joined proclitics (`arabic_variants`: wa-,
  fa-, bi-, li-, ka-, al-), so "وقال"/"قال" and "بالموصل"/"الموصل" count as the same word.
- Source-independent lead: a dateline or source tag before a dash, colon or slash at the start of
  the text ("BAGHDAD (Reuters) –", "شفق نيوز/ ") is dropped when it is at most 6 words.
- The title is ignored (outlets rewrite headlines) unless the text has fewer than 20 words: a
  video or photo page whose text is "Watch the video below." is only told apart by its title.
  Measured: without this, such pages merge (precision 0.48 on them) and nothing else improves.
- Shingles of 5 consecutive words. The exact hash is over the same words, so texts that differ
  only in spacing, punctuation or Arabic spelling variants are exact duplicates.
- A republication days later is the same story: clustering ignores dates, so it joins the
  original's cluster, and an alert already raised for that cluster is not raised again.

How the parameters were chosen (benchmarks/dedup_eval.py on tests/fixtures/dedup_eval: 595
items, 158 labelled stories, English and Arabic, pairwise scores over all 176,715 pairs)
- Shingle size: best F1 over thresholds, mean of 8 permutation seeds (measured before the 33
  very short pages were added): 3 words 0.990 (at 0.55), 4 words 0.993 (0.5), 5 words 0.995
  (0.45-0.5). Longer shingles separate routine templated bulletins (same outlet, other numbers
  and places) from copies better, and edited copies still keep most 5-word runs.
- NEAR_DUPLICATE_THRESHOLD = 0.5 sits on the plateau: 0.40 -> P 0.981 R 1.000, 0.45 -> P 0.991 R
  0.996, 0.50 -> P 0.995 R 0.994, 0.55 -> P 1.000 R 0.977, 0.60 -> P 1.000 R 0.907. Of the two
  equal choices the higher threshold is kept, because a false merge hides a distinct story's
  alert while a missed copy only repeats one. Users may move it
  (NEWSMON_NEAR_DUPLICATE_THRESHOLD, 0.4 to 1.0: below 0.4 the bands find 93% of the pairs or
  fewer, see below). Estimated similarity of true pairs: copies of a story p1 0.41, median 0.72;
  copies of a two-sentence brief p1 0.40, median 0.70. Hard negatives: other write-ups of the
  same event (shared places, organisations and one identical quote) max 0.14; briefs following
  the same pattern max 0.23; templated bulletins of one series median 0.27, max 0.52
  (single-sentence rocket statements: the remaining false merges).
- Bands: 120 permutations = 40 bands x 3 rows puts the LSH S-curve at the threshold:
  P(candidate) = 1 - (1 - J^3)^40 is 0.995 at J = 0.5, 0.93 at 0.4, 0.27 at 0.2. Every one of
  the 1,070 true pairs above the threshold shared a band key, none of the 172,843 unrelated pairs
  did, and a new article had 2.1 candidates on average (max 9). Expected unrelated candidates per
  lookup in a 1M-article archive (from the unrelated pairs' similarities): ~15. Alternatives:
  32 x 4 is only 0.87 at J = 0.5 (3 of 1,059 true pairs above it shared no band key); 16 x 8
  missed 357 of 1,059 (recall 0.72); 64 x 2 made 27 unrelated pairs candidates (~510 per lookup
  in a 1M-article archive).
- Throughput for ~650-word texts: 1,300-1,750 fingerprints/s on one core (a shared, noisy
  machine). Shingle hashes are computed here with numpy (per-word blake2b, cached, combined per
  shingle and mixed with the MurmurHash3 finalizer) and fed to a MinHash with datasketch's
  affine32 permutations and fixed seed (computed here, the same values); datasketch's default,
  SHA-1 of each shingle string in Python, reached ~1,100/s for the MinHash step alone.

Changing any parameter changes signatures and band keys: bump FINGERPRINT_VERSION and recompute
the stored fingerprints.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from newsmon.textnorm import arabic_variants, tokenize

NUM_PERM = 120
BANDS = 40
ROWS = 3
NEAR_DUPLICATE_THRESHOLD = 0.5
SHINGLE_WORDS = 5
SHORT_TEXT_WORDS = 20
FINGERPRINT_VERSION = 1

# Fixed so signatures agree across processes, machines and runs (numpy's legacy RandomState,
# which datasketch uses to draw the permutations, is stable across numpy versions).
_SEED = 1


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The affine permutations h -> a * h + b mod 2^32 (odd a: a bijection), drawn from numpy's
    legacy RandomState(_SEED) exactly as datasketch's MinHash(scheme="affine32") draws them, so
    signatures are datasketch's (tests/unit/test_dedup.py compares). Not datasketch itself: its
    package imports scipy, ~40 MB of the flow process's memory and ~0.5 s for one array."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix before the affine permutations)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


_MINHASH_SLICE = 4096


def _minhash(shingles: np.ndarray) -> np.ndarray:
    """The MinHash signature (NUM_PERM uint32) of a set of 32-bit shingle hashes; all 2^32 - 1
    for an empty set."""
    if not len(shingles):
        return np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    a, b = _permutations()
    mixed = _fmix32(shingles)
    # uint32 arithmetic wraps: the products and sums are taken mod 2^32, as the scheme says. In
    # slices, so a huge text (a 5 MB page is ~800k shingles) never makes a shingles x NUM_PERM
    # temporary of hundreds of MB in the flow process: ~2 MB at a time. Permutations as rows,
    # added to in place and reduced along the rows: ~20% less CPU than shingles as rows.
    column_b = b.reshape(-1, 1)
    minima = []
    for start in range(0, len(mixed), _MINHASH_SLICE):
        values = np.multiply.outer(a, mixed[start : start + _MINHASH_SLICE])
        values += column_b
        minima.append(values.min(axis=1))
    return minima[0] if len(minima) == 1 else np.minimum.reduce(minima)


_SIGNATURE_DTYPE = np.dtype("<u4")
# Odd 64-bit constants weighting each word's position in a shingle, so word order matters.
_POSITION_WEIGHTS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0x27D4EB2F165667C5,
        0x85EBCA77C2B2AE63,
    ],
    dtype=np.uint64,
)
# The band index fills the top 6 bits of a band key, so keys of different bands never collide.
_BAND_BITS = 6
_HASH_BITS = 64 - _BAND_BITS

# A dateline or source tag ends at a dash between spaces, or at a colon or slash before a space.
_LEAD_SEPARATOR = re.compile(r"\s[-–—|]\s|[:/]\s")
_DATELINE_MAX_WORDS = 6

assert BANDS * ROWS <= NUM_PERM and BANDS <= 1 << _BAND_BITS
assert len(_POSITION_WEIGHTS) >= SHINGLE_WORDS


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the store keeps to find an article's duplicates."""

    exact_hash: str
    signature: bytes
    band_keys: tuple[int, ...]
    shingle_count: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored article sharing a band key or the exact hash with a new one."""

    article_id: int
    cluster_id: int
    signature: bytes
    exact_hash: str


# (title words, text words), as `textnorm.tokenize` gives them: what matching already has.
Tokens = tuple[Sequence[str], Sequence[str]]


def _content_words(*, title: str | None, text: str, tokens: Tokens | None = None) -> list[str]:
    """The normalised words a fingerprint is computed from."""
    if tokens is not None:
        return _content_words_of(title=title, text=text, tokens=tokens)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines:
        lines[0] = _strip_dateline(lines[0])
    words = tokenize("\n".join(lines))
    if len(words) < SHORT_TEXT_WORDS and title:
        words = tokenize(title) + words
    return words


def _content_words_of(*, title: str | None, text: str, tokens: Tokens) -> list[str]:
    """`_content_words` from the text's and title's words, without tokenising the text again.

    The same words: tokenize() works character by character but for NFKC, and a line break is a
    boundary NFKC never composes across, so the words of a text are those of its lines in turn
    (blank lines have none); only the first line's may change, by its dateline."""
    title_words, words = tokens[0], list(tokens[1])
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is not None and (lead := _strip_dateline(first)) is not first:
        words[: len(tokenize(first))] = tokenize(lead)
    if len(words) < SHORT_TEXT_WORDS and title:
        words = [*title_words, *words]
    return words


def _strip_dateline(line: str) -> str:
    # Up to three tags in a row: "بغداد - وكالة دجلة: ..." is a city, then the outlet.
    for _ in range(3):
        match = _LEAD_SEPARATOR.search(line)
        if (
            not match
            or len(tokenize(line[: match.start()])) > _DATELINE_MAX_WORDS
            or not line[match.end() :].strip()
        ):
            break
        line = line[match.end() :]
    return line


# Stories read the lead without its dateline too (newsmon.stories.features).
strip_dateline = _strip_dateline


@functools.lru_cache(maxsize=1 << 16)
def _word_hash(word: str) -> int:
    stems = arabic_variants(word)
    key = stems[0] if stems else word  # the first variant has the longest proclitic removed
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: spreads every input bit over the output."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _shingle_hashes(words: Sequence[str]) -> np.ndarray:
    """Distinct 32-bit hashes of the word shingles (one shingle if there are fewer words)."""
    if not words:
        return np.empty(0, dtype=np.uint32)
    # map() over the cached function: no Python frame per word, unlike a generator (~2x faster).
    ids = np.fromiter(map(_word_hash, words), dtype=np.uint64, count=len(words))
    k = min(SHINGLE_WORDS, len(ids))
    n = len(ids) - k + 1
    combined = ids[:n] * _POSITION_WEIGHTS[0]
    weighted = np.empty_like(combined)
    for position in range(1, k):
        combined += np.multiply(ids[position : position + n], _POSITION_WEIGHTS[position], weighted)
    return _distinct((_fmix64(combined) >> np.uint64(32)).astype(np.uint32))


def _distinct(values: np.ndarray) -> np.ndarray:
    """np.unique(values) (sorted, distinct), by a sort: np.unique took 5x longer on a few
    hundred values."""
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _band_keys(signature: np.ndarray) -> tuple[int, ...]:
    keys = []
    # Slicing bytes is cheaper than slicing the array and converting each slice.
    raw, width = signature.tobytes(), ROWS * signature.itemsize
    for band in range(BANDS):
        rows = raw[band * width : (band + 1) * width]
        digest = int.from_bytes(hashlib.blake2b(rows, digest_size=8).digest(), "little")
        key = (band << _HASH_BITS) | (digest & ((1 << _HASH_BITS) - 1))
        keys.append(key - (1 << 64) if key >= 1 << 63 else key)  # as a signed BIGINT
    return tuple(keys)


def fingerprint(*, title: str | None, text: str, tokens: Tokens | None = None) -> Fingerprint:
    """Exact hash, MinHash signature and LSH band keys of an article's text; `tokens`, the title's
    and text's words if the caller has them, saves tokenising the text again."""
    words = _content_words(title=title, text=text, tokens=tokens)
    shingles = _shingle_hashes(words)
    signature = _minhash(shingles).astype(_SIGNATURE_DTYPE)
    return Fingerprint(
        exact_hash=hashlib.sha256(" ".join(words).encode()).hexdigest(),
        signature=signature.tobytes(),
        # Nothing to compare: no band keys, so empty pages are never each other's candidates.
        band_keys=_band_keys(signature) if len(shingles) else (),
        shingle_count=len(shingles),
    )


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    va = np.frombuffer(a, dtype=_SIGNATURE_DTYPE)
    vb = np.frombuffer(b, dtype=_SIGNATURE_DTYPE)
    if len(va) != len(vb) or not len(va):
        raise ValueError(
            f"signatures of {len(va)} and {len(vb)} values cannot be compared; "
            "stored fingerprints must be recomputed after a parameter change"
        )
    return int(np.count_nonzero(va == vb)) / len(va)


def choose_cluster(
    fp: Fingerprint, candidates: Iterable[Candidate], *, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> int | None:
    """The cluster a new article joins, or None for a new cluster.

    An exact-hash match wins; otherwise the most similar candidate at or above the threshold;
    ties go to the smallest (earliest) cluster id. `threshold`: NEWSMON_NEAR_DUPLICATE_THRESHOLD
    (the store passes the setting) or an evaluation sweep.
    """
    if fp.shingle_count == 0:
        return None
    exact: int | None = None
    best: tuple[float, int] | None = None  # (-similarity, cluster_id): smallest is best
    for candidate in candidates:
        if candidate.exact_hash == fp.exact_hash:
            exact = candidate.cluster_id if exact is None else min(exact, candidate.cluster_id)
        elif exact is None:
            score = similarity(fp.signature, candidate.signature)
            if score >= threshold and (best is None or (-score, candidate.cluster_id) < best):
                best = (-score, candidate.cluster_id)
    if exact is not None:
        return exact
    return best[1] if best is not None else None
