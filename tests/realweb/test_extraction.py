"""newsmon's extraction against plain trafilatura on 500 real article pages with human gold text.

The corpus (../shared/corpora/extraction, see its README) scores text by precision and recall over
4-token shingles (its own score.py, loaded from there). A wrapper must never be worse than the
library it wraps: on the same pages, newsmon's F1 is at least plain trafilatura's with the
options the corpus's baseline uses, and no page with gold text is refused. All 500 pages, both
extractors: about 30 s of CPU on a quiet machine.
"""

from __future__ import annotations

import csv
import importlib.util
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from newsmon.extract.page import ExtractionError, extract_page
from newsmon.extract.selectors import trafilatura_own_selectors

# One pass over 500 pages with two extractors: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

TRAFILATURA_BASELINE: dict[str, Any] = {"favor_precision": True, "include_comments": False}
# None: the two pages whose markup never closes <title> (`</titavaScript`, `</titlevalue`),
# which plain trafilatura reads nothing from, are read since extract._close_unclosed_title.
BLANK_IN_A_BROWSER: set[str] = set()


def _scorer(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("extraction_score", folder / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def side_by_side(corpora: Path) -> dict[str, Any]:
    """Both extractors over every page of the dev set, once for all the tests below."""
    import trafilatura

    folder = corpora / "extraction"
    scorer = _scorer(folder)
    html_paths, truth = scorer.load_corpus(folder)
    with (folder / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        urls = {row["id"]: row["url"] for row in csv.DictReader(handle, delimiter="\t")}
    ours: dict[str, str] = {}
    theirs: dict[str, str] = {}
    refused: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for key, path in html_paths.items():
            html = path.read_text(encoding="utf-8")
            try:
                ours[key] = extract_page(html, urls.get(key) or None).text
            except ExtractionError as err:
                ours[key] = ""
                refused[key] = str(err)
            with trafilatura_own_selectors():  # plain: trafilatura as it ships
                theirs[key] = trafilatura.extract(html, **TRAFILATURA_BASELINE) or ""
    return {
        "scorer": scorer,
        "truth": truth,
        "newsmon": scorer.evaluate(truth, ours, bootstrap=0),
        "trafilatura": scorer.evaluate(truth, theirs, bootstrap=0),
        "refused": refused,
        "theirs": theirs,
    }


def test_newsmon_f1_is_at_least_plain_trafilatura(side_by_side: dict[str, Any]) -> None:
    ours, theirs = side_by_side["newsmon"], side_by_side["trafilatura"]
    figures = (
        f"newsmon F1 {ours['f1']:.4f} P {ours['precision']:.4f} R {ours['recall']:.4f}; "
        f"trafilatura F1 {theirs['f1']:.4f} P {theirs['precision']:.4f} R {theirs['recall']:.4f}"
    )
    assert ours["f1"] >= theirs["f1"], figures


@pytest.mark.parametrize("part", ["l3s", "wcxb"])
def test_newsmon_f1_is_at_least_plain_trafilatura_on_each_part(
    side_by_side: dict[str, Any], part: str
) -> None:
    scorer, truth = side_by_side["scorer"], side_by_side["truth"]
    keys = [key for key in truth if key.startswith(part + "-")]
    ours = scorer.aggregate([side_by_side["newsmon"]["pages"][k][0] for k in keys])
    theirs = scorer.aggregate([side_by_side["trafilatura"]["pages"][k][0] for k in keys])
    assert ours["f1"] >= theirs["f1"], (part, ours, theirs)


def test_no_page_with_gold_text_is_refused(side_by_side: dict[str, Any]) -> None:
    truth = side_by_side["truth"]
    refused = {k: why for k, why in side_by_side["refused"].items() if truth[k].strip()}
    assert set(refused) <= BLANK_IN_A_BROWSER, refused
    for key in refused:  # the exceptions are pages the library itself reads nothing from
        assert not side_by_side["theirs"][key].strip(), key
