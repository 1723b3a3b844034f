"""Shared by the dashboard tests: the sample warehouse (2,000 generated clients, seed 42, as
`clinic-outcomes demo` loads it), built once per test session.

Test modules import the fixture (`from dashboard_fixtures import sample_db`). pytest registers an
imported fixture once per importing module, so the build itself is guarded to run only once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"

# page file (in dashboard/views/) -> (url path, title); the order of the sidebar
PAGES = {
    "overview": ("/", "Overview"),
    "first_sessions": ("/first_sessions", "First sessions"),
    "waits": ("/waits", "Waits"),
    "attendance": ("/attendance", "Attendance"),
    "therapists": ("/therapists", "Therapists"),
    "outcomes": ("/outcomes", "Outcomes and hope"),
    "plateaus": ("/plateaus", "Plateaus"),
    "endings": ("/endings", "Endings"),
    "safety": ("/safety", "Safety: risk follow-up gaps"),
    "explore": ("/explore", "Explore"),
    "data_quality": ("/data_quality", "Data quality"),
    "glossary": ("/glossary", "Glossary"),
}
NAV_TITLES = ["Overview", "First sessions", "Waits", "Attendance", "Therapists", "Outcomes and hope", "Plateaus", "Endings", "Safety",
              "Explore", "Data quality", "Glossary"]

# How many Vega-Lite charts each page draws on the full sample.
CHARTS = {"overview": 1, "first_sessions": 5, "waits": 3, "attendance": 1, "therapists": 4, "outcomes": 2, "plateaus": 1, "endings": 2,
          "safety": 1, "explore": 1, "data_quality": 0, "glossary": 0}

# Pages whose content depends on the selected episodes (not Data quality, which reports loads, nor
# Attendance, which selects appointments by their own date, nor Safety, which selects by risk date,
# nor the Glossary, which shows no data).
SCOPED_PAGES = [name for name in PAGES if name not in ("data_quality", "attendance", "safety", "glossary")]

NO_EPISODES = "No episodes match these filters"


def _build(folder: Path) -> Path:
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments
    from pipelines.warehouse import ingest

    db = folder / "clinic.duckdb"
    sample = write_appointments(generate_appointments(2000, 42), folder, "csv")
    ingest([sample], db, extract_date=EXTRACT_DATE)
    return db


@pytest.fixture(scope="module", autouse=True)
def _release_cached_connections():
    """Cached query results and DuckDB connections outlive an AppTest; drop them after the module
    (autouse in each module that imports it)."""
    yield
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the sample warehouse; never modified by a test."""
    folder = tmp_path_factory.getbasetemp() / "dashboard_sample"
    db = folder / "clinic.duckdb"
    if not db.exists():
        folder.mkdir(exist_ok=True)
        _build(folder)
    return db


def dashboard_on(db: Path, monkeypatch: pytest.MonkeyPatch, page: str = "overview", **query: str):
    """The dashboard (AppTest) on a warehouse, opened on one page with a link's query parameters
    (`clinic="K02"`), checked to have run cleanly."""
    from streamlit.testing.v1 import AppTest

    from dashboard.data import DB_ENV

    monkeypatch.setenv(DB_ENV, str(db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


# Ids that are hostile Markdown, HTML and Streamlit directives (docs/security.md#values-from-the-data-are-text):
# a page that rendered them would fetch the pixel, show a live link, colour text or draw a formula.
PIXEL_URL = "http://127.0.0.1:9/x.png"
HOSTILE_CLIENTS = (f"![c]({PIXEL_URL})", "**b**", "<img src=x>")
HOSTILE_THERAPISTS = ("[Sign in again](http://evil.example)", "$x^2$", '<img src="http://127.0.0.1:9/t.png">')
HOSTILE_CLINICS = (":red[x]", ":material/home:")
HOSTILE_VALUES = (*HOSTILE_CLIENTS, *HOSTILE_THERAPISTS, *HOSTILE_CLINICS)


@pytest.fixture(scope="session")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small warehouse whose client, therapist and clinic ids are the HOSTILE_VALUES: each
    client has four weekly PHQ-9-scored sessions in January 2026, long ended by the extract date."""
    import csv
    import datetime as dt

    from pipelines.warehouse import ingest

    folder = tmp_path_factory.mktemp("hostile")
    log = folder / "hostile.csv"
    with log.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["appointment_id", "client_id", "therapist_id", "clinic_id", "appointment_date", "status",
                         "phq9", "phq9_item9"])
        # each hostile client with its own therapist; therapist n has n more plain clients, so the
        # funnel plot draws each therapist at its own caseload
        clients = [(client, c) for c, client in enumerate(HOSTILE_CLIENTS)]
        clients += [(f"C-{t}-{n}", t) for t in range(len(HOSTILE_THERAPISTS)) for n in range(t)]
        for c, (client, therapist) in enumerate(clients):
            for s in range(4):
                writer.writerow([f"A{c}-{s}", client, HOSTILE_THERAPISTS[therapist], HOSTILE_CLINICS[therapist % 2],
                                 f"2026-01-{5 + 7 * s:02d}", "attended", 20 - s, 1 if s == 3 else 0])
    ingest([log], folder / "clinic.duckdb", extract_date=dt.date(2026, 6, 30))
    return folder / "clinic.duckdb"


def require(path: Path, message: str) -> Path:
    """A tool the browser tests need (Chromium, axe-core): when it is missing the test fails under CI
    (CI set), where .ci/run installs it, and is skipped elsewhere with `message` saying how to get it."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
