"""Alliance over time (docs/metrics/alliance.md): open episodes whose latest SRS, at any session, is
below the SRS cut-off. Hand-built fixtures; the report is run as the dashboard runs it."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import Warehouse
from dashboard_fixtures import _release_cached_connections, dashboard_on  # noqa: F401
from test_metrics import EXTRACT, course, dates

from pipelines.queries import MetricsReader, Scope

OPEN_START = "2026-05-01"  # four weekly sessions end on 2026-05-22, within 90 days of the extract date


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    rows = [
        # low at session 3 only, rated again at session 4: recovered, not listed
        *course("C_RECOVERED", dates(OPEN_START, 4), srs=[40, 38, 30, 37]),
        # low at session 3, its latest rating: listed at session 3
        *course("C_LOW_LAST", dates(OPEN_START, 3), srs=[40, 38, 30]),
        # low at session 3, session 4 attended but not rated: session 3 is still the latest SRS
        *course("C_LOW_UNRATED_AFTER", dates(OPEN_START, 4), srs=[40, 38, 30.5, None], therapist="T2",
                clinic="K2"),
        # exactly on the cut-off at its latest rating: not below it
        *course("C_ON_CUTOFF", dates(OPEN_START, 3), srs=[30, 31, 36]),
        # low at its latest rating, but discharged: closed episodes are never listed
        *course("C_CLOSED", dates(OPEN_START, 3), srs=[40, 38, 30], discharge_date="2026-05-20",
                discharge_reason="planned"),
        # never rated
        *course("C_UNRATED", dates(OPEN_START, 3), phq9=[12, 11, 10]),
    ]
    warehouse = Warehouse(tmp_path_factory.mktemp("alliance"))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


def low_alliance(warehouse: Warehouse, scope: Scope = Scope()) -> dict[str, dict]:
    reader = MetricsReader.open(warehouse.path)
    try:
        rows = reader.run("low_alliance", scope)
    finally:
        reader.close()
    return {row["client_id"]: row for row in rows.iter_rows(named=True)}


def test_low_srs_at_session_3_is_listed_when_it_is_the_latest_srs(alliance):
    listed = low_alliance(alliance)
    assert listed["C_LOW_LAST"]["srs"] == 30
    assert listed["C_LOW_LAST"]["srs_session_number"] == 3
    assert listed["C_LOW_LAST"]["srs_date"] == dt.date(2026, 5, 15)
    # session 4 carries no SRS: the latest rating is still session 3's
    assert listed["C_LOW_UNRATED_AFTER"]["srs_session_number"] == 3
    assert (listed["C_LOW_UNRATED_AFTER"]["therapist_id"], listed["C_LOW_UNRATED_AFTER"]["clinic_id"]) == ("T2", "K2")


def test_episode_whose_latest_srs_recovered_is_not_listed(alliance):
    assert "C_RECOVERED" not in low_alliance(alliance)


def test_srs_exactly_on_the_cutoff_is_not_low(alliance):
    assert "C_ON_CUTOFF" not in low_alliance(alliance)


def test_closed_episodes_are_never_listed_for_low_alliance(alliance):
    assert alliance.episode("C_CLOSED")["status"] == "closed"
    assert set(low_alliance(alliance)) == {"C_LOW_LAST", "C_LOW_UNRATED_AFTER"}


def test_low_alliance_cutoff_is_read_from_the_measures_table(alliance):
    cutoff = alliance.query("SELECT caseness_threshold FROM measures WHERE measure = 'srs'").item()
    assert cutoff == 36
    assert {row["srs_cutoff"] for row in low_alliance(alliance).values()} == {cutoff}


def test_low_alliance_is_narrowed_to_the_clinics_in_scope(alliance):
    assert set(low_alliance(alliance, Scope(clinics=("K2",)))) == {"C_LOW_UNRATED_AFTER"}


def test_srs_row_in_measures_adds_no_srs_outcome(alliance):
    assert "srs" not in alliance.query("SELECT DISTINCT measure FROM outcomes")["measure"].to_list()


def test_safety_page_says_so_when_no_open_episode_has_a_low_alliance_or_is_off_track(tmp_path, monkeypatch):
    """The empty states of the early warnings (docs/dashboard.md#early-warnings): a sentence, no table, no chart."""
    quiet = Warehouse(tmp_path)
    quiet.load(course("C_FINE", dates(OPEN_START, 3), srs=[38, 39, 40], phq9=[14, 12, 10]), extract_date=EXTRACT)
    at = dashboard_on(quiet.path, monkeypatch, "safety")
    said = [s.value for s in at.success]
    assert "No open episode in this selection has its latest SRS below the cut-off." in said
    assert any(s.startswith("No open episode in this selection is below its band's 90th percentile line") for s in said)
    assert not at.get("vega_lite_chart") and not at.get("arrow_vega_lite_chart")
    assert any("not a clinical prediction" in i.value for i in at.info)
