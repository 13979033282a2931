"""Article text by jusText, for the pages where trafilatura finds none.

A page linked from a feed is an article; when trafilatura returns nothing (on the extraction dev
set: a page whose text sits in one huge block trafilatura's scoring rejects), jusText's paragraph
classifier (stop-word density and link density, with the stop-word list of the page's language)
still finds the body. It only runs where the alternative is to lose the article.
"""

from __future__ import annotations

from lxml.html import HtmlElement

from newsmon.extract.language import text_language

_SAMPLE_CHARS = 5000  # of the page's visible text, to choose the stop-word list


def fallback_text(html: str, tree: HtmlElement, *, language: str | None = None) -> str:
    """The paragraphs jusText classifies as content, one per line ('' when there are none)."""
    import justext

    if language is None:
        sample = " ".join(" ".join(tree.xpath("//body//text()[not(ancestor::script)]")).split())
        language, _confidence = text_language(sample[:_SAMPLE_CHARS])
    stoplist = _stoplist_name(language or "en")
    if stoplist is None:
        return ""
    try:
        paragraphs = justext.justext(html, justext.get_stoplist(stoplist))
    except (ValueError, TypeError, LookupError):  # malformed markup jusText cannot parse
        return ""
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


# jusText's stop-word lists by ISO 639-1 code, for the languages of the outlets newsmon follows and
# their neighbours (jusText ships 100 lists; a language without one gets no fallback).
_STOPLISTS = {
    "en": "English", "ar": "Arabic", "fa": "Persian", "ku": "Kurdish", "tr": "Turkish",
    "ur": "Urdu", "he": "Hebrew", "fr": "French", "de": "German", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "uk": "Ukrainian",
    "pl": "Polish", "sv": "Swedish", "no": "Norwegian_Bokmal", "nb": "Norwegian_Bokmal",
    "da": "Danish", "fi": "Finnish", "el": "Greek", "id": "Indonesian", "ms": "Malay",
    "hi": "Hindi", "az": "Azerbaijani", "hy": "Armenian", "ka": "Georgian",
}  # fmt: skip


def _stoplist_name(code: str) -> str | None:
    return _STOPLISTS.get(code)
