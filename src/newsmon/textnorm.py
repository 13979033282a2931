"""Text normalisation shared by the query matcher and the duplicate detector.

Both must agree on what a "word" is, otherwise a rule could match an article that dedup treats as a
different text (or the reverse). Normalisation is NFKC, case folding, and the Arabic foldings that
news text needs: spelling of hamza/alef, taa marbuta, alef maqsura, tatweel and diacritics vary
between outlets (and between writers on one outlet), so they must not decide a match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Arabic letters whose spelling varies between outlets, folded to one form each.
_ARABIC_FOLDS = {
    "\u0622": "\u0627",  # alef with madda above -> alef
    "\u0623": "\u0627",  # alef with hamza above -> alef
    "\u0625": "\u0627",  # alef with hamza below -> alef
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u0672": "\u0627",  # alef with wavy hamza above -> alef
    "\u0673": "\u0627",  # alef with wavy hamza below -> alef
    "\u0624": "\u0648",  # waw with hamza above -> waw
    "\u0626": "\u064a",  # yeh with hamza above -> yeh
    "\u0649": "\u064a",  # alef maqsura -> yeh
    "\u06cc": "\u064a",  # farsi yeh -> arabic yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u0629": "\u0647",  # taa marbuta -> heh
}
# Arabic-Indic and extended (Persian) digits -> ASCII digits, so "٢٠٢٤" matches "2024".
_DIGIT_FOLDS = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}
_TRANSLATION = str.maketrans({**{ord(k): v for k, v in _ARABIC_FOLDS.items()}, **_DIGIT_FOLDS})
# The same folds as (old, new) pairs for `normalize`: on non-ASCII text str.translate looks up every
# character in a dict (~170 µs for a 3,000-character Arabic article); one C-level replace per folded
# character that occurs is ~50x faster. No target is also a source, so the order does not matter.
_FOLDS = tuple((chr(old), new) for old, new in _TRANSLATION.items())

# Removed outright: tatweel, Arabic harakat and Quranic annotation marks, zero-width joiners,
# soft hyphen, bidi controls. None of them changes which word is written.
_REMOVED = re.compile(
    "[\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)

# A word: a run of letters, digits or combining marks (Arabic and Latin alike). Apostrophes and
# hyphens split words, so "State's" contains "state" and "counter-terrorism" is two words.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A word as written, before normalisation: the characters `normalize` deletes and combining marks
# (Arabic harakat, decomposed Latin accents) are not `\w`, but they sit inside words, so they must
# not split one (else "قَالَ" would give three tokens here and one in `tokenize`).
_RAW_WORD = re.compile(
    "(?:[^\\W_]|[\u0300-\u036f\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff])+"
)

# Arabic proclitics written joined to the next word: conjunctions wa/fa, prepositions bi/li/ka
# and the article al-, alone or stacked ("wal-", "bil-", "lil-"). Longest first.
ARABIC_PROCLITICS = (
    "\u0648\u0627\u0644",  # وال
    "\u0641\u0627\u0644",  # فال
    "\u0628\u0627\u0644",  # بال
    "\u0643\u0627\u0644",  # كال
    "\u0644\u0644",  # لل (li + al-, with the alef elided)
    "\u0627\u0644",  # ال
    "\u0648",  # و
    "\u0641",  # ف
    "\u0628",  # ب
    "\u0644",  # ل
    "\u0643",  # ك
)
# Shortest stem left after stripping: shorter remainders are more often a real word than a stem.
_MIN_ARABIC_STEM = 3
# A word starting with none of these has no proclitic to strip (all are Arabic letters).
_PROCLITIC_INITIALS = frozenset(clitic[0] for clitic in ARABIC_PROCLITICS)


def normalize(text: str) -> str:
    """NFKC, case-fold and apply the Arabic foldings; keeps spacing and punctuation."""
    text = unicodedata.normalize("NFKC", text)
    text = _REMOVED.sub("", text)
    text = text.casefold()
    for old, new in _FOLDS:
        if old in text:
            text = text.replace(old, new)
    return text


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text: its normalised form and where it stands in the original string."""

    norm: str
    start: int
    end: int


def tokenize_with_offsets(text: str) -> list[Token]:
    """Words of `text`, normalised, with their character offsets in `text` (for highlighting)."""
    tokens: list[Token] = []
    for match in _RAW_WORD.finditer(text):
        # Normalising word by word keeps offsets exact; NFKC may still split one word into two
        # (e.g. a ligature with a space), so re-split the normalised form.
        for part in _WORD.findall(normalize(match.group())):
            tokens.append(Token(part, match.start(), match.end()))
    return tokens


def tokenize(text: str) -> list[str]:
    """Normalised words of `text`, in order."""
    return _WORD.findall(normalize(text))


# Cached: query parsing, matching, fingerprints, story features and the gazetteer all ask for the
# words of every article; news vocabulary is Zipfian, so nearly all are repeats.
@functools.lru_cache(maxsize=1 << 16)
def arabic_variants(word: str) -> tuple[str, ...]:
    """Forms of a normalised Arabic word with its joined proclitics stripped (the word excluded).

    "والموصل" (and-the-Mosul) yields ("موصل", "الموصل"), so a rule for "الموصل" or "موصل" still
    matches. Non-Arabic words yield nothing.
    """
    if not word or word[0] not in _PROCLITIC_INITIALS:
        return ()
    variants: list[str] = []
    for clitic in ARABIC_PROCLITICS:
        if word.startswith(clitic) and len(word) - len(clitic) >= _MIN_ARABIC_STEM:
            stem = word[len(clitic) :]
            if stem not in variants:
                variants.append(stem)
            # "وال" + stem also stands for "ال" + stem, the form a rule most often names.
            if (
                clitic.endswith("\u0627\u0644") and clitic != "\u0627\u0644"
            ) or clitic == "\u0644\u0644":
                with_article = "\u0627\u0644" + stem
                if with_article not in variants:
                    variants.append(with_article)
    return tuple(v for v in variants if v != word)
