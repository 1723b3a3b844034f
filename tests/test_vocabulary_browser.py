"""One vocabulary in a real browser (docs/dashboard.md#words-and-numbers): the Glossary page and a table, at
desktop (1440 px) and phone (390 px) width, with screenshots under test-artifacts/screenshots/. No table header
is a raw snake_case column name, and a missing value is "—", never "None"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from dashboard_fixtures import sample_db  # noqa: F401
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium, server  # noqa: F401

from dashboard import glossary

WIDTHS = {"desktop": 1440, "phone": 390}
SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
# the pages whose tables the sample fills without a click, and the words a header of theirs reads
TABLE_PAGES = {"/safety": "Days since the risk session", "/attendance": "No-show rate",
               "/first_sessions": "Cohort month", "/explore": "Days in care"}


@contextmanager
def opened(browser, server: str, path: str, width: int) -> Iterator[Tab]:  # noqa: F811
    """A page opened in a window `width` pixels wide; checked clean and closed after the test's look at it."""
    tab = Tab(browser, server)
    try:
        tab.page.set_viewport_size({"width": width, "height": 1000})
        tab.open(path)
        yield tab
        tab.wait_idle()
        tab.assert_clean()
    finally:
        tab.close()


def shot(tab: Tab, name: str) -> None:
    """The page as the reader sees it at its width: the window, then the whole main area."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def headers(tab: Tab, table: int | None = None) -> list[str]:
    """Every table's column headers (or the `table`-th table's), as the grid gives them to a screen reader."""
    tab.page.wait_for_selector('[data-testid="stDataFrame"] th[role="columnheader"]', state="attached",
                               timeout=30_000)
    tables = tab.page.locator('[data-testid="stDataFrame"]')
    return (tables if table is None else tables.nth(table)).locator('th[role="columnheader"]').all_inner_texts()


@pytest.mark.parametrize("width", WIDTHS)
def test_glossary_page_lists_every_entry_linked_to_each_other(browser, server: str, width: str) -> None:  # noqa: F811
    with opened(browser, server, "/glossary", WIDTHS[width]) as tab:
        assert tab.page.locator("h1").first.inner_text() == "Glossary"
        for anchor in ("cohort-month", "censored", "kaplan-meier", "caseness", "inactive"):
            assert tab.page.locator(f'[id="{anchor}"]').count() == 1, anchor
        assert tab.page.locator("h3").count() == len(glossary.entries())
        # a link between entries stays on the page: the Censored entry leads to Kaplan–Meier's
        assert tab.page.locator('[data-testid="stMarkdownContainer"] a[href$="#kaplan-meier"]').count() >= 1
        shot(tab, f"glossary_{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_table_reads_in_words_with_a_dash_for_missing(browser, server: str, width: str) -> None:  # noqa: F811
    with opened(browser, server, "/safety", WIDTHS[width]) as tab:
        # the risk list, the page's first table (the early warnings below have tables of their own); the grid
        # puts only the columns in view in the page: at 390 px, the first few
        tab.page.locator('[data-testid="stDataFrame"]').first.locator('th[role="columnheader"]').first.wait_for(
            state="attached", timeout=30_000)
        shown = headers(tab, 0)
        assert shown[:2] == ["Client", "Days since the risk session"] and "Therapist" in shown
        assert not [header for header in shown if SNAKE_CASE.match(header)], shown
        cells = tab.page.locator('[data-testid="stDataFrame"] td[role="gridcell"]').all_inner_texts()
        assert "None" not in cells and "nan" not in cells
        if width == "desktop":  # the next contact's date, missing where nothing came after the risk session
            # (the page has several tables: the risk table's last columns may be drawn a moment after the first)
            tab.page.wait_for_selector('[data-testid="stDataFrame"] th[role="columnheader"]:has-text("Next contact")',
                                       state="attached", timeout=30_000)
            assert "Next contact" in headers(tab) and "—" in cells
        shot(tab, f"safety_table_{width}")


@pytest.mark.parametrize("path", TABLE_PAGES)
def test_no_table_header_is_a_raw_column_name(browser, server: str, path: str) -> None:  # noqa: F811
    with opened(browser, server, path, WIDTHS["desktop"]) as tab:
        shown = headers(tab)
        assert TABLE_PAGES[path] in shown, shown
        assert not [header for header in shown if SNAKE_CASE.match(header)], shown
        table = tab.page.locator('[data-testid="stDataFrame"]:visible').first  # not one in a closed expander
        table.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        table.screenshot(path=str(SCREENSHOTS / f"table{path.replace('/', '_')}.png"))


def test_a_term_on_a_page_leads_to_its_glossary_entry(browser, server: str) -> None:  # noqa: F811
    """The link opens the Glossary in a new tab (Streamlit opens every Markdown link so), at the entry."""
    with opened(browser, server, "/endings", WIDTHS["desktop"]) as tab:
        with tab.page.context.expect_page() as opening:
            tab.page.locator('[data-testid="stCaptionContainer"] a', has_text="censored").first.click()
        glossary_tab = opening.value
        glossary_tab.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=30_000)
        assert glossary_tab.url == f"{server}/glossary#censored"
        assert glossary_tab.locator("h1").first.inner_text() == "Glossary"
        glossary_tab.locator('[id="censored"]').wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        glossary_tab.screenshot(path=str(SCREENSHOTS / "glossary_from_a_link.png"))
