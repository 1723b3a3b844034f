"""The Safety worklist in a real browser (docs/dashboard.md#safety): the risk-date link, a row opened
by a click, an entry added through the form with a hostile note that stays text, at 1440 and 390 px
wide, with screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from dashboard_fixtures import sample_db  # noqa: F401
from dashboard_server import running
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium  # noqa: F401

from pipelines.followup import LOG_ENV, NAME_GIVEN

HOSTILE_NOTE = "**x** <b>y</b> [z](http://a)"
WIDTHS = {"desktop": 1440, "phone": 390}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("safety_log") / "followup.sqlite"


@pytest.fixture(scope="module")
def safety_server(sample_db: Path, chromium: Path, log: Path) -> Iterator[str]:  # noqa: F811
    """The dashboard on the sample warehouse, its follow-up log in a folder of this module's own."""
    with running(["dashboard", "--db", str(sample_db), "--headless"], env={LOG_ENV: str(log)}) as served:
        yield served.url


def shot(tab: Tab, name: str, width: int) -> Path:
    """The whole page at this width (Streamlit scrolls inside the window: grow it to the content)."""
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.page.wait_for_timeout(400)
    height = tab.page.evaluate("""() => Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
        .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))""")
    tab.page.set_viewport_size({"width": width, "height": max(900, height + 40)})
    tab.page.wait_for_timeout(500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}_{width}.png"
    tab.page.screenshot(path=str(path), full_page=True)
    tab.page.set_viewport_size({"width": width, "height": 900})
    assert path.stat().st_size > 10_000
    return path


def open_first_row(tab: Tab, heading: str) -> None:
    """Click the first row of the first table (its row marker, below the 35-pixel header)."""
    table = tab.page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    tab.page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    tab.page.locator("h3", has_text=heading).wait_for(timeout=30_000)
    tab.wait_idle()


@pytest.mark.parametrize("device", WIDTHS)
def test_safety_worklist_opens_a_row_and_takes_a_followup_entry(browser, safety_server: str, log: Path,  # noqa: F811
                                                                device: str) -> None:
    width = WIDTHS[device]
    tab = Tab(browser, safety_server)
    try:
        tab.page.set_viewport_size({"width": width, "height": 900})
        tab.open("/safety?risk_from=2026-01-01")
        assert tab.page.locator("h1").first.inner_text() == "Safety: risk follow-up gaps"
        assert [h.strip() for h in tab.page.locator("h3").all_inner_texts()][:2] == [
            "At risk, nothing ahead", "Risk follow-up gaps (14 days)"]
        assert "risk_from=2026-01-01" in tab.page.url  # the link keeps the page's own filter
        assert [tab.page.get_by_role("spinbutton", name=f"{part}, Risk session from").get_attribute("aria-valuenow")
                for part in ("year", "month", "day")] == ["2026", "1", "1"]
        tab.page.wait_for_selector('[data-testid="stDataFrame"]')
        tab.wait_idle()
        tab.assert_clean()
        shot(tab, "safety_worklist", width)

        open_first_row(tab, "Client")
        form = tab.page.locator('[data-testid="stForm"]')
        form.get_by_text("could not reach").click()
        form.get_by_role("textbox", name=re.compile("^Note")).fill(HOSTILE_NOTE)
        form.get_by_role("textbox", name="Your name").fill(f"John Smith {device}")
        form.get_by_role("button", name="Add to the follow-up log").click()
        tab.page.get_by_text("Recorded: could not reach").wait_for(timeout=30_000)
        tab.wait_idle()
        tab.assert_clean()
        main = tab.page.locator('[data-testid="stMain"]')
        # the note is drawn nowhere as Markdown or HTML: no bold, no <b>, no link from it
        assert main.locator('[data-testid="stMarkdownContainer"] b').count() == 0
        assert main.locator('[data-testid="stMarkdownContainer"] a[href="http://a/"]').count() == 0
        shot(tab, "safety_followup_log", width)
    finally:
        tab.close()
    with closing(sqlite3.connect(log)) as con:
        written = con.execute("SELECT note, recorded_by, who_kind FROM followup_log WHERE recorded_by = ?",
                              [f"John Smith {device}"]).fetchall()
    assert written == [(HOSTILE_NOTE, f"John Smith {device}", NAME_GIVEN)]
