"""Access in a real browser (docs/dashboard.md#accessibility): axe-core finds no serious or critical
violation on any page at desktop (1440 px) and phone (390 px) width, a keyboard reaches and selects what a
mouse does, and where the focus is stays visible. Each page is saved at both widths under
test-artifacts/screenshots/ (access_<page>_<width>.png).

axe-core comes from the npm registry, pinned in package.json and package-lock.json: `npm ci` (the README's
test command) installs it in node_modules/. Under CI a missing axe-core fails these tests; elsewhere they
skip and say how to install it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_fixtures import PAGES, require, sample_db  # noqa: F401
from test_dashboard_browser import SCREENSHOTS, Tab, browser, chromium, server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1440, "phone": 390}
HEIGHT = 900

# Violations in Streamlit's own frontend that no page of ours can reach, each narrowed to its rule and to
# the elements it is found on (a selector every node must sit inside), with why it is left
# (docs/dashboard.md#accessibility lists them too).
STREAMLIT_OWN = {
    # The sidebar's page list: Streamlit wraps each <li> in a <div> inside the <ul>, so the list holds
    # elements other than list items and the items have no list parent. The links themselves are named
    # and reached by Tab; a screen reader loses only the count of items.
    "list": '[data-testid="stSidebarNavItems"]',
    "listitem": '[data-testid="stSidebarNavItems"]',
}


@pytest.fixture(scope="module")
def axe() -> Path:
    return require(AXE, f"{AXE.relative_to(ROOT)} is missing: run `npm ci` in {ROOT}")


def opened(browser, server: str, path: str, width: int) -> Tab:  # noqa: F811
    tab = Tab(browser, server)
    tab.page.set_viewport_size({"width": width, "height": HEIGHT})
    tab.open(path)
    return tab


def serious_violations(tab: Tab, axe: Path) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now, each node marked with whether it
    lies inside the selector its rule is excused for (STREAMLIT_OWN)."""
    tab.page.add_script_tag(path=str(axe))
    return tab.page.evaluate(
        """async (excused) => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => {
                    const element = document.querySelector(n.target[0]);
                    const within = excused[v.id];
                    return {target: n.target.join(' '), html: n.html.slice(0, 160), why: n.failureSummary,
                            excused: Boolean(within && element && element.closest(within))};
                }),
            }));
        }""", STREAMLIT_OWN)


def screenshot(tab: Tab, name: str, width: int) -> Path:
    """The whole page at this width (Streamlit scrolls inside the window: grow it to the content first)."""
    height = tab.page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
            .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))""")
    tab.page.set_viewport_size({"width": width, "height": max(HEIGHT, height + 40)})
    tab.page.wait_for_timeout(500)  # charts sized to their container redraw
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    tab.page.set_viewport_size({"width": width, "height": HEIGHT})
    assert shot.stat().st_size > 5_000
    return shot


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_or_critical_axe_violation_on_any_page(browser, server: str, axe: Path,  # noqa: F811
                                                          name: str, width: int) -> None:
    tab = opened(browser, server, PAGES[name][0], width)
    try:
        tab.page.wait_for_timeout(1_000)  # charts finish drawing after the script goes quiet
        found = serious_violations(tab, axe)
        unexcused = [{**v, "nodes": [n for n in v["nodes"] if not n["excused"]]} for v in found]
        assert not [v for v in unexcused if v["nodes"]], unexcused
        # an excuse that no longer matches anything is stale: drop it here and in the docs
        assert {v["id"] for v in found} <= set(STREAMLIT_OWN)
        tab.assert_clean()
        screenshot(tab, f"access_{name}_{width}", width)
    finally:
        tab.close()


def focus_ring(tab: Tab) -> dict:
    """The focused element and the outline it is drawn with."""
    return tab.page.evaluate("""() => {
        const e = document.activeElement, style = getComputedStyle(e);
        return {element: e.tagName + ' ' + (e.getAttribute('data-testid') || e.getAttribute('aria-label') || ''),
                style: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0};
    }""")


def test_focus_is_visible_on_every_element_a_keyboard_reaches(browser, server: str) -> None:  # noqa: F811
    """Tab through the Therapists page (links, date fields, lists, sliders, switches, charts' menus, tables,
    download buttons): every element that takes the focus shows a ring of at least 2 px."""
    tab = opened(browser, server, "/therapists", WIDTHS["desktop"])
    try:
        reached = []
        for _ in range(60):
            tab.page.keyboard.press("Tab")
            ring = focus_ring(tab)
            if ring["element"].startswith("BODY"):
                continue
            reached.append(ring)
        assert len({ring["element"] for ring in reached}) > 10, reached
        invisible = [ring for ring in reached if ring["style"] == "none" or ring["width"] < 2]
        assert not invisible, invisible
        tab.assert_clean()
    finally:
        tab.close()


def tab_into_table(tab: Tab, table: int = 0) -> None:
    """Press Tab until the focus is in the page's `table`-th table (its grid, a canvas)."""
    grid = tab.page.locator('[data-testid="stDataFrame"]').nth(table).locator("canvas").first
    grid.wait_for()
    for _ in range(120):
        tab.page.keyboard.press("Tab")
        if grid.evaluate("canvas => canvas === document.activeElement"):
            return
    pytest.fail("Tab never reached the table")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_table_row_is_selected_with_the_keyboard(browser, server: str, width: int) -> None:  # noqa: F811
    """On Explore: Tab into the episodes table, arrow down to the second row, Shift+Space selects it, and the
    drill-down of that row's episode opens, as a click on the row does."""
    tab = opened(browser, server, "/explore", width)
    try:
        tab_into_table(tab)
        tab.page.keyboard.press("ArrowDown")  # the focus enters on the first row's first cell
        tab.page.keyboard.press("Shift+Space")
        heading = tab.page.locator("h3", has_text="Appointments of client")
        heading.wait_for(timeout=30_000)
        tab.wait_idle()
        assert heading.inner_text().startswith("Appointments of client C0000002")
        tab.assert_clean()
        screenshot(tab, f"access_explore_keyboard_row_{width}", width)
    finally:
        tab.close()


def choose_by_keyboard(tab: Tab, label: str, option: str) -> None:
    """Tab to the select box named `label`, type the option and press Enter."""
    box = tab.page.get_by_role("combobox", name=label, exact=True)
    box.wait_for()
    for _ in range(150):
        tab.page.keyboard.press("Tab")
        if box.evaluate("input => input === document.activeElement"):
            break
    else:
        pytest.fail(f"Tab never reached the {label} select box")
    tab.page.keyboard.type(option)
    tab.page.keyboard.press("Enter")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_funnel_point_is_chosen_with_the_keyboard(browser, server: str, width: int) -> None:  # noqa: F811
    """Therapists: the select box beside the funnels, reached by Tab, opens a therapist's panel as a click on
    their point does; Attendance: the one beside the no-show funnel tells a clinic's point in words."""
    tab = opened(browser, server, "/therapists", width)
    try:
        choose_by_keyboard(tab, "Therapist on the funnels", "T0203")
        heading = tab.page.locator("h3", has_text="Episodes of")
        heading.wait_for(timeout=30_000)
        tab.wait_idle()
        assert heading.inner_text().strip() == "Episodes of T0203"
        assert tab.page.get_by_text("Therapist T0203: single-session dropout").count() == 1
        tab.assert_clean()
        screenshot(tab, f"access_therapists_keyboard_point_{width}", width)
    finally:
        tab.close()
    tab = opened(browser, server, "/attendance", width)
    try:
        choose_by_keyboard(tab, "Clinic on the funnel", "K03")
        tab.page.get_by_text("Clinic K03: no-show rate").wait_for(timeout=30_000)
        tab.wait_idle()
        tab.assert_clean()
        screenshot(tab, f"access_attendance_keyboard_point_{width}", width)
    finally:
        tab.close()


def test_safety_table_shows_client_days_since_and_therapist_at_phone_width(browser, server: str) -> None:  # noqa: F811
    """At 390 px the Safety table's first screen holds the client, the days since the risk session and the
    therapist (the grid's accessible table lists the columns it draws)."""
    width = WIDTHS["phone"]
    tab = opened(browser, server, "/safety", width)
    try:
        # the first risk list's (the early warnings below have tables of their own); inside the canvas: never "visible"
        columns = '.st-key-nothing_ahead [data-testid="stDataFrame"] canvas [role="columnheader"]'
        tab.page.wait_for_selector(columns, state="attached")
        headers = tab.page.locator(columns).all_text_contents()
        assert headers[:3] == ["Client", "Days since the risk session", "Therapist"], headers
        tab.assert_clean()
        screenshot(tab, f"access_safety_key_columns_{width}", width)
    finally:
        tab.close()
