"""trafilatura's readability step that drops unlikely candidates, walking only the elements it can
drop.

With `favor_precision`, trafilatura compares its text with readability's on every page, and
readability first drops every element whose class and id read like a menu, a footer or comments
(`Document.remove_unlikely_candidates`). It lists all elements (`findall(".//*")`) and reads two
attributes of each in Python; only an element with a class or an id can be dropped (the joined
string of neither is empty, and skipped). Here the list is those elements alone, made in C (their
attributes' parents, in document order, before any is dropped, as the original's list is), and
each is judged by the original's own code: the same elements dropped in the same order. On the
benchmark's pages that is ~60 of ~690 elements: the step took 0.44 ms a page, 0.31 ms so (the
dev set's pages, with classes on most elements, gain nothing).

Installed only when trafilatura's method is the one this was written against (`_ORIGINAL_SOURCE`,
trafilatura 2.3.1); tests/unit/test_readability_candidates.py and
tests/realweb/test_readability_candidates.py compare both on generated and on every dev-set page.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lxml.etree import XPath

_ORIGINAL_SOURCE = """
def remove_unlikely_candidates(self) -> None:
    verdicts: dict[str, bool] = {}
    for elem in self.doc.findall(".//*"):
        attrs = " ".join(filter(None, (elem.get("class"), elem.get("id"))))
        if len(attrs) < 2 or elem.tag in FRAME_TAGS:
            continue
        if attrs not in verdicts:
            low = attrs.lower()
            verdicts[attrs] = bool(REGEXES["unlikelyCandidatesRe"].search(low)) and not REGEXES[
                "okMaybeItsACandidateRe"
            ].search(low)
        if verdicts[attrs]:
            elem.drop_tree()
"""
# The descendants (not the element itself, as `.//*`) with a class or an id, in document order.
_WITH_CLASS_OR_ID = XPath("(.//*/@class | .//*/@id)/..")


def remove_unlikely_candidates(self: Any) -> None:
    """`Document.remove_unlikely_candidates`, over the elements with a class or an id only."""
    from trafilatura.readability_lxml import FRAME_TAGS, REGEXES

    verdicts: dict[str, bool] = {}
    for elem in _WITH_CLASS_OR_ID(self.doc):
        attrs = " ".join(filter(None, (elem.get("class"), elem.get("id"))))
        if len(attrs) < 2 or elem.tag in FRAME_TAGS:
            continue
        if attrs not in verdicts:
            low = attrs.lower()
            verdicts[attrs] = bool(REGEXES["unlikelyCandidatesRe"].search(low)) and not REGEXES[
                "okMaybeItsACandidateRe"
            ].search(low)
        if verdicts[attrs]:
            elem.drop_tree()


def _normalised(source: str) -> str:
    return " ".join(source.split())


def _original() -> Any:
    """trafilatura's own method, if it is the one written against; else None."""
    from trafilatura.readability_lxml import Document

    method: Any = Document.remove_unlikely_candidates
    if method is remove_unlikely_candidates:
        method = _ORIGINALS[0] if _ORIGINALS else None
    if method is None:
        return None
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        return None
    return method if _normalised(source) == _normalised(_ORIGINAL_SOURCE) else None


_ORIGINALS: list[Any] = []  # trafilatura's method, once replaced
_NAME = "remove_unlikely_candidates"


def install() -> bool:
    """Put the method in trafilatura's readability Document; whether it is in use. Idempotent."""
    from trafilatura.readability_lxml import Document

    original = _original()
    if original is None:
        return False
    if not _ORIGINALS:
        _ORIGINALS.append(original)
    setattr(Document, _NAME, remove_unlikely_candidates)
    return True


@contextmanager
def trafilatura_own() -> Iterator[None]:
    """trafilatura's own method for the duration (to time plain trafilatura); this one put back."""
    from trafilatura.readability_lxml import Document

    installed = Document.remove_unlikely_candidates is remove_unlikely_candidates
    if installed:
        setattr(Document, _NAME, _ORIGINALS[0])
    try:
        yield
    finally:
        if installed:
            setattr(Document, _NAME, remove_unlikely_candidates)
