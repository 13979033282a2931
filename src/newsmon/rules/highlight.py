"""Where a query's terms stand in a text: character spans to highlight, and a snippet around them.

For people reading a match: `newsmon rules test` samples and alert messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from newsmon.rules.query import Query, written_terms
from newsmon.textnorm import tokenize_with_offsets

_SPACE, _SPACES = re.compile(r"\s"), re.compile(r"\s+")
_LAST_SPACE = re.compile(r"\s(?!.*\s)", re.DOTALL)


def highlight_spans(
    text: str, terms_or_query: Query | str | Iterable[str]
) -> list[tuple[int, int]]:
    """Character spans in `text` (as written) of the terms found there, sorted and merged.

    Takes a Query (its positive terms) or terms as in `QueryMatch.terms` ("Islamic State", "Anbar*").
    """
    if isinstance(terms_or_query, Query):
        terms = list(terms_or_query.positive_terms)
    else:
        written = (terms_or_query,) if isinstance(terms_or_query, str) else terms_or_query
        terms = written_terms(written)
    tokens = tokenize_with_offsets(text)
    words = [t.norm for t in tokens]
    spans = sorted(
        (tokens[start].start, tokens[start + len(term.words) - 1].end)
        for term in terms
        for start in range(len(words))
        if term.at(words, start)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(
    text: str,
    query: Query,
    *,
    width: int = 240,
    mark: Callable[[str], str] = lambda s: f"**{s}**",
) -> str:
    """About `width` characters of `text` around the first match, matches marked, cuts shown "…".

    Without a match in `text` (it may be in the title), the start of the text.
    """
    spans = highlight_spans(text, query)
    first_start, first_end = spans[0] if spans else (0, 0)
    # The first match sits a third of the way in, so the reader sees what leads up to it.
    start = max(0, min(first_start - width // 3, len(text) - width))
    end = max(first_end, min(len(text), start + width))
    if start > 0 and not text[start - 1].isspace():  # do not start or end mid-word
        space = _SPACE.search(text, start, first_start)
        start = space.end() if space else start
    if end < len(text) and not text[end].isspace():
        space = _LAST_SPACE.search(text, max(first_end, start), end)
        end = space.start() if space else end
    pieces, cursor = ["…"] if start > 0 else [], start
    for span_start, span_end in spans:
        if span_start < end and span_end > start:
            span_start, span_end = max(span_start, start), min(span_end, end)
            marked = mark(_SPACES.sub(" ", text[span_start:span_end]))
            pieces += [_SPACES.sub(" ", text[cursor:span_start]), marked]
            cursor = span_end
    pieces.append(_SPACES.sub(" ", text[cursor:end]))
    result = "".join(pieces).strip()
    return result + "…" if end < len(text) else result
