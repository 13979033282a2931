"""Bytes -> text for pages and feeds: which encoding to believe when the labels and bytes disagree.

The order of evidence: a BOM (it cannot be there by accident), the Content-Type charset, the
document's own declaration (<meta> or <?xml?>), then the bytes. A label is believed only while it
decodes the bytes cleanly: a header saying UTF-8 on a windows-1256 page would turn every Arabic
letter into U+FFFD, so the next candidate that fits wins, and the switch is logged.

When nothing declared fits, the bytes decide, but only among the encodings this project meets:
UTF-8 (with a few stray bytes kept as U+FFFD: valid multi-byte sequences never arise by accident),
the two Arabic code pages when the bytes read as Arabic text in one, else windows-1252 (what
feedparser and browsers assume). An unrestricted detector read Portuguese Latin-1 as Baltic
("simulações" -> "simulaēões").
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

import charset_normalizer

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_DOC_CHARSET = re.compile(
    rb"<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)|<meta\b[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)",
    re.IGNORECASE,
)
# Browsers read these labels as windows-1252 (WHATWG Encoding); pages rely on it for quotes.
_AS_CP1252 = frozenset({"latin_1", "ascii", "iso8859_1"})
# The code pages the bytes may be judged to be in when no label fits (see the module docstring).
PLAUSIBLE_CODE_PAGES = ("cp1252", "cp1256", "iso8859_6")
_ARABIC_CODE_PAGES = ("cp1256", "iso8859_6")
# Arabic script and the joiners, marks and presentation forms Arabic text carries.
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u200c-\u200f\ufb50-\ufdff\ufe70-\ufeff]")
_ARABIC_SHARE = 0.8  # of the non-ASCII characters
_MIN_ARABIC_LETTERS = 8  # a word or two is no evidence
# UTF-8 with stray bytes: at least this many well-formed multi-byte characters per bad byte.
_UTF8_GOOD_PER_BAD = 10


@dataclass(frozen=True)
class Decoded:
    """Text with the encoding used; `overruled` says which declaration was set aside, and why."""

    text: str
    encoding: str
    overruled: str | None = None


def decode_body(body: bytes, *, content_type: str | None = None) -> str:
    """Bytes -> text (see `decode_text`)."""
    return decode_text(body, content_type=content_type).text


def decode_text(body: bytes, *, content_type: str | None = None, where: str = "") -> Decoded:
    """Bytes -> text by the evidence in the module docstring; a set-aside label is logged."""
    encoding, overruled, text = _choose(body, content_type)
    if overruled:
        log.warning("%s%s", f"{where}: " if where else "", overruled)
    if text is None:
        text = body.decode(encoding, errors="replace")
    return Decoded(text, encoding, overruled)


def choose_encoding(body: bytes, *, content_type: str | None = None) -> tuple[str, str | None]:
    """The codec to read `body` with, and a note when a declared encoding was set aside."""
    encoding, overruled, _ = _choose(body, content_type)
    return encoding, overruled


def _choose(body: bytes, content_type: str | None) -> tuple[str, str | None, str | None]:
    """`choose_encoding`, with the text when a declared encoding was tried and fits (a strict
    decode that succeeds is the text itself: the page is not decoded a second time)."""
    bom = next((enc for mark, enc in _BOMS if body.startswith(mark)), None)
    if bom:
        return bom, None, None
    header = header_encoding(content_type)
    document = document_encoding(body)
    declared = [(enc, where) for enc, where in ((header, "header"), (document, "document")) if enc]
    text: str | None = None
    for rank, (encoding, _) in enumerate(declared):
        text = _strict(body, encoding)
        if text is not None:
            chosen = encoding
            break
        if rank == 0 and mostly_utf8(body):
            # The first label failed; well-formed UTF-8 with a stray byte is UTF-8, whatever a
            # later (single-byte) label claims: those decode anything, so they always "fit".
            chosen = "utf_8"
            break
    else:
        chosen = fallback_encoding(body, labelled_utf8=bool(declared) and declared[0][0] == "utf_8")
    unfit = [f"{enc} (from the {where})" for enc, where in declared if enc != chosen]
    if declared and declared[0][0] != chosen:
        note = f"declared {' and '.join(unfit)} does not decode the bytes cleanly; read as {chosen}"
        return chosen, note, text
    return chosen, None, text


def fallback_encoding(body: bytes, *, labelled_utf8: bool = False) -> str:
    """The encoding of bytes whose labels (if any) do not fit them: UTF-8, stray bytes and all,
    or the plausible code page the bytes read best in.

    `labelled_utf8`: the response said UTF-8. Then a single well-formed multi-byte character is
    enough to keep it (an English page with one curly quote and one stray byte), unless the
    bytes read as Arabic in an Arabic code page.
    """
    if _fits(body, "utf_8") or mostly_utf8(body):
        return "utf_8"
    arabic = arabic_code_page(body)
    if arabic:
        return arabic
    return "utf_8" if labelled_utf8 and _utf8_counts(body)[0] > 0 else "cp1252"


def declared_encoding(body: bytes, *, content_type: str | None = None) -> str | None:
    """The codec the response declares: BOM, Content-Type charset, or in-document declaration."""
    bom = next((enc for mark, enc in _BOMS if body.startswith(mark)), None)
    return bom or header_encoding(content_type) or document_encoding(body)


def header_encoding(content_type: str | None) -> str | None:
    """The codec of a Content-Type's charset parameter (None if absent or unknown)."""
    match = _HEADER_CHARSET.search(content_type or "")
    return _codec(match.group(1)) if match else None


def document_encoding(body: bytes) -> str | None:
    """The codec the document declares in its first 2 KB (<?xml encoding>, <meta charset>)."""
    match = _DOC_CHARSET.search(body[:2048])
    if match is None:
        return None
    encoding = _codec((match.group(1) or match.group(2)).decode("ascii"))
    # A declaration read with an ASCII-compatible scan cannot be UTF-16 (WHATWG: use UTF-8).
    return "utf_8" if encoding and encoding.startswith("utf_16") else encoding


def detect_encoding(body: bytes) -> str:
    """The plausible code page of bytes that are not UTF-8: an Arabic one when they read as
    Arabic text in it, else windows-1252 (as feedparser and browsers assume)."""
    return arabic_code_page(body) or "cp1252"


def arabic_code_page(body: bytes) -> str | None:
    """windows-1256 or ISO-8859-6 when the bytes read as Arabic in it (charset-normalizer picks
    between the two; most of the non-ASCII characters must then be Arabic), else None."""
    best = charset_normalizer.from_bytes(body, cp_isolation=list(_ARABIC_CODE_PAGES)).best()
    encoding = _codec(best.encoding if best else None)
    if encoding is None:
        return None
    text = body.decode(encoding, errors="replace")
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    arabic = len(_ARABIC.findall(text))
    enough = arabic >= _MIN_ARABIC_LETTERS and arabic >= _ARABIC_SHARE * non_ascii
    return encoding if enough else None


def _fits(body: bytes, encoding: str) -> bool:
    return _strict(body, encoding) is not None


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def mostly_utf8(body: bytes) -> bool:
    """UTF-8 with a few stray bytes: many well-formed multi-byte characters per bad byte."""
    good, bad = _utf8_counts(body)
    return good >= _UTF8_GOOD_PER_BAD * max(bad, 1)


def _utf8_counts(body: bytes) -> tuple[int, int]:
    """Well-formed multi-byte UTF-8 characters, and bytes that are not UTF-8."""
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - body.decode("utf-8", errors="ignore").count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))  # at C speed: 5 MB pages
    return non_ascii - text.count("\ufffd"), bad


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name.replace("-", "_")
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name
