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
# The screenshots docs/OPERATIONS.md shows, written again by every run of these tests.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


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
        SCREENSHOTS.mkdir(exist_ok=True)
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
    # Every parameter of the flow is a field with its description; config_dir (a server path)
    # is not one (issue 15).
    for field in ("since", "until", "sources", "mode", "deliver_alerts"):
        expect(page.get_by_text(field, exact=False).first).to_be_visible()
    expect(page.get_by_text("config_dir", exact=False)).to_have_count(0)
    expect(page.get_by_text("YYYY-MM-DD (UTC), e.g. 2026-11-01", exact=False)).to_be_visible()
    expect(page.get_by_text("Property is type None", exact=False)).to_have_count(0)
    expect(page.get_by_text("discover", exact=True).first).to_be_visible()  # the mode's default
    page.screenshot(path=str(SCREENSHOTS / "backfill-custom-run-form.png"), full_page=True)
    # The sources are offered by name: open the field's list and pick one.
    picker = page.get_by_role("button", name="No items selected").first
    picker.click()
    if not page.get_by_text("tigris-herald", exact=True).first.is_visible():
        picker.press("ArrowDown")  # some versions of the UI open the list from the keyboard
    for name in ("tigris-herald", "sham-post"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=20_000)
    page.screenshot(path=str(SCREENSHOTS / "backfill-form-sources.png"), full_page=True)
    page.keyboard.press("Escape")

    page.go_back()
    page.wait_for_url("**/deployment/**")
    page.get_by_role("link", name=backfill_run.name, exact=True).first.click()
    page.wait_for_url("**/flow-run/**")
    expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
    page.get_by_text("Artifacts", exact=True).first.click()
    for key in ("backfill-summary", "backfill-stories", "backfill-progress"):
        expect(page.get_by_text(key, exact=True).first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "backfill-run-artifacts.png"), full_page=True)

    # The table artifact itself: one row per source, with the columns of the summary.
    page.get_by_text("backfill-summary", exact=True).first.click()
    page.wait_for_url("**/artifact**")
    source = backfill_run.parameters["sources"][0]
    table = page.get_by_role("table").first
    expect(table.get_by_role("columnheader", name="stored", exact=True)).to_be_visible()
    expect(table.get_by_role("row").filter(has_text=source).first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "backfill-summary-table.png"), full_page=True)


@pytest.fixture
def unfinished_run(prefect_server: PrefectServer, served: Any, tmp_path: Path) -> Any:
    """A backfill run through the served deployment whose only feed cannot be read. (Made before
    the browser starts: with Playwright's loop running, run_deployment returns a coroutine.)"""
    import socket

    from prefect.deployments import run_deployment

    with socket.socket() as sock:  # nothing listens there: the feed cannot be read
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        f"sources:\n  - {{name: gone, url: 'http://127.0.0.1:{port}/feed.xml'}}\n",
        encoding="utf-8",
    )
    served.require_running()
    with prefect_server.api():
        return run_deployment(
            name="backfill/backfill",
            # config_dir is no field of the form; the API still takes it (operators, tests).
            parameters={"since": "2026-11-01", "until": "2026-11-30", "config_dir": str(config)},
            timeout=300,
            poll_interval=1,
        )


def test_an_unfinished_backfill_shows_as_failed_in_the_ui(
    unfinished_run: Any, page: Any, prefect_server: PrefectServer
) -> None:
    """Issue 15: a backfill that left work undone showed a green Completed run."""
    from playwright.sync_api import expect

    run = unfinished_run
    assert run.state is not None and run.state.is_failed(), run.state
    assert "feed pages or sitemaps could not be read" in (run.state.message or "")

    page.goto(f"{prefect_server.url}/flow-runs/flow-run/{run.id}")
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    expect(page.get_by_text("Completed", exact=True)).to_have_count(0)
    page.get_by_text("Artifacts", exact=True).first.click()
    expect(page.get_by_text("backfill-summary", exact=True).first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "backfill-unfinished-run.png"), full_page=True)
