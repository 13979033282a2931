"""newsmon's walk for readability's unlikely candidates drops exactly what trafilatura's does.

Generated pages mix classes and ids that the two expressions read (unlikely, "maybe a candidate",
both, neither, one letter, empty), nested so that dropped elements hold others; the realweb test
compares both on the 500 dev-set pages.
"""

from __future__ import annotations

import random
from copy import copy

import lxml.etree
import lxml.html
from trafilatura.readability_lxml import Document

from newsmon.extract import readability_candidates

TAGS = ("div", "p", "span", "section", "ul", "li", "a", "article", "body", "html", "footer")
TOKENS = ("comment", "Footer", "MENU", "sidebar", "article", "content", "main", "and", "x", "",
          "ad-break", "twitter", "Column", "disqus", "pager", "body", "shadow", "y z")  # fmt: skip


def _element(rng: random.Random, depth: int) -> str:
    tag = rng.choice(TAGS)
    attributes = "".join(
        f' {name}="{"".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 2)))}"'
        for name in rng.sample(("class", "id", "title"), rng.randint(0, 3))
    )
    children = "".join(
        _element(rng, depth + 1) for _ in range(rng.randint(0, 3) if depth < 4 else 0)
    )
    return f"<{tag}{attributes}>t {children}</{tag}> tail"


def test_the_same_elements_dropped_as_trafilaturas_method() -> None:
    original = readability_candidates._original()
    assert original is not None  # fails when trafilatura rewrites it: update the module
    rng = random.Random(20261206)
    dropped = 0
    for _ in range(300):
        html = "<html><body>" + "".join(_element(rng, 0) for _ in range(6)) + "</body></html>"
        tree = lxml.html.document_fromstring(html)
        theirs, ours = Document(copy(tree)), Document(copy(tree))
        original(theirs)
        readability_candidates.remove_unlikely_candidates(ours)
        assert lxml.etree.tostring(ours.doc) == lxml.etree.tostring(theirs.doc)
        dropped += len(list(tree.iter())) - len(list(ours.doc.iter()))
    assert dropped > 0


def test_installed_and_put_back_for_plain_trafilatura() -> None:
    assert readability_candidates.install()
    assert readability_candidates.install()  # idempotent
    fast = readability_candidates.remove_unlikely_candidates
    assert Document.remove_unlikely_candidates is fast
    with readability_candidates.trafilatura_own():
        assert Document.remove_unlikely_candidates is readability_candidates._ORIGINALS[0]
    assert Document.remove_unlikely_candidates is fast
