"""Trends a director can trust, in Chromium (docs/dashboard.md#overview, docs/dashboard.md#first-sessions):
the Overview and First sessions draw the dropout control chart (its band, the long-run line, the shaded
dates) and First sessions the clinic × quarter heat table, at desktop (1440 px) and phone (390 px) width.
Screenshots go to test-artifacts/screenshots/trends_*.png."""

from __future__ import annotations

from pathlib import Path

from dashboard_fixtures import sample_db  # noqa: F401
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium, server, tab  # noqa: F401

WIDTHS = {"desktop": 1440, "phone": 390}
CONTROL_MARKS = {"area", "line", "rule", "symbol"}


def at_width(tab: Tab, width: int, path: str) -> None:
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.open(path)


def screenshot(tab: Tab, name: str, width: int) -> Path:
    """The whole page at this width: the window grown to the content's height (Streamlit scrolls its main
    area inside the window), then the shot."""
    height = tab.page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
            .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))""")
    tab.page.set_viewport_size({"width": width, "height": max(900, height + 40)})
    tab.page.wait_for_timeout(500)  # charts sized to their container redraw
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"trends_{name}_{width}.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    return shot


def chart_texts(tab: Tab, chart: int) -> list[str]:
    """The text of every SVG <text> in a chart (a cell's two lines run together)."""
    return tab.page.locator('[data-testid="stVegaLiteChart"]').nth(chart).evaluate(
        "chart => Array.from(chart.querySelectorAll('svg g.role-mark text')).map(t => t.textContent)")


def test_overview_draws_the_control_band_and_the_incomplete_months(tab: Tab) -> None:  # noqa: F811
    for width in WIDTHS.values():
        at_width(tab, width, "/?from=2026-01-01&to=2026-06-30")
        [control] = tab.wait_for_marks(1)
        assert CONTROL_MARKS | {"rect"} <= control  # the band, the long-run line, the points, the shaded dates
        warning = tab.page.locator('[data-testid="stAlertContentWarning"]').first.inner_text()
        assert "5 of 6 months of this period are still incomplete" in warning
        deltas = tab.page.locator('[data-testid="stMetricDelta"]').all_inner_texts()
        assert deltas and all("a year earlier" in d for d in deltas)
        tab.wait_idle()
        tab.assert_clean()
        screenshot(tab, "overview", width)


def test_first_sessions_draws_the_control_chart_by_quarter_and_the_heat_table(tab: Tab) -> None:  # noqa: F811
    for width in WIDTHS.values():
        at_width(tab, width, "/first_sessions?from=2026-01-01&to=2026-06-30")
        control, heat, *_ = tab.wait_for_marks(5)
        assert CONTROL_MARKS | {"rect"} <= control
        assert {"rect", "text"} <= heat
        cells = chart_texts(tab, 1)
        assert any(text.startswith("too few") for text in cells)
        assert any(text.endswith("%") is False and "%" in text and " of " in text for text in cells)
        # the toggle (a radio group, reachable by keyboard): quarters
        tab.page.get_by_role("radio", name="Quarter", exact=True).click()  # not the sidebar's "Last quarter"
        tab.wait_idle()
        control, heat, *_ = tab.wait_for_marks(5)
        assert CONTROL_MARKS <= control
        tab.assert_clean()
        screenshot(tab, "first_sessions", width)
        # the heat table's clinics fit across even a phone's width: no cell is cut off at the side
        sizes = tab.page.locator('[data-testid="stVegaLiteChart"]').nth(1).evaluate(
            "chart => [chart.querySelector('svg').getBoundingClientRect().right, document.documentElement.clientWidth]")
        assert sizes[0] <= sizes[1]
        tab.page.get_by_role("radio", name="Month", exact=True).click()
        tab.wait_idle()
