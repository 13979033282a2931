"""newsmon's walk for readability's unlikely candidates (extract/readability_candidates.py) on the
500 real pages of the extraction dev set: the same tree left as trafilatura's own method leaves,
on each page as parsed and as trafilatura hands it to readability (prunes applied)."""

from __future__ import annotations

from copy import copy
from pathlib import Path

import lxml.etree
import pytest
from trafilatura.readability_lxml import Document
from trafilatura.xpaths import OVERALL_DISCARD_XPATH

from newsmon.extract import readability_candidates
from newsmon.extract.page import parse_html

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_same_tree_as_trafilaturas_method_on_every_page(corpora: Path) -> None:
    from trafilatura.htmlprocessing import prune_unwanted_nodes

    original = readability_candidates._original()
    assert original is not None
    paths = sorted((corpora / "extraction" / "html").glob("*.html"))
    assert len(paths) == 500
    dropped = 0
    for path in paths:
        tree = parse_html(path.read_text(encoding="utf-8", errors="replace"))
        if tree is None:
            continue
        pruned = prune_unwanted_nodes(copy(tree), OVERALL_DISCARD_XPATH)
        for raw in (tree, pruned):
            theirs, ours = Document(copy(raw)), Document(copy(raw))
            original(theirs)
            readability_candidates.remove_unlikely_candidates(ours)
            serialised = lxml.etree.tostring(ours.doc)
            assert serialised == lxml.etree.tostring(theirs.doc), path.stem
            dropped += serialised != lxml.etree.tostring(raw)
    assert dropped > 400
