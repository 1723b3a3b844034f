"""Shared by the dashboard tests: the sample warehouse (2,000 generated clients, seed 42, as
`clinic-outcomes demo` loads it), built once per test session.

Test modules import the fixture (`from dashboard_fixtures import sample_db`). pytest registers an
imported fixture once per importing module, so the build itself is guarded to run only once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"

# page file (in dashboard/views/) -> (url path, title); the order of the sidebar
PAGES = {
    "overview": ("/", "Overview"),
    "first_sessions": ("/first_sessions", "First sessions"),
    "attendance": ("/attendance", "Attendance"),
    "therapists": ("/therapists", "Therapists"),
    "outcomes": ("/outcomes", "Outcomes and hope"),
    "plateaus": ("/plateaus", "Plateaus"),
    "endings": ("/endings", "Endings"),
    "safety": ("/safety", "Safety: risk follow-up gaps"),
    "explore": ("/explore", "Explore"),
    "data_quality": ("/data_quality", "Data quality"),
}
NAV_TITLES = ["Overview", "First sessions", "Attendance", "Therapists", "Outcomes and hope", "Plateaus", "Endings", "Safety",
              "Explore", "Data quality"]

# How many Vega-Lite charts each page draws on the full sample.
CHARTS = {"overview": 1, "first_sessions": 4, "attendance": 1, "therapists": 1, "outcomes": 1, "plateaus": 1, "endings": 2,
          "safety": 0, "explore": 0, "data_quality": 0}

# Pages whose content depends on the selected episodes (not Data quality, which reports loads, nor
# Attendance, which selects appointments by their own date).
SCOPED_PAGES = [name for name in PAGES if name not in ("data_quality", "attendance")]

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
