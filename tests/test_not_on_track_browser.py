"""Not on track in Chromium (docs/dashboard.md#early-warnings): the Safety page draws the not-on-track
trajectory of the first listed episode against its band's lines with no error, at desktop (1440 px) and
phone (390 px) width, and says that it is an expectation, not a clinical prediction; Explore draws it too.
Screenshots go to test-artifacts/screenshots/not_on_track_*.png."""

from __future__ import annotations

from dashboard_fixtures import sample_db  # noqa: F401
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium, server, tab  # noqa: F401
from test_trends_browser import WIDTHS, at_width

TRAJECTORY_MARKS = {"line", "symbol"}  # the band's dashed lines and the episode's line, the episode's points


def screenshot_chart(tab: Tab, name: str, width: int) -> None:
    """The not-on-track chart at this width, with the list above it, as a phone or a desk shows it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chart = tab.page.locator('[data-testid="stVegaLiteChart"]').last
    chart.scroll_into_view_if_needed()
    shot = SCREENSHOTS / f"not_on_track_{name}_{width}.png"
    tab.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    chart.screenshot(path=str(SCREENSHOTS / f"not_on_track_{name}_chart_{width}.png"))


def test_safety_page_draws_the_not_on_track_trajectory_with_no_error(tab: Tab) -> None:  # noqa: F811
    for width in WIDTHS.values():
        at_width(tab, width, "/safety")
        [trajectory] = tab.wait_for_marks(1)
        assert TRAJECTORY_MARKS <= trajectory
        # the band's three dashed lines and the episode's own line
        assert tab.page.locator('[data-testid="stVegaLiteChart"] g.mark-line.role-mark path').count() >= 4
        assert tab.page.get_by_text("not a clinical prediction").count() == 1
        tab.wait_idle()
        tab.assert_clean()
        screenshot_chart(tab, "safety", width)


def test_explore_draws_the_not_on_track_trajectory_with_no_error(tab: Tab) -> None:  # noqa: F811
    at_width(tab, WIDTHS["desktop"], "/explore")
    [trajectory] = tab.wait_for_marks(1)
    assert TRAJECTORY_MARKS <= trajectory
    tab.wait_idle()
    tab.assert_clean()
    screenshot_chart(tab, "explore", WIDTHS["desktop"])
