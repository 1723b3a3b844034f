"""The dashboard in a real browser: `clinic-outcomes dashboard` serving the sample warehouse, driven
by Playwright in Debian's Chromium (/usr/bin/chromium; never a downloaded browser).

The README's first command, `clinic-outcomes demo`, started as a container or a service manager
starts it (a new HOME, stdin closed, no display), serves a page that draws.

Every page loads without an error element, a console error or a failed request, its charts draw
their marks, a filter changes the Overview, and each page is saved as a screenshot under
test-artifacts/screenshots/ (with UPDATE_README_SCREENSHOT=1, the Overview's first screen also
replaces docs/overview.png, the README's picture; otherwise the tracked file is left alone).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_fixtures import (  # noqa: F401
    HOSTILE_CLIENTS, HOSTILE_THERAPISTS, NAV_TITLES, PAGES, PIXEL_URL, hostile_db, require, sample_db)
from dashboard_server import running, serve

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
README_SCREENSHOT = ROOT / "docs" / "overview.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}

# The marks each page's charts draw (Vega-Lite renders to SVG here; a mark's <g> has class
# "mark-<type> role-mark"), one entry per chart, in page order.
MARKS = {
    # the control chart shades the dates the tiles cover (rect), and on First sessions only a date filter's
    "overview": [{"area", "line", "rule", "symbol", "rect"}],
    "first_sessions": [{"area", "line", "rule", "symbol"}, {"rect", "text"}, {"rect"}, {"rect"}, {"rect"}],
    "waits": [{"line", "rule", "symbol"}, {"rect", "rule"}, {"rect", "text"}],
    "attendance": [{"line", "rule", "symbol"}],
    # adjusted funnel, raw funnel, case mix, CUSUM
    "therapists": [{"line", "rule", "symbol"}, {"line", "rule", "symbol"}, {"rect"}, {"line", "rule", "symbol", "text"}],
    "outcomes": [{"rect"}, {"rect"}],  # per measure and clinic; the paired panel (its standard a tick, a rect)
    "plateaus": [{"line", "symbol"}],
    "endings": [{"line"}, {"rect"}],
    "safety": [{"line", "symbol"}],  # the not-on-track trajectory (its episode and its band's lines)
    "explore": [{"line", "symbol"}],
    "data_quality": [],
    "glossary": [],
}

# Streamlit's frontend, opened on a page's URL, first probes /<page>/_stcore/health and
# /<page>/_stcore/host-config for a base path before the real /_stcore/ ones
# (https://github.com/streamlit/streamlit/issues/7074). Those two 404s are expected.
BASE_PATH_PROBE = re.compile(r"^http://localhost:\d+/[a-z_]+/_stcore/(health|host-config)$")


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require(CHROMIUM, f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(sample_db: Path, chromium: Path) -> Iterator[str]:  # noqa: F811
    """The dashboard on the sample warehouse; its base URL."""
    with serve(sample_db) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Tab:
    """A page in a fresh browser context that records what went wrong while it was open."""

    def __init__(self, browser, server: str) -> None:
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.external: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.url} ({request.failure})"))
        self.page.on("response", self._response)
        self.page.on("request", self._request)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and BASE_PATH_PROBE.match(where):
            return
        self.problems.append(f"console error: {message.text} ({where})")

    def _response(self, response) -> None:
        if response.status >= 400 and not BASE_PATH_PROBE.match(response.url):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _request(self, request) -> None:
        if not (request.url.startswith(self.server) or request.url.startswith(("data:", "blob:"))):
            self.external.append(request.url)

    def open(self, path: str) -> None:
        self.page.goto(self.server + path)
        self.wait_idle()

    def wait_idle(self, timeout: float = 30) -> float:
        """Until the script has run and the page is drawn: a title, the app not running, for a while.
        Returns when (time.monotonic()) the app went quiet: the page was done then."""
        page = self.page
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        quiet_since = None
        while True:
            running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or page.locator(
                '[data-testid="stApp"][data-test-script-state="notRunning"]').count() == 0
            now = time.monotonic()
            if running:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 0.75:
                return quiet_since
            assert now < deadline, "the app did not become idle"
            time.sleep(0.1)

    def wait_for_marks(self, charts: int, timeout: float = 20) -> list[set[str]]:
        """The mark types drawn in each Vega-Lite chart, once every chart has drawn some."""
        self.page.wait_for_function(
            """(n) => {
                const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
                return charts.length === n && Array.from(charts).every(
                    c => c.querySelector('svg g.role-mark path, svg g.role-mark line, canvas'));
            }""", arg=charts, timeout=timeout * 1000)
        return [set(found) for found in self.page.evaluate("""() => Array.from(
            document.querySelectorAll('[data-testid="stVegaLiteChart"]')).map(chart => {
                const types = [];
                chart.querySelectorAll('svg g.role-mark').forEach(g => {
                    if (g.querySelector('path, line, rect, text')) {
                        const cls = Array.from(g.classList).find(c => c.startsWith('mark-'));
                        types.push(cls.slice('mark-'.length));
                    }
                });
                return Array.from(new Set(types));
            })""")]

    def screenshot_whole_page(self, path: Path) -> None:
        """Streamlit scrolls its main area inside the window, so a full-page screenshot is one
        window high: grow the window to the content's height for the shot, then restore it."""
        height = self.page.evaluate(
            """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
                .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))""")
        if height > VIEWPORT["height"]:
            self.page.set_viewport_size({"width": VIEWPORT["width"], "height": height + 40})
            self.page.wait_for_timeout(500)  # charts sized to their container redraw
        try:
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            self.page.set_viewport_size(VIEWPORT)

    def screenshot_page_and_chart(self, page_shot: str, chart: int, chart_shot: str) -> None:
        """A clean page saved whole, and one of its charts on its own (checked not blank): SCREENSHOTS/<name>.png."""
        self.wait_idle()
        self.assert_clean()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.screenshot_whole_page(SCREENSHOTS / f"{page_shot}.png")
        drawn = self.page.locator('[data-testid="stVegaLiteChart"]').nth(chart)
        drawn.scroll_into_view_if_needed()
        drawn.screenshot(path=str(SCREENSHOTS / f"{chart_shot}.png"))
        assert (SCREENSHOTS / f"{chart_shot}.png").stat().st_size > 5_000

    def metrics(self) -> list[str]:
        return self.page.locator('[data-testid="stMetricValue"]').all_inner_texts()

    def sidebar_labels(self) -> list[str]:
        return self.page.locator('[data-testid="stSidebar"] [data-testid="stWidgetLabel"]').all_inner_texts()

    def nav(self) -> dict[str, str]:
        """Sidebar page titles -> link (a link's text is its icon's name, then its title)."""
        links = self.page.locator('[data-testid="stSidebarNav"] a')
        return {links.nth(i).inner_text().split("\n")[-1].strip(): links.nth(i).get_attribute("href")
                for i in range(links.count())}

    def assert_clean(self) -> None:
        page = self.page
        assert page.locator('[data-testid="stException"]').count() == 0, \
            page.locator('[data-testid="stException"]').all_inner_texts()
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, \
            page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        assert not self.problems, self.problems
        assert not self.external, f"requests that left the machine: {self.external}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server: str):
    opened = Tab(browser, server)
    yield opened
    opened.close()


def test_a_link_to_a_page_is_the_first_visit(tab: Tab) -> None:
    """The first request a fresh server gets is a link to a filtered page: the app, its sidebar
    filters and its navigation must run, not the page file alone. (Keep this test first.)"""
    tab.open("/therapists?clinic=K01")
    assert tab.page.locator("h1").first.inner_text() == "Therapists"
    assert list(tab.nav()) == NAV_TITLES
    assert tab.sidebar_labels()[:6] == ["Period", "First session from", "First session to", "Clinics", "Therapists",
                                        "First session type"]
    clinics = tab.page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(has_text="Clinics")
    assert "K01" in clinics.inner_text()
    assert tab.wait_for_marks(len(MARKS["therapists"])) == MARKS["therapists"]
    tab.assert_clean()


def test_sidebar_links_are_the_page_urls(tab: Tab) -> None:
    tab.open("/")
    assert tab.nav() == {title: tab.server + path
                         for title, (path, _) in zip(NAV_TITLES, PAGES.values(), strict=True)}
    tab.assert_clean()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders(tab: Tab, name: str) -> None:
    path, title = PAGES[name]
    tab.open(path)
    assert tab.page.locator("h1").first.inner_text() == title
    expected = MARKS[name]
    if expected:
        drawn = tab.wait_for_marks(len(expected))
        for chart, (wanted, found) in enumerate(zip(expected, drawn, strict=True)):
            assert wanted <= found, f"chart {chart}: marks {sorted(found)}, expected {sorted(wanted)}"
    else:
        assert tab.page.locator('[data-testid="stVegaLiteChart"]').count() == 0
    if name == "therapists":  # the points keep their flag colours (the sample has alarms)
        fills = set(tab.page.eval_on_selector_all('[data-testid="stVegaLiteChart"] g.mark-symbol.role-mark path',
                                                  "paths => paths.map(p => p.getAttribute('fill'))"))
        assert {"#4c78a8", "#d62728"} <= fills, fills
    if name in ("explore", "therapists", "data_quality", "safety", "attendance"):
        tab.page.wait_for_selector('[data-testid="stDataFrame"]')
    tab.wait_idle()
    tab.assert_clean()
    if name == "overview" and os.environ.get("UPDATE_README_SCREENSHOT"):  # the first screen, as a visitor sees it
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        tab.page.screenshot(path=str(README_SCREENSHOT), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    tab.screenshot_whole_page(shot)
    assert shot.stat().st_size > 10_000


def test_therapists_page_draws_the_adjusted_funnel_the_case_mix_panel_and_the_cusum(tab: Tab) -> None:
    """The adjusted funnel (with its lower limits), the raw funnel beside it, the case-mix panel and
    the CUSUM chart draw with no error, with the overdispersion allowance on and off; screenshots."""
    tab.open("/therapists")
    adjusted, raw, case_mix, cusum = tab.wait_for_marks(len(MARKS["therapists"]))
    assert {"line", "rule", "symbol"} <= adjusted and {"line", "rule", "symbol"} <= raw and "rect" in case_mix
    # the CUSUM of the first signalling therapist: its score, the threshold, a dated mark at the crossing
    assert {"line", "rule", "symbol", "text"} <= cusum
    charts = tab.page.locator('[data-testid="stVegaLiteChart"]')
    assert charts.nth(3).locator("g.mark-text.role-mark text").first.text_content() == "2023-05-08"
    assert tab.page.get_by_text("is still above it after 72 closed episodes").count() == 1
    # four guide curves on the adjusted funnel: lower and upper, 95% and 99.8%
    assert charts.nth(0).locator("g.mark-line.role-mark path").count() == 4
    assert charts.nth(2).locator("g.mark-rect.role-mark path").count() > 0
    assert tab.page.get_by_text("would have dropped out after one session").count() == 1
    assert tab.page.get_by_text("limits widened by τ²").count() == 1
    tab.screenshot_page_and_chart("therapists_adjusted_funnel", 3, "therapists_cusum")

    tab.page.get_by_text("Allow for differences between therapists").click()
    tab.page.get_by_text("the allowance is off").wait_for(timeout=30_000)
    tab.wait_idle()
    assert [len(found) for found in tab.wait_for_marks(len(MARKS["therapists"]))] == [3, 3, 1, 4]
    tab.assert_clean()
    tab.screenshot_whole_page(SCREENSHOTS / "therapists_allowance_off.png")
    assert (SCREENSHOTS / "therapists_allowance_off.png").stat().st_size > 10_000


def test_outcomes_page_draws_the_paired_panel_with_its_recovery_standard(tab: Tab) -> None:
    """The national paired panel beside the per-measure table draws with no error: its bars, the 50% tick on
    the recovery bar, its table and its sentence; screenshots of the page and of the panel's chart."""
    tab.open("/outcomes")
    per_clinic, paired = tab.wait_for_marks(len(MARKS["outcomes"]))
    assert "rect" in per_clinic and "rect" in paired
    charts = tab.page.locator('[data-testid="stVegaLiteChart"]')
    # five rate bars and one tick, each a path of its own mark group
    assert charts.nth(1).locator("g.mark-rect.role-mark path").count() == 6
    assert tab.page.get_by_text("National paired measures").count() == 1
    assert tab.page.get_by_text("PHQ-9 recovery is 52.7% (635 of 1,205), paired recovery 44.9%").count() == 1
    tab.screenshot_page_and_chart("outcomes_paired", 1, "outcomes_paired_panel")


def test_a_clinic_filter_changes_the_overview(tab: Tab) -> None:
    tab.open("/")
    tab.wait_for_marks(1)
    everyone = tab.metrics()
    assert len(everyone) == 6

    clinics = tab.page.get_by_role("combobox", name="Clinics")
    clinics.scroll_into_view_if_needed()  # below the fold of the sidebar: its list must not open mid-scroll
    clinics.click()
    tab.page.get_by_role("option", name="K01", exact=True).click()
    tab.page.keyboard.press("Escape")
    tab.page.wait_for_url(re.compile(r"[?&]clinic=K01\b"))
    tab.wait_idle()
    k01 = tab.metrics()
    assert len(k01) == 6
    assert k01 != everyone
    tab.assert_clean()

    # the URL is the view: opened afresh it shows the same numbers
    linked = Tab(tab.page.context.browser, tab.server)
    try:
        linked.open("/?clinic=K01")
        linked.wait_for_marks(1)
        assert linked.metrics() == k01
        linked.assert_clean()
    finally:
        linked.close()


def test_demo_from_a_fresh_home_with_stdin_closed_draws_the_overview(browser, sample_db: Path,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    environment = {"HOME": str(home), "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    with running(["demo", "--db", str(sample_db)], stdin="closed", env=environment) as served:
        tab = Tab(browser, served.url)
        try:
            tab.open("/")
            assert tab.page.locator("h1").first.inner_text() == "Overview"
            drawn = tab.wait_for_marks(len(MARKS["overview"]))
            assert all(wanted <= found for wanted, found in zip(MARKS["overview"], drawn, strict=True)), drawn
            tab.assert_clean()
        finally:
            tab.close()


# --- values from the data are text (docs/security.md#values-from-the-data-are-text) -----------------


def drill_down(tab: Tab, path: str, heading: str) -> str:
    """Open a page, select its first table's first row as a user does (a click on the row marker,
    left of the first cell, below the 35-pixel header row), and return the heading that appears."""
    tab.open(path)
    tab.page.wait_for_selector('[data-testid="stDataFrame"]')
    table = tab.page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()  # a mouse click lands only inside the window
    box = table.bounding_box()
    tab.page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    shown = tab.page.locator("h3", has_text=heading)
    shown.wait_for(timeout=30_000)
    tab.wait_idle()
    return shown.inner_text().strip()


def assert_no_markup_from_data(tab: Tab) -> None:
    """No image, and no link other than a heading's own anchor, drawn from Markdown on the page."""
    main = tab.page.locator('[data-testid="stMain"]')
    assert main.locator('[data-testid="stMarkdownContainer"] img').count() == 0
    links = main.locator('[data-testid="stMarkdownContainer"] a').evaluate_all("links => links.map(a => a.href)")
    assert all(link.startswith(tab.server) for link in links), links
    assert not [url for url in tab.external if PIXEL_URL in url or "evil.example" in url], tab.external


def test_hostile_ids_are_shown_as_text_and_fetch_nothing(browser, hostile_db: Path) -> None:  # noqa: F811
    with serve(hostile_db) as url:
        tab = Tab(browser, url)
        try:
            heading = drill_down(tab, "/explore", "Appointments of client")
            assert heading == f"Appointments of client {HOSTILE_CLIENTS[0]}, episode 1"
            assert_no_markup_from_data(tab)
            tab.assert_clean()

            heading = drill_down(tab, "/therapists", "Episodes of")
            assert heading in {f"Episodes of {therapist}" for therapist in HOSTILE_THERAPISTS}
            assert_no_markup_from_data(tab)
            # the funnel plot's tooltips name each therapist as text
            tips = set()
            for point in tab.page.locator('[data-testid="stVegaLiteChart"] g.mark-symbol.role-mark path').all():
                point.evaluate("p => p.scrollIntoView({block: 'center'})")  # clear of Streamlit's fixed header
                point.hover(force=True)
                tip = tab.page.locator("#vg-tooltip-element")
                tip.wait_for(state="visible", timeout=5_000)
                assert tip.locator("img, a").count() == 0
                tips.add(tip.locator("td.value").first.inner_text())
            assert set(HOSTILE_THERAPISTS) <= tips, tips
            # the sidebar's therapist list shows the ids as they are
            therapists = tab.page.get_by_role("combobox", name="Therapists")
            therapists.scroll_into_view_if_needed()  # below the fold of the sidebar
            therapists.click()
            options = tab.page.get_by_role("option").all_inner_texts()
            tab.page.keyboard.press("Escape")
            assert set(HOSTILE_THERAPISTS) <= {option.strip() for option in options}, options
            tab.assert_clean()
        finally:
            tab.close()
