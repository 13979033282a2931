"""The real-web layer: newsmon against material nobody here wrote (../shared/corpora).

The corpora stay outside the repository (some licences allow research use only). They are found
at $NEWSMON_CORPORA, or else beside the checkout at ../shared/corpora. Where they are absent a
developer's run skips these tests with one line saying so; under CI (CI=true) absence fails,
since CI always has them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def corpora_path() -> Path | None:
    """The corpora folder, or None where it is not on this machine."""
    configured = os.environ.get("NEWSMON_CORPORA")
    candidate = Path(configured) if configured else REPO.parent / "shared" / "corpora"
    return candidate if (candidate / "README.md").is_file() else None


@pytest.fixture(scope="session")
def corpora() -> Path:
    found = corpora_path()
    if found is None:
        reason = "real-web corpora not found (set NEWSMON_CORPORA or put them at ../shared/corpora)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must have them")
        pytest.skip(reason)
    return found
