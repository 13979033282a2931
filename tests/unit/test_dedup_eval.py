"""The near-duplicate evaluation set: generated reproducibly, and clustered well enough."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "dedup_eval"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    evaluation = _load("dedup_eval_benchmark", ROOT / "benchmarks" / "dedup_eval.py")
    result: dict[str, Any] = evaluation.evaluate()
    return result


def test_items_file_is_what_the_generator_writes() -> None:
    generate = _load("dedup_eval_generate", FIXTURES / "generate.py")
    expected = (FIXTURES / "items.jsonl").read_text(encoding="utf-8")
    assert generate.render(generate.build_items()) == expected


def test_evaluation_set_covers_the_hard_cases(report: dict[str, Any]) -> None:
    assert report["clusters"] >= 60
    assert set(report["by_language"]) == {"ar", "en"}
    categories = {"story", "copy", "exact", "republished", "same_event", "bulletin", "brief"}
    assert categories <= set(report["by_category"])


def test_pairwise_precision_and_recall(report: dict[str, Any]) -> None:
    overall = report["overall"]
    assert overall["precision"] >= 0.93, overall
    assert overall["recall"] >= 0.93, overall
    for lang, scores in report["by_language"].items():
        assert scores["precision"] >= 0.93 and scores["recall"] >= 0.93, (lang, scores)


def test_other_write_ups_of_an_event_are_never_merged(report: dict[str, Any]) -> None:
    assert report["by_category"]["same_event"]["fp"] == 0
    same_event = report["similarity"]["negatives: same event, other write-up"]
    assert same_event["at_or_above_threshold"] == 0


def test_republished_and_exact_copies_are_always_found(report: dict[str, Any]) -> None:
    assert report["by_category"]["republished"]["fn"] == 0
    assert report["by_category"]["exact"]["fn"] == 0
