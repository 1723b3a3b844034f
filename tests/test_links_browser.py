"""Honest links in a real browser (docs/dashboard.md#links): a date typed in the sidebar applies on
Enter and on leaving the field, a bad link's warnings are on screen, and a quick period is one click.
Screenshots at 1440 and 390 px go to test-artifacts/screenshots/links_*.png (the periods also with the
sidebar open at 390 px)."""

from __future__ import annotations

from dashboard_fixtures import sample_db  # noqa: F401
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium, server, tab  # noqa: F401

DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}


def screenshots(tab: Tab, name: str) -> None:
    """The page as it is now at desktop and at phone width: SCREENSHOTS/links_<name>_<width>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        tab.page.set_viewport_size(viewport)
        tab.page.wait_for_timeout(500)  # the layout settles at the new width
        path = SCREENSHOTS / f"links_{name}_{viewport['width']}.png"
        tab.page.screenshot(path=str(path))
        assert path.stat().st_size > 5_000
    tab.page.set_viewport_size(DESKTOP)


def date_field(tab: Tab, label: str):
    return tab.page.locator('[data-testid="stSidebar"] [data-testid="stDateInput"]').filter(has_text=label)


def type_date(tab: Tab, label: str, digits: str) -> None:
    """Click the year of the date field and type the date's digits (it moves on to month and day)."""
    date_field(tab, label).locator('[data-type="year"]').click()
    tab.page.keyboard.type(digits)


def wait_for_link(tab: Tab, part: str) -> None:
    tab.page.wait_for_function("(part) => window.location.search.includes(part)", arg=part, timeout=20_000)
    tab.wait_idle()


def headline(tab: Tab) -> str:
    return tab.page.locator('[data-testid="stMainBlockContainer"] h3').first.inner_text()


def test_enter_applies_a_typed_date(tab: Tab) -> None:
    tab.page.set_viewport_size(DESKTOP)
    tab.open("/")
    assert "from=" not in tab.page.url
    type_date(tab, "First session from", "20250101")
    tab.page.keyboard.press("Enter")
    wait_for_link(tab, "from=2025-01-01")
    assert headline(tab).startswith("Episodes starting 01 Jan 2025 – 30 Jun 2026")
    # the cursor is back in the date field, so Enter does not throw the keyboard user out of it
    assert tab.page.evaluate(
        """() => !!document.activeElement.closest('[data-testid="stDateInputField"]')""")
    tab.assert_clean()
    screenshots(tab, "enter_applies_a_typed_date")


def test_leaving_the_field_applies_a_typed_date(tab: Tab) -> None:
    tab.open("/")
    type_date(tab, "First session to", "20250630")
    tab.page.keyboard.press("Tab")  # to the field's calendar button
    tab.page.keyboard.press("Tab")  # out of the field
    wait_for_link(tab, "to=2025-06-30")
    assert headline(tab).startswith("Episodes starting 01 Jul 2024 – 30 Jun 2025")
    tab.assert_clean()


def test_a_bad_links_warnings_are_on_screen(tab: Tab) -> None:
    tab.open("/therapists?clinic=K01&clinic=K77&from=2030-01-01&caseload=500")
    alerts = tab.page.locator('[data-testid="stAlertContentWarning"]')
    alerts.first.wait_for(timeout=20_000)
    texts = alerts.all_inner_texts()
    assert any("Parts of this link could not be used" in text and "K77" in text and "2030-01-01" in text
               for text in texts), texts
    assert any("This link's caseload 500 is not a whole number from 1 to 50" in text for text in texts), texts
    assert "clinic=K01" in tab.page.url and "K77" not in tab.page.url and "caseload" not in tab.page.url
    tab.assert_clean()
    tab.page.locator('[data-testid="stMainBlockContainer"]').evaluate("e => e.scrollIntoView()")
    screenshots(tab, "bad_link_warning")


def test_this_year_is_one_click(tab: Tab) -> None:
    tab.open("/")
    tab.page.locator('[data-testid="stSidebar"] button').filter(has_text="This year").click()
    wait_for_link(tab, "period=this-year")
    assert headline(tab).startswith("Episodes starting 01 Jan 2026 – 30 Jun 2026")
    tab.assert_clean()
    screenshots(tab, "this_year")
    # at phone width the sidebar starts folded away: the periods are one tap after opening it
    tab.page.set_viewport_size(PHONE)
    tab.page.locator('[data-testid="stExpandSidebarButton"]').click()
    period = tab.page.locator('[data-testid="stSidebar"] button').filter(has_text="This year")
    period.wait_for(state="visible", timeout=10_000)
    period.scroll_into_view_if_needed()
    tab.page.wait_for_timeout(500)  # the sidebar has slid in
    tab.page.screenshot(path=str(SCREENSHOTS / "links_this_year_sidebar_390.png"))
    tab.page.set_viewport_size(DESKTOP)
