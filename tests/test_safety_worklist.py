"""The Safety worklist (docs/metrics/risk-followup.md#at-risk-nothing-ahead, #the-risk-date-filter):
who is at risk with nothing ahead, and the gaps chosen by their own risk date. Fixtures built in code,
every expected row worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import EXTRACT, Warehouse, appointment
from dashboard_fixtures import _release_cached_connections, sample_db  # noqa: F401

from pipelines.queries import MetricsReader, Scope

YESTERDAY = (EXTRACT - dt.timedelta(days=1)).isoformat()  # 2026-06-29
NEXT_WEEK = (EXTRACT + dt.timedelta(days=6)).isoformat()  # 2026-07-06, after the extract date

# Extract date 2026-06-30. Item 9 is recorded at attended sessions only.
NOTHING_AHEAD_ROWS = [
    # N1: disclosed yesterday, nothing booked: listed, 1 day since
    appointment("N1-1", YESTERDAY, client="N1", phq9_item9=2),
    # N2: disclosed yesterday, booked next week: not listed
    appointment("N2-1", YESTERDAY, client="N2", phq9_item9=1),
    appointment("N2-2", NEXT_WEEK, "scheduled", client="N2"),
    # N3: disclosed 2026-06-22, then a missed appointment only: listed, 8 days since
    appointment("N3-1", "2026-06-22", client="N3", phq9_item9=1),
    appointment("N3-2", "2026-06-29", "dna", client="N3"),
    # N4: disclosed 2026-06-15, then a booking dated before the extract date, never recorded: listed, 15 days
    appointment("N4-1", "2026-06-15", client="N4", therapist="T2", phq9_item9=3),
    appointment("N4-2", "2026-06-22", "scheduled", client="N4", therapist="T2"),
    # N5: disclosed 2026-06-15, seen again 2026-06-22 (item 9 of 0): not listed, something followed
    appointment("N5-1", "2026-06-15", client="N5", phq9_item9=2),
    appointment("N5-2", "2026-06-22", client="N5", phq9_item9=0),
    # N6: disclosed at 09:00 and seen again at 15:00 the same day: not listed, a session followed
    appointment("N6-1", "2026-06-10T09:00", client="N6", phq9_item9=2),
    appointment("N6-2", "2026-06-10T15:00", client="N6", phq9_item9=0),
    # N8: disclosed 2026-06-01, seen 2026-06-08 with no item 9 recorded: not listed, a session followed
    appointment("N8-1", "2026-06-01", client="N8", phq9_item9=2),
    appointment("N8-2", "2026-06-08", client="N8"),
    # N9: disclosed at 09:00, seen again at 15:00 the same day with no item 9 recorded: not listed
    appointment("N9-1", "2026-06-10T09:00", client="N9", phq9_item9=1),
    appointment("N9-2", "2026-06-10T15:00", client="N9"),
    # N7: disclosed 2026-05-04, seen 2026-05-11 and disclosed again: listed from the later one, 50 days
    appointment("N7-1", "2026-05-04", client="N7", phq9_item9=1),
    appointment("N7-2", "2026-05-11", client="N7", phq9_item9=3),
]


@pytest.fixture(scope="module")
def nothing_ahead(tmp_path_factory: pytest.TempPathFactory) -> MetricsReader:
    built = Warehouse(tmp_path_factory.mktemp("nothing_ahead"))
    built.load(NOTHING_AHEAD_ROWS)
    reader = MetricsReader.open(built.path)
    yield reader
    reader.close()


def listed(reader: MetricsReader, **extra) -> list[tuple]:
    rows = reader.run("at_risk_nothing_ahead", Scope(), **extra)
    return [(r["client_id"], r["risk_date"].isoformat(), r["item9"], r["days_since_risk"], r["therapist_id"])
            for r in rows.iter_rows(named=True)]


def test_at_risk_nothing_ahead_lists_a_disclosure_with_nothing_after_it_from_the_day_itself(nothing_ahead):
    assert listed(nothing_ahead) == [
        ("N1", YESTERDAY, 2, 1, "T1"),
        ("N3", "2026-06-22", 1, 8, "T1"),
        ("N4", "2026-06-15", 3, 15, "T2"),
        ("N7", "2026-05-11", 3, 50, "T1"),
    ]


def test_a_booking_after_the_extract_date_takes_a_disclosure_off_the_at_risk_list(nothing_ahead):
    assert "N2" not in {row[0] for row in listed(nothing_ahead)}


def test_a_missed_appointment_or_a_stale_booking_is_not_something_ahead(nothing_ahead):
    assert {"N3", "N4"} <= {row[0] for row in listed(nothing_ahead)}


def test_an_attended_session_after_the_disclosure_takes_it_off_the_at_risk_list(nothing_ahead):
    assert not {"N5", "N6"} & {row[0] for row in listed(nothing_ahead)}


def test_an_attended_session_without_an_item_9_score_after_the_disclosure_takes_it_off_the_list(nothing_ahead):
    assert not {"N8", "N9"} & {row[0] for row in listed(nothing_ahead)}


def test_risk_date_filter_selects_by_the_risk_session_date_inclusive(nothing_ahead):
    assert [row[0] for row in listed(nothing_ahead, risk_from=dt.date(2026, 6, 15), risk_to=dt.date(2026, 6, 22))] \
        == ["N3", "N4"]


# --- the gaps by their own risk date ------------------------------------------------------------

# K1's first sessions in 2025, risk flags (and gaps) in 2026: the sidebar's first-session dates
# would drop them, the risk date keeps them.
LATE_GAP_ROWS = [
    appointment("G1-1", "2025-03-03", client="G1"),
    appointment("G1-2", "2026-03-02", client="G1", phq9_item9=2),
    appointment("G2-1", "2025-04-07", client="G2"),
    appointment("G2-2", "2026-05-04", client="G2", phq9_item9=1),
]


def test_gap_list_with_a_risk_date_filter_ignores_first_session_dates(tmp_path):
    built = Warehouse(tmp_path)
    built.load(LATE_GAP_ROWS, extract_date=EXTRACT)
    reader = MetricsReader.open(built.path)
    try:
        gaps = reader.run("risk_followup_gaps", Scope(), risk_from=dt.date(2026, 4, 1))
        assert gaps["client_id"].to_list() == ["G2"]
        assert reader.run("risk_followup_gaps", Scope(), risk_to=dt.date(2026, 4, 1))["client_id"].to_list() == ["G1"]
    finally:
        reader.close()


def test_at_risk_nothing_ahead_equals_its_definition_worked_out_from_the_appointments(sample_db):  # noqa: F811
    """The report against the rule read straight off the appointments, in Polars, on the sample log
    (which has unscored sessions after flagged ones): the episode's last attended session (by time,
    then id) is scored 1 or more on item 9, and no `scheduled` appointment is dated after the extract date."""
    sample = Warehouse(sample_db.parent)
    appointments = sample.query(
        "SELECT a.client_id, a.episode_id, a.appointment_at, a.appointment_id, a.appointment_date, a.status, "
        "a.phq9_item9, s.extract_date FROM stg_appointments AS a CROSS JOIN settings AS s")
    extract = appointments["extract_date"][0]
    attended = appointments.filter((pl.col("status") == "attended") & (pl.col("appointment_date") <= extract))
    last = attended.sort("appointment_at", "appointment_id").group_by("client_id", "episode_id").last()
    booked = appointments.filter((pl.col("status") == "scheduled") & (pl.col("appointment_date") > extract))
    expected = (last.filter(pl.col("phq9_item9") >= 1).join(booked, on=["client_id", "episode_id"], how="anti")
                .select("client_id", "episode_id", pl.col("appointment_date").alias("risk_date")).sort(pl.all()))
    reader = MetricsReader.open(sample_db)
    try:
        shown = reader.run("at_risk_nothing_ahead", Scope()).select("client_id", "episode_id", "risk_date")
    finally:
        reader.close()
    assert expected.height > 10
    assert shown.sort(pl.all()).equals(expected)
