"""The dashboard under a reload and under load, in a real browser (Debian's Chromium, Playwright)
against a real `clinic-outcomes dashboard` server.

- While `clinic-outcomes ingest` rebuilds the warehouse the dashboard is serving, every page keeps
  rendering without an error, and once the load has landed a reload shows the new build.
- Ten browser sessions at once, each opening a link with a filter and then visiting every other
  page from the sidebar, all render without an error; the page times (p50 / p95 / max) are printed
  and recorded (bench/RESULTS.md).

One Chromium serves the whole module. It also listens for the DevTools protocol, so that each of
the ten sessions can drive it from a thread of its own (Playwright's sync API is one per thread).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dashboard_fixtures import PAGES, sample_db  # noqa: F401
from dashboard_server import free_port, serve
from test_dashboard_browser import CHROMIUM_ARGS, ROOT, Tab, chromium, server  # noqa: F401

from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments
from pipelines.warehouse import connect

# The second load: big enough that its new file is written for a while (a few seconds on 2 cores).
RELOAD_CLIENTS = 40_000
PAUSED_PAGES = 3  # pages drawn while the load is held mid-build
RELOAD_SEED = 7
PAGE_TIMEOUT = 120  # seconds: ten sessions on two cores make a page slow, not broken
# A link opened in a fresh browser context compiles Streamlit's whole frontend (about 5 s of one
# core here); ten at once, sharing the two cores with the server, take minutes in the worst case.
LINK_TIMEOUT = 300

# One link per session, a filter in each (parameters in the order the app writes them back).
SESSION_FILTERS = ["?clinic=K01", "?clinic=K02", "?clinic=K03", "?clinic=K04", "?clinic=K05",
                   "?type=assessment", "?type=treatment", "?from=2025-07-01",
                   "?clinic=K03&type=assessment", "?from=2024-01-01&to=2024-12-31"]


@pytest.fixture(scope="module")
def shared_chromium(chromium: Path) -> Iterator[tuple[object, str]]:  # noqa: F811
    """One headless Chromium: the Playwright browser, and its DevTools endpoint for other threads."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                             args=[*CHROMIUM_ARGS, f"--remote-debugging-port={port}"])
        yield browser, f"http://localhost:{port}"
        browser.close()


@pytest.fixture
def reloading_warehouse(sample_db: Path, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    """A copy of the sample warehouse (one load), and a bigger log of other clients to load into it."""
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(sample_db, db)
    (tmp_path / "second").mkdir()
    log = write_appointments(generate_appointments(RELOAD_CLIENTS, RELOAD_SEED), tmp_path / "second", "csv")
    return db, log


def shown_build(db: Path) -> dict[str, str]:
    """What the dashboard shows of the warehouse's current build: the Data quality page's latest
    load heading and its rows read, and the sidebar's build time (the build id is not on screen)."""
    con = connect(db)
    try:
        load_id, loaded_at, rows_read = con.sql(
            "SELECT load_id, min(loaded_at), sum(rows_read) FROM loads GROUP BY load_id "
            "ORDER BY load_id DESC LIMIT 1").fetchall()[0]
        built_at = con.sql("SELECT built_at FROM settings").fetchall()[0][0]
    finally:
        con.close()
    return {"latest_load": f"Latest load ({load_id}, {loaded_at:%Y-%m-%d %H:%M})",
            "rows_read": f"Rows read {rows_read:,} =", "built": f"built {built_at:%Y-%m-%d %H:%M}"}


def on_screen(tab: Tab) -> dict[str, str]:
    """The same three, as the Data quality page shows them."""
    page = tab.page
    return {"latest_load": page.get_by_role("heading").filter(has_text="Latest load").first.inner_text().strip(),
            "rows_read": page.get_by_text("Rows read").first.inner_text().split(" loaded")[0].strip(),
            "built": page.locator('[data-testid="stSidebar"]').get_by_text("built ").first.inner_text()
            .split(" · ")[-1].strip()}


def building_files(db: Path) -> list[Path]:
    """The new warehouse a load is writing beside the old one (pipelines.warehouse._replace)."""
    return list(db.parent.glob(f".{db.name}.building-*"))


def pause_when_building(db: Path, ingest: subprocess.Popen, paused: threading.Event) -> None:
    """Stop the load (SIGSTOP) as soon as its new warehouse file appears; give up when it ends."""
    while ingest.poll() is None:
        if building_files(db):
            os.kill(ingest.pid, signal.SIGSTOP)
            paused.set()
            return
        time.sleep(0.005)


TITLE = '[data-testid="stMainBlockContainer"] h1'
EXCEPTION = '[data-testid="stException"]'


def settle(tab: Tab, timeout: float) -> float:
    """Tab.wait_idle, failing at once with Streamlit's traceback when the script raised instead of
    drawing the page's title; when the page was done."""
    tab.page.wait_for_selector(f"{TITLE}, {EXCEPTION}", timeout=timeout * 1000)
    if tab.page.locator(EXCEPTION).count():
        tab.assert_clean()
    return tab.wait_idle(timeout)


def open_link(tab: Tab, link: str, timeout: float = PAGE_TIMEOUT) -> float:
    """A reload: a new session on the link; when the page was done."""
    tab.page.goto(tab.server + link, timeout=timeout * 1000)
    return settle(tab, timeout)


def visit_by_sidebar(tab: Tab, path: str, title: str) -> float:
    """Navigate inside the open session (a rerun, no reload), as a user clicking the sidebar does;
    when the page was done."""
    tab.page.locator(f'[data-testid="stSidebarNav"] a[href="{tab.server}{path}"]').click(timeout=PAGE_TIMEOUT * 1000)
    tab.page.wait_for_function(
        """([title, titles, exception]) => document.querySelector(exception)
            || document.querySelector(titles)?.innerText === title""",
        arg=[title, TITLE, EXCEPTION], timeout=PAGE_TIMEOUT * 1000)
    return settle(tab, PAGE_TIMEOUT)


def test_pages_keep_rendering_while_ingest_rebuilds_the_warehouse_and_then_show_the_new_build(
        reloading_warehouse: tuple[Path, Path], shared_chromium, capsys: pytest.CaptureFixture,
        record_property) -> None:
    """The build on screen is the Data quality page's latest load (id, time, rows read) and the
    sidebar's build time; pages are reloaded and visited from the sidebar in turn while the load runs.

    How many pages fit into a free-running load depends on the machine (CI once drew only two), so
    the load is also held still (SIGSTOP) the moment its new file appears, with the lock taken and
    the file half written, until PAUSED_PAGES pages have been drawn; then it runs on to its swap
    while the visits go on."""
    db, log = reloading_warehouse
    browser, _ = shared_chromium
    before = shown_build(db)
    with serve(db) as url:
        tab = Tab(browser, url)
        try:
            open_link(tab, "/data_quality")
            assert on_screen(tab) == before
            tab.assert_clean()

            started = time.monotonic()
            ingest = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", "ingest", str(log), "--db", str(db),
                 "--extract-date", EXTRACT_DATE.isoformat()],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            paused = threading.Event()
            watcher = threading.Thread(target=pause_when_building, args=(db, ingest, paused), daemon=True)
            watcher.start()
            try:
                rendered_during_ingest = rendered_while_paused = 0
                names = list(PAGES)
                visit = 0
                while ingest.poll() is None:
                    path, title = PAGES[names[visit % len(names)]]
                    held = paused.is_set() and rendered_while_paused < PAUSED_PAGES
                    if visit % 2:
                        visit_by_sidebar(tab, path, title)
                    else:
                        open_link(tab, path)
                    assert tab.page.locator("h1").first.inner_text() == title
                    tab.assert_clean()
                    if ingest.poll() is None:  # the page was drawn while the load was running
                        rendered_during_ingest += 1
                        if held:
                            assert building_files(db), "the held load's new file is gone"
                            rendered_while_paused += 1
                            if rendered_while_paused == PAUSED_PAGES:
                                os.kill(ingest.pid, signal.SIGCONT)
                    visit += 1
            finally:
                if ingest.poll() is None:  # a visit failed: end the load, held or not
                    ingest.kill()
                output, _ = ingest.communicate(timeout=300)
                watcher.join(timeout=5)
            ingest_seconds = time.monotonic() - started
            assert ingest.returncode == 0, output

            with capsys.disabled():
                print(f"\n[reload] {rendered_during_ingest} pages rendered during a {ingest_seconds:.1f} s ingest, "
                      f"{rendered_while_paused} of them while it was held mid-build ({visit} visits in all)")
            record_property("pages_rendered_during_ingest", rendered_during_ingest)
            record_property("ingest_s", round(ingest_seconds, 1))
            assert paused.is_set(), "the load ended before its new file appeared"
            assert rendered_while_paused == PAUSED_PAGES
            assert not building_files(db), "the load left its building file behind"

            after = shown_build(db)
            assert after["latest_load"] != before["latest_load"]
            open_link(tab, "/data_quality")
            assert on_screen(tab) == after, "the reload still shows the build from before the load"
            tab.assert_clean()
        finally:
            tab.close()


def spread(times: list[float]) -> dict[str, float]:
    """Median, 95th percentile (nearest rank) and maximum, in seconds."""
    ordered = sorted(times)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[math.ceil(0.95 * len(ordered)) - 1], 2),
            "max": round(ordered[-1], 2)} if ordered else {}


def test_ten_concurrent_sessions_render_every_page_with_filters(
        server: str, shared_chromium, capsys: pytest.CaptureFixture, record_property) -> None:  # noqa: F811
    """Each session opens a filtered link, then visits the other eight pages from the sidebar, as
    a person sent a link would; the filter must stay applied on every page. (After a failed page a
    session goes on from the next page's link.)"""
    from playwright.sync_api import sync_playwright

    _, endpoint = shared_chromium
    names = list(PAGES)
    start_together = threading.Barrier(len(SESSION_FILTERS))
    times: dict[str, list[float]] = {"link": [], "sidebar": []}  # seconds from navigation start to idle
    failures: list[str] = []

    def session(number: int) -> None:
        query = SESSION_FILTERS[number]
        order = names[number % len(names):] + names[:number % len(names)]  # not all on one page at once
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(endpoint)
            try:
                tab = Tab(browser, server)
            except BaseException:
                start_together.abort()
                raise
            try:
                start_together.wait(timeout=PAGE_TIMEOUT)
                how = "link"
                for name in order:
                    path, title = PAGES[name]
                    try:
                        begun = time.monotonic()
                        if how == "link":
                            done = open_link(tab, path + query, LINK_TIMEOUT)
                        else:
                            done = visit_by_sidebar(tab, path, title)
                        assert tab.page.locator("h1").first.inner_text() == title
                        assert tab.page.url == server + path + query, "the filter was not kept"
                        tab.assert_clean()
                        times[how].append(done - begun)
                        how = "sidebar"
                    except Exception as error:  # noqa: BLE001 - every failure of every session is reported
                        what = str(error).split("\nassert ")[0]  # the message, not pytest's rewrite of it
                        failures.append(f"{path}{query} ({how}): {type(error).__name__}: {what}")
                        tab.problems.clear()
                        how = "link"  # start afresh from the next page's link
            finally:
                tab.close()
                browser.close()

    began = time.monotonic()
    with ThreadPoolExecutor(len(SESSION_FILTERS)) as pool:
        for running in [pool.submit(session, number) for number in range(len(SESSION_FILTERS))]:
            running.result()
    wall = time.monotonic() - began

    every = times["link"] + times["sidebar"]
    record_property("page_visits", len(every))
    record_property("failed_visits", len(failures))
    record_property("wall_s", round(wall, 1))
    with capsys.disabled():
        print(f"\n[load] {len(SESSION_FILTERS)} concurrent sessions in {wall:.1f} s: {len(every)} pages drawn, "
              f"{len(failures)} failed")
        for kind, measured in (("all", every), *times.items()):
            numbers = spread(measured)
            for statistic, value in numbers.items():
                record_property(f"{kind}_{statistic}_s", value)
            print(f"[load] {kind:>7} ({len(measured):2} visits): "
                  + "   ".join(f"{statistic} {value:6.2f} s" for statistic, value in numbers.items()))
    assert not failures, "\n".join(failures)
    assert len(every) == len(SESSION_FILTERS) * len(PAGES)


def test_no_python_function_runs_inside_a_polars_query() -> None:
    """Polars runs a Python function given to map_elements or map_batches on its own worker threads,
    which must take the GIL; with ten sessions converting tables at once that deadlocked the whole
    server (every thread waiting, the health check unanswered). The dashboard and the pipelines write
    such values in Python on their own thread instead (dashboard/frames.py, _whole)."""
    calls = [f"{path.relative_to(ROOT)}:{number}" for folder in ("dashboard", "pipelines")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if ".map_elements(" in line or ".map_batches(" in line]
    assert not calls, calls
