"""The Prefect UI of the test server in a real browser: Debian's Chromium driven by Playwright.

What an analyst does: open the deployments, pick backfill, open its custom run form and see the
typed fields; open a finished backfill run and see its artifacts. Selectors are visible texts and
roles (no CSS classes, no URLs typed in), so they hold across Prefect UI releases that keep the
same words. Screenshots go to the test's tmp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import PrefectServer

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: no sandbox (root), no GPU, and nothing that reaches the network
# besides the page (no QUIC, background networking, component updates or sync).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


@pytest.fixture
def page(tmp_path: Path, prefect_server: PrefectServer) -> Iterator[Any]:
    """A page in a fresh Chromium profile that may load only the Prefect server's address."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        allowed = prefect_server.url + "/"
        blocked: list[str] = []

        def only_the_server(route: Any) -> None:
            url = route.request.url
            if url.startswith(allowed) or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                blocked.append(url)
                route.abort()

        context.route("**/*", only_the_server)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
        assert blocked == [], f"the UI tried to load other addresses: {blocked}"


def test_backfill_custom_run_form_and_run_artifacts(
    page: Any, prefect_server: PrefectServer, backfill_run: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{prefect_server.url}/deployments")
    # The deployment's link (the flow's link has the same text and comes second).
    page.get_by_role("link", name="backfill", exact=True).first.click()
    page.wait_for_url("**/deployment/**")
    expect(page.get_by_text("newsmon.flows.backfill.backfill")).to_be_visible()

    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    # Every parameter of the flow is a field, with its description from the docstring.
    for field in ("since", "until", "sources", "mode", "deliver_alerts", "config_dir"):
        expect(page.get_by_text(field, exact=False).first).to_be_visible()
    expect(page.get_by_text("First day of the window (UTC)", exact=False)).to_be_visible()
    expect(page.get_by_text("Select date", exact=False).first).to_be_visible()  # a date picker
    expect(page.get_by_text("discover", exact=True).first).to_be_visible()  # the mode's default
    page.screenshot(path=str(tmp_path / "custom-run-form.png"), full_page=True)

    page.go_back()
    page.wait_for_url("**/deployment/**")
    page.get_by_role("link", name=backfill_run.name, exact=True).first.click()
    page.wait_for_url("**/flow-run/**")
    expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
    page.get_by_text("Artifacts", exact=True).first.click()
    for key in ("backfill-summary", "backfill-stories", "backfill-progress"):
        expect(page.get_by_text(key, exact=True).first).to_be_visible()
    page.screenshot(path=str(tmp_path / "run-artifacts.png"), full_page=True)

    # The table artifact itself: one row per source, with the columns of the summary.
    page.get_by_text("backfill-summary", exact=True).first.click()
    page.wait_for_url("**/artifact**")
    source = backfill_run.parameters["sources"][0]
    table = page.get_by_role("table").first
    expect(table.get_by_role("columnheader", name="stored", exact=True)).to_be_visible()
    expect(table.get_by_role("row").filter(has_text=source).first).to_be_visible()
    page.screenshot(path=str(tmp_path / "summary-table.png"), full_page=True)
