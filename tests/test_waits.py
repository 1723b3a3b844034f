"""Waits (docs/metrics/waits.md): referral to session 1 against the 6- and 18-week standards, the
hidden wait from session 1 to session 2, and single-session dropout by the band of the next
booking after session 1. Every fixture is hand-computed; the extract date is 2026-06-30."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import statistics

import duckdb
import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from conftest import EXTRACT, Warehouse, appointment, report
from pipelines.queries import MetricsReader, Scope, report_sql
from pipelines.warehouse import model_sql

SCHEMA = json.loads(Path(__file__).with_name("metrics_report.schema.json").read_text(encoding="utf-8"))
SESSION_1 = dt.date(2026, 1, 5)
BANDS = ["0-14", "15-28", "29-90", "over 90", "none booked"]


def day(offset: int, start: dt.date = SESSION_1) -> str:
    return (start + dt.timedelta(days=offset)).isoformat()


def waited(client: str, wait: int, clinic: str = "K1") -> list[dict]:
    """An open episode whose session 1 is `wait` days after its referral (a booking ahead keeps it open)."""
    return [appointment(f"{client}-1", day(0), client=client, clinic=clinic, referral_date=day(-wait)),
            appointment(f"{client}-2", day(200), status="scheduled", client=client, clinic=clinic)]


def second_session_after(client: str, gap: int) -> list[dict]:
    """An episode whose session 2 is `gap` days after session 1, discharged there."""
    return [appointment(f"{client}-1", day(0), client=client),
            appointment(f"{client}-2", day(gap), client=client, discharge_date=day(gap), discharge_reason="planned")]


def waits(warehouse: Warehouse, scope: Scope | None = None) -> dict:
    return report(warehouse, scope)["waits"]


def bands(warehouse: Warehouse, scope: Scope | None = None) -> dict[str, tuple[int, int]]:
    rows = waits(warehouse, scope)["dropout_by_next_booking"]
    assert [r["band"] for r in rows] == BANDS
    return {r["band"]: (r["numerator"], r["denominator"]) for r in rows}


def episode_waits(warehouse: Warehouse, client: str) -> dict:
    rows = warehouse.query("SELECT * FROM waits WHERE client_id = ?", [client])
    assert rows.height == 1
    return rows.row(0, named=True)


# --- referral to session 1 ------------------------------------------------------------------------


def test_wait_of_exactly_42_days_is_within_6_weeks_and_43_days_is_not(warehouse):
    warehouse.load(waited("C42", 42) + waited("C43", 43))
    first = waits(warehouse)["referral_to_first"]
    assert first["episodes"] == 2
    assert first["within_6_weeks"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert waits(warehouse, Scope(clinics=("K1",)))["referral_to_first"]["within_6_weeks"]["numerator"] == 1
    assert [episode_waits(warehouse, c)["wait_to_first_days"] for c in ("C42", "C43")] == [42, 43]


def test_wait_of_exactly_126_days_is_within_18_weeks_and_127_days_is_not(warehouse):
    warehouse.load(waited("C126", 126) + waited("C127", 127))
    first = waits(warehouse)["referral_to_first"]
    assert first["within_18_weeks"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert first["within_6_weeks"] == {"numerator": 0, "denominator": 2, "rate": 0.0}


def test_referral_dated_after_session_1_has_no_wait_and_is_an_episode_issue(warehouse):
    warehouse.load(waited("LATE", -3) + waited("SAME", 0))
    assert episode_waits(warehouse, "LATE")["wait_to_first_days"] is None
    assert episode_waits(warehouse, "LATE")["referral_date"] == SESSION_1 + dt.timedelta(days=3)
    first = waits(warehouse)["referral_to_first"]
    assert (first["episodes"], first["median_days"]) == (1, 0)  # the referral on the day of session 1 counts
    issues = warehouse.query("SELECT client_id, issue, recorded_date, expected_on_or_before FROM episode_issues")
    assert issues.rows() == [("LATE", "referral date after session 1", SESSION_1 + dt.timedelta(days=3), SESSION_1)]


def test_referral_repeated_with_two_values_counts_from_the_earliest(warehouse):
    # the later row carries the earlier date: order on the log does not matter, the earliest wins
    warehouse.load([
        appointment("R1", day(0), client="R", referral_date=day(-10)),
        appointment("R2", day(7), client="R", referral_date=day(-50)),
    ])
    assert episode_waits(warehouse, "R")["wait_to_first_days"] == 50
    assert waits(warehouse)["referral_to_first"]["within_6_weeks"]["numerator"] == 0


def test_episode_without_a_referral_date_has_no_wait(warehouse):
    warehouse.load([appointment("N1", day(0), client="N")] + waited("W", 10))
    first = waits(warehouse)["referral_to_first"]
    assert (first["episodes"], first["median_days"]) == (1, 10)


def test_median_of_an_even_number_of_waits_is_the_mean_of_the_two_middle_ones(warehouse):
    warehouse.load(waited("A", 7) + waited("B", 42) + waited("C", 43) + waited("D", 126))
    assert waits(warehouse)["referral_to_first"]["median_days"] == 42.5


def test_median_is_null_and_rates_are_null_with_no_waits(warehouse):
    warehouse.load([appointment("N1", day(0), client="N")])
    assert waits(warehouse)["referral_to_first"] == {
        "episodes": 0, "median_days": None,
        "within_6_weeks": {"numerator": 0, "denominator": 0, "rate": None},
        "within_18_weeks": {"numerator": 0, "denominator": 0, "rate": None}}


# --- the hidden wait: session 1 to session 2 -------------------------------------------------------


def test_second_session_28_days_later_is_not_over_28_days(warehouse):
    warehouse.load(second_session_after("G28", 28) + second_session_after("G29", 29))
    second = waits(warehouse)["first_to_second"]
    assert second["episodes"] == 2
    assert second["over_28_days"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert second["median_days"] == 28.5


def test_second_session_90_days_later_is_over_28_but_not_over_90_and_91_is_over_both(warehouse):
    warehouse.load(second_session_after("G90", 90) + second_session_after("G91", 91)
                   + [appointment("ONE", day(0), client="ONE")])  # one session: no gap, not counted
    second = waits(warehouse)["first_to_second"]
    assert second["episodes"] == 2
    assert second["over_28_days"]["numerator"] == 2
    assert second["over_90_days"] == {"numerator": 1, "denominator": 2, "rate": 0.5}


def test_second_session_gap_skips_missed_appointments_between(warehouse):
    warehouse.load([appointment("M1", day(0), client="M"),
                    appointment("M2", day(10), status="dna", client="M"),
                    appointment("M3", day(40), client="M")])
    row = episode_waits(warehouse, "M")
    assert (row["next_booking_days"], row["second_session_days"]) == (10, 40)


# --- dropout by next booking ------------------------------------------------------------------------


def test_same_day_next_booking_is_in_band_0_14(warehouse):
    # a second appointment later on the day of session 1, missed; the client never came back
    warehouse.load([appointment("S1", "2026-01-05T09:00:00", client="S"),
                    appointment("S2", "2026-01-05T15:00:00", status="dna", client="S",
                                discharge_date=day(1), discharge_reason="dropout")])
    assert episode_waits(warehouse, "S")["next_booking_days"] == 0
    assert bands(warehouse) == {"0-14": (1, 1), "15-28": (0, 0), "29-90": (0, 0), "over 90": (0, 0),
                                "none booked": (0, 0)}


def test_no_appointment_after_session_1_is_none_booked(warehouse):
    warehouse.load([appointment("N1", day(0), client="N")])  # inactive after one session: dropout
    row = episode_waits(warehouse, "N")
    assert (row["next_booking_days"], row["next_booking_band"]) == (None, "none booked")
    assert bands(warehouse)["none booked"] == (1, 1)


def test_band_edges_are_14_28_and_90_days(warehouse):
    rows = []
    for gap in (14, 15, 28, 29, 90, 91):
        client = f"B{gap}"
        rows += [appointment(f"{client}-1", day(0), client=client),
                 appointment(f"{client}-2", day(gap), status="cancelled_client", client=client,
                             discharge_date=day(gap), discharge_reason="dropout")]
    warehouse.load(rows)
    assert bands(warehouse) == {"0-14": (1, 1), "15-28": (2, 2), "29-90": (2, 2), "over 90": (1, 1),
                                "none booked": (0, 0)}


def test_booked_over_28_days_counts_closed_episodes_whose_next_booking_is_29_days_or_more_away(warehouse):
    # the Waits page's clinic table: next bookings 28 and 29 days away, and one with none booked
    rows = [appointment("N-1", day(0), client="N", discharge_date=day(0), discharge_reason="dropout")]
    for gap in (28, 29):
        client = f"B{gap}"
        rows += [appointment(f"{client}-1", day(0), client=client),
                 appointment(f"{client}-2", day(gap), status="dna", client=client,
                             discharge_date=day(gap), discharge_reason="dropout")]
    warehouse.load(rows)
    assert [episode_waits(warehouse, c)["is_booked_over_28_days"] for c in ("B28", "B29", "N")] == [False, True, False]
    reader = MetricsReader.open(warehouse.path)
    try:
        by_clinic = reader.run("waits_by_clinic", Scope()).row(0, named=True)
    finally:
        reader.close()
    assert (by_clinic["booked_over_28_days"], by_clinic["closed"]) == (1, 3)


def test_next_booking_counts_a_booking_after_the_extract_date_and_open_episodes_are_in_no_band(warehouse):
    warehouse.load([appointment("F1", day(0, EXTRACT), client="F"),
                    appointment("F2", day(20, EXTRACT), status="scheduled", client="F")])
    assert episode_waits(warehouse, "F")["next_booking_days"] == 20
    assert all(d == 0 for _, d in bands(warehouse).values())  # the episode is open


def test_planned_single_session_is_in_its_band_but_not_dropout(warehouse):
    warehouse.load([appointment("P1", day(0), client="P", discharge_date=day(0), discharge_reason="planned"),
                    appointment("D1", day(0), client="D", discharge_date=day(0), discharge_reason="dropout")])
    assert bands(warehouse)["none booked"] == (1, 2)


# --- filters and the worked example ---------------------------------------------------------------


def worked_example() -> list[dict]:
    """The four clients of docs/metrics/waits.md#worked-example."""
    return [
        appointment("A1", "2026-02-16", client="A", referral_date="2026-01-05"),
        appointment("A2", "2026-02-23", client="A", discharge_date="2026-02-23", discharge_reason="planned"),
        appointment("B1", "2026-02-17", client="B", referral_date="2026-01-05"),
        appointment("B2", "2026-03-31", status="dna", client="B", discharge_date="2026-04-01",
                    discharge_reason="dropout"),
        appointment("C1", "2026-02-09", client="C", referral_date="2026-02-02"),
        appointment("D1", "2026-03-09", client="D", referral_date="2025-11-03"),
        appointment("D2", "2026-06-08", client="D"),
    ]


def test_worked_example_gives_the_numbers_on_the_waits_page(warehouse):
    warehouse.load(worked_example())
    got = waits(warehouse)
    assert got["referral_to_first"] == {
        "episodes": 4, "median_days": 42.5,
        "within_6_weeks": {"numerator": 2, "denominator": 4, "rate": 0.5},
        "within_18_weeks": {"numerator": 4, "denominator": 4, "rate": 1.0}}
    assert got["first_to_second"] == {
        "episodes": 2, "median_days": 49,
        "over_28_days": {"numerator": 1, "denominator": 2, "rate": 0.5},
        "over_90_days": {"numerator": 1, "denominator": 2, "rate": 0.5}}
    assert bands(warehouse) == {"0-14": (0, 1), "15-28": (0, 0), "29-90": (1, 1), "over 90": (0, 0),
                                "none booked": (1, 1)}
    jsonschema.validate(report(warehouse), SCHEMA)


def test_waits_follow_the_clinic_and_date_filters(warehouse):
    warehouse.load(worked_example() + waited("K2A", 100, clinic="K2"))
    k2 = waits(warehouse, Scope(clinics=("K2",)))
    assert (k2["referral_to_first"]["episodes"], k2["referral_to_first"]["median_days"]) == (1, 100)
    assert waits(warehouse, Scope(clinics=("K1",)))["referral_to_first"]["episodes"] == 4
    # session 1 from 2026-02-10 to 2026-03-01: clients A (02-16) and B (02-17)
    window = waits(warehouse, Scope(from_date=dt.date(2026, 2, 10), to_date=dt.date(2026, 3, 1)))
    assert (window["referral_to_first"]["episodes"], window["referral_to_first"]["median_days"]) == (2, 42.5)
    assert window["first_to_second"]["episodes"] == 1
    assert bands(warehouse, Scope(from_date=dt.date(2026, 2, 10), to_date=dt.date(2026, 3, 1))) == \
        {"0-14": (0, 1), "15-28": (0, 0), "29-90": (1, 1), "over 90": (0, 0), "none booked": (0, 0)}
    empty = waits(warehouse, Scope(clinics=("NOWHERE",)))
    jsonschema.validate({**report(warehouse, Scope(clinics=("NOWHERE",))), "waits": empty}, SCHEMA)
    assert [r["rate"] for r in empty["dropout_by_next_booking"]] == [None] * 5


# --- properties ----------------------------------------------------------------------------------

# one episode per item: (days to the next booking or None, whether that appointment was attended,
# whether the episode was discharged as dropout on its last row)
generated_episodes = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 120)), st.booleans(), st.booleans()),
                    min_size=1, max_size=12)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_episodes)
def test_band_denominators_add_up_to_the_closed_episodes_in_scope(tmp_path_factory, data):
    rows = []
    for i, (gap, attends, discharged) in enumerate(data):
        client = f"H{i:02d}"
        first = day(i)
        rows.append(appointment(f"{client}-1", first, client=client, clinic=f"K{i % 2}"))
        if gap is not None:
            rows.append(appointment(f"{client}-2", day(gap, dt.date.fromisoformat(first)),
                                    status="attended" if attends else "dna", client=client, clinic=f"K{i % 2}"))
        if discharged:
            rows[-1] |= {"discharge_date": rows[-1]["appointment_date"], "discharge_reason": "dropout"}
    warehouse = Warehouse(tmp_path_factory.mktemp("waits"))
    warehouse.load(rows)
    for scope in (Scope(), Scope(clinics=("K0",)), Scope(from_date=SESSION_1 + dt.timedelta(days=5))):
        got = report(warehouse, scope)
        denominators = [r["denominator"] for r in got["waits"]["dropout_by_next_booking"]]
        numerators = sum(r["numerator"] for r in got["waits"]["dropout_by_next_booking"])
        assert sum(denominators) == got["episodes"]["closed"]
        assert numerators == got["single_session"]["dropout"]["numerator"]


# The waits report on its own, over many generated sets: a bare in-memory database holding the table
# waits.sql reads, with every episode at one clinic and session 1 on one day.


@pytest.fixture(scope="module")
def bare_waits():
    with duckdb.connect() as con:
        # the waits model's columns the report reads; its flags as the model sets them (the model's own
        # boundaries are the fixtures above: waits of 42 and 126 days, gaps of 28, 90 and 91)
        con.execute("CREATE TABLE days (clinic_id VARCHAR, therapist_id VARCHAR, first_session_type VARCHAR, "
                    "first_attended_date DATE, wait_to_first_days BIGINT, second_session_days BIGINT)")
        con.execute("CREATE VIEW waits AS SELECT *, wait_to_first_days <= 42 AS is_within_6_weeks, "
                    "wait_to_first_days <= 126 AS is_within_18_weeks, second_session_days > 28 AS "
                    "is_second_gap_over_28_days, second_session_days > 90 AS is_second_gap_over_90_days FROM days")
        con.execute(model_sql("macros/in_scope"))  # the filter every report applies
        yield con


days_or_none = st.lists(st.one_of(st.none(), st.integers(0, 400)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(days_or_none, days_or_none)
@example([42, 43], [28, 29])
@example([126, 127, None], [90, 91])
def test_waits_report_counts_and_medians_match_a_hand_count(bare_waits, first_waits, second_gaps):
    bare_waits.execute("DELETE FROM days")
    count = max(len(first_waits), len(second_gaps))
    rows = [("K1", "T1", None, SESSION_1, (first_waits + [None] * count)[i], (second_gaps + [None] * count)[i])
            for i in range(count)]
    if rows:
        bare_waits.executemany("INSERT INTO days VALUES (?, ?, ?, ?, ?, ?)", rows)
    sql, wanted = report_sql("waits")
    got = bare_waits.sql(sql, params={name: None for name in wanted}).fetchall()
    waits_known = [w for w in first_waits if w is not None]
    gaps_known = [g for g in second_gaps if g is not None]
    assert len(got) == 1
    assert got[0] == (
        len(waits_known), statistics.median(waits_known) if waits_known else None,
        sum(w <= 42 for w in waits_known), sum(w <= 126 for w in waits_known),
        len(gaps_known), statistics.median(gaps_known) if gaps_known else None,
        sum(g > 28 for g in gaps_known), sum(g > 90 for g in gaps_known))
