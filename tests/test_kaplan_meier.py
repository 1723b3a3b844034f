"""Time to discharge (docs/metrics/time-to-discharge.md): the curve and median agree with
lifelines' KaplanMeierFitter to 1e-9.

lifelines is a test-only dependency; it is the reference our definition names. Its median has no
tolerance: where a product of fractions that is exactly 1/2 lands a hair above 0.5 in floating
point, lifelines moves on to the next event day while our median (≤ 0.5 within 1e-9) stops
there. The expected median below is therefore read off lifelines' curve with our tolerance,
and equals lifelines' own median_survival_time_ except in exactly that case.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from lifelines import KaplanMeierFitter

from conftest import EXTRACT, Warehouse, appointment, report
from pipelines.queries import MetricsReader, Scope
from pipelines.report import KM_TOLERANCE, median_days
from pipelines.warehouse import MACROS, WAREHOUSE, model_sql

TOLERANCE = 1e-9


def fitted(durations: list[int], events: list[bool]) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(np.asarray(durations, dtype=float), event_observed=np.asarray(events, dtype=bool))


def assert_agrees_with_lifelines(ttd: dict, durations: list[int], events: list[bool]) -> None:
    kmf = fitted(durations, events)
    curve = ttd["curve"]
    days = [p["day"] for p in curve]
    # day 0, then one point per day with an event, in order
    assert days == sorted({0} | {d for d, e in zip(durations, events) if e})
    ours = np.array([p["survival"] for p in curve])
    theirs = kmf.survival_function_at_times(days).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours, np.atleast_1d(kmf.predict(days)), rtol=0, atol=TOLERANCE)

    # median: lifelines' median, inf when never reached (our null), read with our tolerance
    event_days = sorted({d for d, e in zip(durations, events) if e})
    lifelines_at = dict(zip(days, theirs))
    expected = next((d for d in event_days if lifelines_at[d] <= 0.5 + TOLERANCE), None)
    assert ttd["median_days"] == expected
    lifelines_median = kmf.median_survival_time_
    if expected is None:
        assert math.isinf(lifelines_median)
    elif lifelines_median != expected:
        # only where lifelines' value on our median day is a rounding hair above one half
        assert 0.5 < lifelines_at[expected] <= 0.5 + TOLERANCE
        assert lifelines_median > expected

    assert (ttd["events"], ttd["censored"]) == (sum(events), len(events) - sum(events))


# --- the bundled-sample-like warehouse ---------------------------------------------------------


def durations_of(warehouse: Warehouse, where: str = "true") -> tuple[list[int], list[bool]]:
    rows = warehouse.query(
        "SELECT t.duration_days, t.is_event FROM time_to_discharge AS t "
        f"JOIN episodes AS e USING (client_id, episode_id) WHERE {where}"
    )
    return rows["duration_days"].to_list(), rows["is_event"].to_list()


def test_sample_like_curve_and_median_match_lifelines(sample_like_warehouse):
    durations, events = durations_of(sample_like_warehouse)
    assert len(durations) > 400 and 0 < sum(events) < len(events)
    ttd = report(sample_like_warehouse)["time_to_discharge"]
    assert ttd["median_days"] is not None
    assert_agrees_with_lifelines(ttd, durations, events)


def test_sample_like_curve_per_clinic_matches_lifelines(sample_like_warehouse):
    clinics = sample_like_warehouse.query("SELECT DISTINCT clinic_id FROM episodes WHERE clinic_id IS NOT NULL "
                                          "ORDER BY ALL")["clinic_id"].to_list()
    assert len(clinics) >= 4
    for clinic in clinics:
        durations, events = durations_of(sample_like_warehouse, f"e.clinic_id = '{clinic}'")
        ttd = report(sample_like_warehouse, Scope(clinics=(clinic,)))["time_to_discharge"]
        assert_agrees_with_lifelines(ttd, durations, events)


def test_by_clinic_strata_match_lifelines(sample_like_warehouse):
    reader = MetricsReader.open(sample_like_warehouse.path)
    try:
        strata = reader.run("kaplan_meier", Scope(), by_clinic=True)
    finally:
        reader.close()
    for clinic in strata["stratum"].unique().to_list():
        durations, events = durations_of(sample_like_warehouse, f"e.clinic_id = '{clinic}'")
        part = strata.filter(strata["stratum"] == clinic)
        kmf = fitted(durations, events)
        np.testing.assert_allclose(part["survival"].to_numpy(),
                                   kmf.survival_function_at_times(part["day"].to_list()).to_numpy(),
                                   rtol=0, atol=TOLERANCE)


# --- generated (duration, event) pairs with many ties -------------------------------------------

pairs = st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=1, max_size=40)
# events on days 1..6: 5/6 * 4/5 * 3/4 = 1/2 on day 3, which lifelines computes as 0.5000000000000001
# (its median is day 4; ours, with the 1e-9 tolerance, is day 3)
HAIR_ABOVE_HALF = [(day, True) for day in range(1, 7)]


def rows_for(durations: list[int], events: list[bool]) -> list[dict]:
    """One episode per pair whose duration comes out as given: a discharged single session
    (event) or an open episode that started `duration` days before E and has a booking (censored)."""
    rows = []
    for i, (duration, event) in enumerate(zip(durations, events)):
        client = f"H{i:03d}"
        if event:
            first = dt.date(2026, 1, 5) + dt.timedelta(days=i % 7)
            rows.append(appointment(f"{client}/1", first.isoformat(), client=client, episode_id="1",
                                    discharge_date=(first + dt.timedelta(days=duration)).isoformat(),
                                    discharge_reason="planned"))
        else:
            first = EXTRACT - dt.timedelta(days=duration)
            rows.append(appointment(f"{client}/1", first.isoformat(), client=client, episode_id="1"))
            rows.append(appointment(f"{client}/2", (EXTRACT + dt.timedelta(days=7)).isoformat(),
                                    status="scheduled", client=client, episode_id="1"))
    return rows


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs)
@example(HAIR_ABOVE_HALF)
def test_generated_episodes_curve_and_median_match_lifelines(tmp_path_factory, data):
    durations = [d for d, _ in data]
    events = [e for _, e in data]
    warehouse = Warehouse(tmp_path_factory.mktemp("km"))
    warehouse.load(rows_for(durations, events), extract_date=EXTRACT)
    got = dict(warehouse.query("SELECT client_id, duration_days FROM time_to_discharge").iter_rows())
    assert [got[f"H{i:03d}"] for i in range(len(durations))] == durations
    assert_agrees_with_lifelines(report(warehouse)["time_to_discharge"], durations, events)


# The report SQL on its own, over many more generated sets: a bare in-memory database with the
# table kaplan_meier.sql reads (time_to_discharge, which carries each episode's attribution).


@pytest.fixture(scope="module")
def bare_km():
    con = duckdb.connect()
    # named as a reader connection names the warehouse it attaches (pipelines.warehouse.connect)
    con.execute(f"ATTACH ':memory:' AS {WAREHOUSE}")
    con.execute(f"USE {WAREHOUSE}")
    con.execute("CREATE TABLE episodes (client_id VARCHAR, episode_id VARCHAR, therapist_id VARCHAR, "
                "clinic_id VARCHAR, first_session_type VARCHAR, first_attended_date DATE, status VARCHAR)")
    con.execute("CREATE TABLE time_to_discharge (client_id VARCHAR, episode_id VARCHAR, duration_days BIGINT, "
                "is_event BOOLEAN, end_group VARCHAR, attended_sessions BIGINT, clinic_id VARCHAR, therapist_id VARCHAR, "
                "first_session_type VARCHAR, first_attended_date DATE)")
    for macro in MACROS:
        if macro != "macros/expected_change":  # (it reads trajectories, which this bare warehouse lacks)
            con.execute(model_sql(macro))
    yield con
    con.close()


@settings(max_examples=150, deadline=None)
@given(pairs)
@example(HAIR_ABOVE_HALF)
@example([(0, True), (0, False)])
@example([(5, False), (5, False)])
def test_kaplan_meier_sql_matches_lifelines_on_tied_durations(bare_km, data):
    durations = [d for d, _ in data]
    events = [e for _, e in data]
    bare_km.execute("DELETE FROM episodes")
    bare_km.execute("DELETE FROM time_to_discharge")
    bare_km.executemany("INSERT INTO episodes VALUES (?, '1', 'T1', 'K1', NULL, DATE '2026-01-05', ?)",
                        [(f"H{i}", "closed" if e else "open") for i, e in enumerate(events)])
    bare_km.executemany("INSERT INTO time_to_discharge VALUES (?, '1', ?, ?, ?, 1, 'K1', 'T1', NULL, DATE '2026-01-05')",
                        [(f"H{i}", d, e, "planned" if e else None) for i, (d, e) in enumerate(data)])
    curve = MetricsReader(bare_km).run("kaplan_meier", Scope(), by_clinic=False)
    ttd = {
        "curve": [{"day": int(r["day"]), "survival": float(r["survival"])} for r in curve.iter_rows(named=True)],
        "median_days": median_days(curve),
        "events": sum(events), "censored": len(events) - sum(events),
    }
    assert_agrees_with_lifelines(ttd, durations, events)


def test_tolerance_is_the_specs():
    assert KM_TOLERANCE == TOLERANCE


# --- split by end reason (docs/metrics/time-to-discharge.md#split-by-end-reason) ----------------

# One closed episode per canonical end reason, and one open episode, each a client of its own.
# Durations are days from session 1 to the end date (inactive: to the last session).
END_REASON_EPISODES = {
    # client: (end reason, duration)
    "P1": ("planned", 0), "P2": ("planned", 14), "P3": ("planned", 30), "P4": ("planned", 30),
    "P5": ("planned", 70),
    "D1": ("dropout", 7), "D2": ("dropout", 7), "D3": ("dropout", 21),
    "I1": ("inactive", 14),
    "R1": ("referred_on", 10), "O1": ("other", 40), "U1": ("unknown", 50),
}
END_GROUP_OF = {"planned": "planned", "dropout": "dropout", "inactive": "dropout",
                "referred_on": "other", "other": "other", "unknown": "other"}


def end_reason_rows() -> list[dict]:
    rows = []
    for client, (reason, duration) in END_REASON_EPISODES.items():
        first = dt.date(2026, 1, 5)
        end = (first + dt.timedelta(days=duration)).isoformat()
        rows.append(appointment(f"{client}/1", first.isoformat(), client=client, episode_id="1"))
        if reason == "inactive":  # last session long before the extract date, nothing booked
            rows.append(appointment(f"{client}/2", end, client=client, episode_id="1"))
        else:
            rows.append(appointment(f"{client}/2", end, client=client, episode_id="1", discharge_date=end,
                                    discharge_reason="" if reason == "unknown" else reason))
    # open: 20 days in care and a booking ahead; it must lie in none of the split curves
    rows.append(appointment("N1/1", (EXTRACT - dt.timedelta(days=20)).isoformat(), client="N1", episode_id="1"))
    rows.append(appointment("N1/2", (EXTRACT + dt.timedelta(days=7)).isoformat(), status="scheduled",
                            client="N1", episode_id="1"))
    return rows


@pytest.fixture(scope="module")
def end_reason_warehouse(tmp_path_factory):
    warehouse = Warehouse(tmp_path_factory.mktemp("km_end_reason"))
    warehouse.load(end_reason_rows(), extract_date=EXTRACT)
    return warehouse


def test_end_groups_follow_the_canonical_end_reasons(end_reason_warehouse):
    got = end_reason_warehouse.query("SELECT t.client_id, e.end_reason, t.end_group, t.duration_days "
                                     "FROM time_to_discharge AS t JOIN episodes AS e USING (client_id, episode_id)")
    by_client = {r["client_id"]: r for r in got.iter_rows(named=True)}
    for client, (reason, duration) in END_REASON_EPISODES.items():
        assert (by_client[client]["end_reason"], by_client[client]["duration_days"]) == (reason, duration)
        assert by_client[client]["end_group"] == END_GROUP_OF[reason]
    assert by_client["N1"]["end_group"] is None


def test_split_by_end_reason_is_one_curve_per_group_over_its_closed_episodes(end_reason_warehouse):
    reader = MetricsReader.open(end_reason_warehouse.path)
    try:
        curves = reader.run("kaplan_meier", Scope(), by_clinic=False, by_end_reason=True)
    finally:
        reader.close()
    assert sorted(curves["stratum"].unique().to_list()) == ["dropout", "other", "planned"]
    # hand count: planned 0, 14, 30, 30, 70 -> median 30 (share 1/5 left after day 30);
    # dropout 7, 7, 14 (inactive), 21 -> median 7 (2/4 ended); other 10, 40, 50 -> median 40
    expected_medians = {"planned": 30, "dropout": 7, "other": 40}
    for group in ("planned", "dropout", "other"):
        durations = [d for reason, d in END_REASON_EPISODES.values() if END_GROUP_OF[reason] == group]
        part = curves.filter(curves["stratum"] == group)
        # the open episode (20 days) is in no group: at risk on day 0 is the group's own episodes
        assert part["at_risk"].max() == len(durations)
        assert part["day"].to_list() == sorted({0, *durations})
        kmf = fitted(durations, [True] * len(durations))
        np.testing.assert_allclose(part["survival"].to_numpy(),
                                   kmf.survival_function_at_times(part["day"].to_list()).to_numpy(),
                                   rtol=0, atol=TOLERANCE)
        assert median_days(part) == expected_medians[group] == kmf.median_survival_time_


def test_unsplit_curve_still_censors_open_episodes(end_reason_warehouse):
    durations, events = durations_of(end_reason_warehouse)
    assert events.count(False) == 1
    assert_agrees_with_lifelines(report(end_reason_warehouse)["time_to_discharge"], durations, events)
