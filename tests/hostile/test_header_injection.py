"""Feed titles cannot inject headers into alert emails (held before issue 12; kept honest here)."""

from __future__ import annotations

import pytest

from newsmon.alerts.messages import render_alert, render_digest
from tests.unit.test_messages import item

HOSTILE_TITLES = [
    "Anbar strike\r\nBcc: victim@example.com",
    "Anbar strike\nContent-Type: text/html",
    "Anbar strike\rX-Injected: 1",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_a_title_with_line_breaks_gives_a_one_line_subject(title: str, fmt: str) -> None:
    for rendered in (
        render_alert(item(title=title), fmt),  # type: ignore[arg-type]
        render_digest("isis-anbar", [item(title=title)], fmt),  # type: ignore[arg-type]
    ):
        assert "\r" not in rendered.title and "\n" not in rendered.title, rendered.title
