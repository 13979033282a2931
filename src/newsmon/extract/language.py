"""An article's language: ISO 639-1 or None, decided by its text, with label and hint as evidence.

Pages lie about their language: Persian and Kurdish sites built on Arabic templates say
`<html lang="ar">`, Arabic editions of English sites keep `lang="en"`. The text decides when there
is enough of it; the page's label, then the source's hint, decide only when there is not, or when
the classifier hesitates between languages written the same way.

The classifier is py3langid (shipped model, no download). Some of its labels are not ISO 639-1
(`sdh` for Kurdish written in Arabic script, `ary`/`arz` for Moroccan/Egyptian Arabic, `zxx` for
"no language"): they are folded into their ISO 639-1 language, or dropped when there is none.
Kurdish in Arabic script (Sorani) and Persian are first told from Arabic by letters Arabic does not
use, which is stronger evidence than any n-gram model on a short sample.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# ISO 639-1, every code (the withdrawn `iw`, `in`, `ji` are mapped to `he`, `id`, `yi` below).
_ISO_639_1_CODES = """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy
    hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li
    ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa
    pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th
    ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())
# Other codes seen in labels and classifier output -> their ISO 639-1 language.
_TO_ISO_639_1 = {
    # Kurdish: Sorani, Kurmanji, Southern Kurdish, and the ISO 639-2 codes
    "ckb": "ku", "kmr": "ku", "sdh": "ku", "kur": "ku",
    # Arabic: the macrolanguage and regional varieties (Iraqi, Levantine, Egyptian, Gulf, ...)
    "ara": "ar", "arb": "ar", "acm": "ar", "apc": "ar", "ajp": "ar", "arz": "ar", "ary": "ar",
    "afb": "ar", "ayl": "ar", "aeb": "ar", "arq": "ar",
    "fas": "fa", "per": "fa", "pes": "fa", "prs": "fa", "eng": "en", "fra": "fr", "fre": "fr",
    "deu": "de", "ger": "de", "tur": "tr", "heb": "he", "urd": "ur", "pus": "ps", "pbt": "ps",
    "uzs": "uz", "uzb": "uz", "zho": "zh", "chi": "zh", "wuu": "zh", "yue": "zh", "cmn": "zh",
    "rus": "ru", "spa": "es", "gug": "gn", "fuv": "ff", "kik": "ki",
    "iw": "he", "in": "id", "ji": "yi",
}  # fmt: skip
# Enough letters for the text to outweigh a label (a headline alone is not).
MIN_TEXT_LETTERS = 40
# Enough text for a confident guess: on the 575 dev-set pages with text, 700 characters already
# give the language 2,000 gave, and classifying costs in proportion (~0.6 ms at 1,000).
SAMPLE_CHARS = 1000
# Below this probability the classifier is hesitating, and a label of the same script decides.
CONFIDENT = 0.9
# Languages so close in writing that a classifier's choice between them is no evidence against a
# page's own label.
_CLOSE = [frozenset(g) for g in ({"no", "nb", "nn", "da"}, {"bs", "hr", "sr"}, {"ms", "id"})]

_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LETTER = re.compile(r"[^\W\d_]")
# Letters of Kurdish in Arabic script that neither Arabic nor Persian uses: ێ ۆ ڕ ڵ ڤ and ە (ae).
_SORANI = re.compile("[\u06ce\u06c6\u0695\u06b5\u06a4\u06d5]")
# Persian letters absent from Arabic (پ چ ژ گ) and Persian's own yeh and kaf (ی ک).
_PERSIAN = re.compile("[\u067e\u0686\u0698\u06af\u06cc\u06a9]")
# Arabic's yeh, kaf and taa marbuta (ي ك ة), which Persian and Kurdish spell otherwise.
_ARABIC_ONLY = re.compile("[\u064a\u0643\u0629]")
# Urdu, Pashto, Sindhi, Uyghur letters: their own classifier labels are then trusted.
_OTHER_ARABIC_SCRIPT = re.compile(
    "[\u06d2\u06ba\u0679\u0688\u0691\u06be\u067c\u0689\u0693\u0696\u069a\u06ab\u06bc\u06cd\u06d0\u06c7\u06c8\u06cb]"
)


def iso_639_1(code: str | None) -> str | None:
    """An ISO 639-1 code for a language label (`ar-IQ`, `ckb`, `fas`, `en_US`), or None."""
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    if primary in ISO_639_1:
        return primary
    return _TO_ISO_639_1.get(primary)


def text_language(text: str) -> tuple[str | None, float]:
    """(language, confidence 0..1) of a text by its letters and the classifier; (None, 0) if
    there is too little text to tell."""
    sample = text[:SAMPLE_CHARS]
    letters = len(_LETTER.findall(sample))
    if letters < MIN_TEXT_LETTERS:
        return None, 0.0
    arabic_script = len(_ARABIC_SCRIPT.findall(sample))
    if arabic_script > letters / 2:
        by_letters = _arabic_script_language(sample, arabic_script)
        if by_letters is not None:
            return by_letters, 1.0
    return _classify(sample)


def detect_language(text: str, *, label: str | None = None, hint: str | None = None) -> str | None:
    """The article's language: the text's, unless it is too short or the classifier hesitates
    between languages written alike, where the page's label (then the source's hint) decides."""
    declared = iso_639_1(label) or iso_639_1(hint)
    found, confidence = text_language(text)
    if found is None:
        return declared
    if declared is None or declared == found:
        return found
    if any(declared in group and found in group for group in _CLOSE):
        return declared
    if _same_script(declared, found) and confidence < CONFIDENT:
        return declared
    return found


def _arabic_script_language(sample: str, arabic_letters: int) -> str | None:
    """ku, fa or ar from the letters only one of them uses; None to leave it to the classifier."""
    sorani = len(_SORANI.findall(sample))
    persian = len(_PERSIAN.findall(sample))
    arabic = len(_ARABIC_ONLY.findall(sample))
    if len(_OTHER_ARABIC_SCRIPT.findall(sample)) > arabic_letters / 100:
        return None  # Urdu, Pashto...: the classifier knows them
    # ە alone stands for a whole vowel in Kurdish: a Kurdish text has several per sentence.
    if sorani > arabic_letters / 50:
        return "ku"
    if persian > arabic_letters / 50 and arabic < persian / 4:
        return "fa"
    if arabic > arabic_letters / 50 and persian < arabic / 4:
        return "ar"
    return None


def _classify(sample: str) -> tuple[str | None, float]:
    ranked = _identifier().rank(sample)
    folded: dict[str, float] = {}
    for label, probability in ranked[:10]:
        code = iso_639_1(label)
        if code is not None:
            folded[code] = folded.get(code, 0.0) + float(probability)
    if not folded:
        return None, 0.0
    best = max(folded, key=lambda code: folded[code])
    return best, folded[best]


@functools.cache
def _identifier() -> Any:
    """py3langid's model with probabilities that sum to 1 (its module-level one gives raw scores)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


# Scripts of the languages whose labels we meet on Arabic-script and Latin pages; a disagreement
# across scripts is never a hesitation (an Arabic text under lang="en" is Arabic).
_SCRIPT_OF = {
    **dict.fromkeys(("ar", "fa", "ku", "ur", "ps", "sd", "ug"), "arabic"),
    **dict.fromkeys(("ru", "uk", "bg", "be", "mk", "kk", "ky", "mn", "tg", "tt", "ba"), "cyrillic"),
    **dict.fromkeys(("he", "yi"), "hebrew"),
    **dict.fromkeys(("zh", "ja", "ko"), "cjk"),
    **dict.fromkeys(("hi", "mr", "ne", "sa"), "devanagari"),
    "el": "greek", "hy": "armenian", "ka": "georgian", "th": "thai", "am": "ethiopic",
}  # fmt: skip


def _same_script(a: str, b: str) -> bool:
    return _SCRIPT_OF.get(a, "latin") == _SCRIPT_OF.get(b, "latin")
