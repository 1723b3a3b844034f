"""Episodes (docs/metrics/episodes.md): one test per rule, each on a tiny log with a hand-worked expectation.

The extract date E is 2026-06-30 (conftest.EXTRACT) unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from conftest import EXTRACT, appointment
from pipelines.config import Settings
from pipelines.episodes import derive_episode_ids

D0 = dt.date(2025, 1, 1)


def day(offset: int, start: dt.date = D0) -> str:
    return (start + dt.timedelta(days=offset)).isoformat()


def before_extract(days: int) -> str:
    return (EXTRACT - dt.timedelta(days=days)).isoformat()


def episode_of(warehouse) -> dict[str, str]:
    """appointment_id -> episode_id as the warehouse assigned it."""
    rows = warehouse.query("SELECT appointment_id, episode_id FROM stg_appointments")
    return dict(rows.iter_rows())


def episode_keys(warehouse) -> list[tuple[str, str]]:
    return list(warehouse.query("SELECT client_id, episode_id FROM episodes ORDER BY ALL").iter_rows())


# --- the episode key --------------------------------------------------------------------------


def test_row_with_empty_episode_id_is_quarantined_when_input_has_episode_id_column(warehouse):
    report = warehouse.load([
        appointment("A1", "2026-01-05", episode_id="E1"),
        appointment("A2", "2026-01-12", episode_id=""),
        appointment("A3", "2026-01-19", episode_id="E1"),
    ])
    quarantined = warehouse.query("SELECT appointment_id, reason FROM quarantine")
    assert quarantined["appointment_id"].to_list() == ["A2"]
    assert "episode_id" in quarantined["reason"][0]
    assert sorted(warehouse.query("SELECT appointment_id FROM appointments")["appointment_id"]) == ["A1", "A3"]
    assert report.totals["rows_quarantined"] == 1
    assert warehouse.episode("C1", "E1")["attended_sessions"] == 2


def test_episodes_are_keyed_by_client_and_episode_id(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-05", client="C1", episode_id="X"),
        appointment("A2", "2026-01-12", client="C1", episode_id="X"),
        appointment("A3", "2026-01-06", client="C2", episode_id="X"),
        appointment("A4", "2026-02-01", client="C1", episode_id="Y"),
    ])
    assert episode_keys(warehouse) == [("C1", "X"), ("C1", "Y"), ("C2", "X")]
    assert warehouse.episode("C1", "X")["attended_sessions"] == 2
    assert warehouse.episode("C2", "X")["attended_sessions"] == 1
    assert warehouse.episode("C1", "Y")["attended_sessions"] == 1


def test_given_episode_ids_are_kept_even_across_long_gaps(warehouse):
    # The gap and discharge rules only derive ids when the input has none.
    warehouse.load([
        appointment("A1", "2025-01-05", episode_id="E1", discharge_date="2025-01-06"),
        appointment("A2", "2026-01-05", episode_id="E1"),
    ])
    assert episode_of(warehouse) == {"A1": "E1", "A2": "E1"}


# --- derived episodes ---------------------------------------------------------------------------


def test_first_appointment_opens_derived_episode_1(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-05", status="dna"),
        appointment("A2", "2026-01-12"),
        appointment("A3", "2026-01-19"),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "1"}
    assert episode_keys(warehouse) == [("C1", "1")]


def test_appointment_after_discharge_recorded_on_earlier_row_opens_new_episode(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-05", discharge_date="2026-01-20", discharge_reason="planned"),
        appointment("A2", "2026-01-20"),  # on the discharge date: not after it, same episode
        appointment("A3", "2026-01-21"),  # the day after: a new course of care
        appointment("A4", "2026-01-28"),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "2", "A4": "2"}
    assert warehouse.episode("C1", "1")["discharge_date"] == dt.date(2026, 1, 20)
    assert warehouse.episode("C1", "2")["discharge_date"] is None


def test_discharge_date_on_the_row_itself_does_not_split_it_only_later_rows(warehouse):
    # A2 carries a discharge date earlier than its own date: A2 stays, the next row opens episode 2.
    warehouse.load([
        appointment("A1", "2026-01-05"),
        appointment("A2", "2026-01-20", discharge_date="2026-01-10"),
        appointment("A3", "2026-01-25"),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "2"}


def test_exactly_episode_gap_days_after_latest_attended_stays_in_episode(warehouse):
    warehouse.load([
        appointment("A1", day(0)),
        appointment("A2", day(180)),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1"}


def test_more_than_episode_gap_days_after_latest_attended_opens_new_episode(warehouse):
    warehouse.load([
        appointment("A1", day(0)),
        appointment("A2", day(181)),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "2"}


def test_gap_is_counted_in_calendar_days_not_hours(warehouse):
    # 180 days and 22 hours apart, but 180 calendar days: the same episode.
    warehouse.load([
        appointment("A1", day(0) + "T00:30"),
        appointment("A2", day(180) + "T22:30"),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1"}


def test_gap_counts_from_latest_attended_not_first_appointment(warehouse):
    warehouse.load([
        appointment("A1", day(0)),
        appointment("A2", day(100)),
        appointment("A3", day(280)),  # 280 after the first, 180 after the latest attended
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "1"}


def test_gap_counts_from_first_appointment_when_nothing_attended_yet(warehouse):
    warehouse.load([
        appointment("A1", day(0), status="dna", client="C1"),
        appointment("A2", day(100), status="cancelled", client="C1"),
        appointment("A3", day(181), client="C1"),  # 181 after A1 (81 after A2): new episode
        appointment("B1", day(0), status="dna", client="C2"),
        appointment("B2", day(100), status="dna", client="C2"),
        appointment("B3", day(180), client="C2"),  # exactly 180 after B1: same episode
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "2", "B1": "1", "B2": "1", "B3": "1"}


def test_dna_between_sessions_does_not_move_gap_anchor(warehouse):
    warehouse.load([
        appointment("A1", day(0)),
        appointment("A2", day(100), status="dna"),
        appointment("A3", day(150), status="scheduled"),
        appointment("A4", day(181)),  # 181 after the latest attended session A1
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "1", "A4": "2"}


def test_derivation_orders_by_date_time_before_appointment_id(warehouse):
    # Z at 09:00 carries a discharge before its day, so whatever comes after it opens episode 2.
    # By time Z comes first (id order would put A first); file order is the reverse of both.
    warehouse.load([
        appointment("A", "2026-01-10T14:00"),
        appointment("Z", "2026-01-10T09:00", discharge_date="2026-01-09"),
    ])
    assert episode_of(warehouse) == {"Z": "1", "A": "2"}


def test_derivation_orders_equal_date_times_by_appointment_id(warehouse):
    warehouse.load([
        appointment("B", "2026-01-10T09:00"),
        appointment("A", "2026-01-10T09:00", discharge_date="2026-01-09"),
    ])
    assert episode_of(warehouse) == {"A": "1", "B": "2"}


def test_derived_episode_ids_are_numbered_1_2_per_client(warehouse):
    warehouse.load([
        appointment("A1", day(0), client="C1"),
        appointment("A2", day(200), client="C1"),
        appointment("A3", day(400), client="C1"),
        appointment("B1", day(0), client="C2"),
        appointment("B2", day(300), client="C2"),
        appointment("D1", day(250), client="C3"),
    ])
    assert episode_of(warehouse) == {"A1": "1", "A2": "2", "A3": "3", "B1": "1", "B2": "2", "D1": "1"}
    assert episode_keys(warehouse) == [("C1", "1"), ("C1", "2"), ("C1", "3"), ("C2", "1"), ("C2", "2"),
                                       ("C3", "1")]


def test_custom_episode_gap_days_setting_moves_the_gap_boundary(warehouse):
    warehouse.load([
        appointment("A1", day(0), client="C1"),
        appointment("A2", day(30), client="C1"),   # exactly 30: stays
        appointment("A3", day(61), client="C1"),   # 31 after A2: new episode
        appointment("B1", day(0), client="C2"),
        appointment("B2", day(179), client="C2"),  # within the default 180 but not within 30
    ], settings=Settings(episode_gap_days=30))
    assert episode_of(warehouse) == {"A1": "1", "A2": "1", "A3": "2", "B1": "1", "B2": "2"}
    assert warehouse.query("SELECT episode_gap_days FROM settings").item() == 30


# --- attribution to session 1 -------------------------------------------------------------------


def test_episode_is_attributed_to_first_attended_session_not_an_earlier_dna(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-28", status="dna", therapist="T9", clinic="K9", session_type="assessment"),
        appointment("A2", "2026-02-03", therapist="T1", clinic="K1", session_type="treatment"),
        appointment("A3", "2026-02-10", therapist="T2", clinic="K2", session_type="review"),
    ])
    episode = warehouse.episode("C1", "1")
    assert (episode["therapist_id"], episode["clinic_id"], episode["first_session_type"],
            episode["cohort_month"]) == ("T1", "K1", "treatment", "2026-02")
    assert episode["first_attended_date"] == dt.date(2026, 2, 3)


def test_same_day_sessions_are_numbered_by_time_for_attribution(warehouse):
    warehouse.load([
        appointment("S1", "2026-03-01T15:00", therapist="T2", clinic="K2", session_type="treatment"),
        appointment("S2", "2026-03-01T09:00", therapist="T1", clinic="K1", session_type="assessment"),
    ])
    episode = warehouse.episode("C1", "1")
    assert (episode["therapist_id"], episode["clinic_id"], episode["first_session_type"]) == \
        ("T1", "K1", "assessment")
    numbers = dict(warehouse.query("SELECT appointment_id, session_number FROM sessions").iter_rows())
    assert numbers == {"S2": 1, "S1": 2}


def test_sessions_at_equal_date_time_are_numbered_by_appointment_id_for_attribution(warehouse):
    warehouse.load([
        appointment("A2", "2026-03-01T09:00", therapist="T2", clinic="K2"),
        appointment("A1", "2026-03-01T09:00", therapist="T1", clinic="K1"),
    ])
    episode = warehouse.episode("C1", "1")
    assert (episode["therapist_id"], episode["clinic_id"]) == ("T1", "K1")
    numbers = dict(warehouse.query("SELECT appointment_id, session_number FROM sessions").iter_rows())
    assert numbers == {"A1": 1, "A2": 2}


# --- attended sessions --------------------------------------------------------------------------


def test_attended_sessions_counts_only_attended_appointments_dated_on_or_before_extract_date(warehouse):
    warehouse.load([
        appointment("A1", "2026-05-01"),
        appointment("A2", "2026-05-10", status="dna"),
        appointment("A3", "2026-05-20", status="cancelled by clinic"),
        appointment("A4", "2026-06-01"),
        appointment("A5", "2026-06-20"),
    ], extract_date=dt.date(2026, 6, 30))
    assert warehouse.episode()["attended_sessions"] == 3
    # The latest load gives an earlier extract date: A5 (2026-06-20) is after E and no longer counts.
    warehouse.load([appointment("B1", "2026-06-01", client="C2")], extract_date=dt.date(2026, 6, 15))
    episode = warehouse.episode()
    assert episode["attended_sessions"] == 2
    assert episode["last_attended_date"] == dt.date(2026, 6, 1)
    assert sorted(warehouse.query("SELECT appointment_id FROM sessions WHERE client_id = 'C1'")
                  ["appointment_id"]) == ["A1", "A4"]


def test_attended_appointment_dated_after_extract_date_is_quarantined_not_counted(warehouse):
    warehouse.load([
        appointment("A1", "2026-06-01"),
        appointment("A2", "2026-07-01"),
    ], extract_date=dt.date(2026, 6, 30))
    assert warehouse.query("SELECT appointment_id FROM quarantine")["appointment_id"].to_list() == ["A2"]
    assert warehouse.episode()["attended_sessions"] == 1


# --- status -------------------------------------------------------------------------------------


def test_episode_with_no_attended_session_is_not_started(warehouse):
    warehouse.load([
        appointment("A1", "2026-03-01", status="dna", therapist="T1"),
        appointment("A2", "2026-03-08", status="cancelled"),
        appointment("A3", "2026-03-15", status="scheduled"),
    ])
    episode = warehouse.episode()
    assert episode["status"] == "not_started"
    assert episode["attended_sessions"] == 0
    assert episode["therapist_id"] is None and episode["cohort_month"] is None
    assert episode["end_date"] is None and episode["end_reason"] is None
    assert episode["duration_days"] is None


def test_discharge_on_or_before_extract_date_closes_with_discharge_date_and_reason(warehouse):
    warehouse.load([
        appointment("A1", "2026-05-01", client="C1"),
        appointment("A2", "2026-05-15", client="C1", discharge_date="2026-05-20",
                    discharge_reason="mutually agreed"),
        appointment("B1", "2026-06-10", client="C2"),
        appointment("B2", "2026-06-20", client="C2", discharge_date=EXTRACT.isoformat(), discharge_reason="47"),
    ])
    c1 = warehouse.episode("C1", "1")
    assert (c1["status"], c1["end_date"], c1["end_reason"]) == ("closed", dt.date(2026, 5, 20), "planned")
    c2 = warehouse.episode("C2", "1")  # discharged on E itself: closed
    assert (c2["status"], c2["end_date"], c2["end_reason"]) == ("closed", EXTRACT, "dropout")


def test_discharge_without_reason_closes_with_end_reason_unknown(warehouse):
    warehouse.load([
        appointment("A1", "2026-05-01"),
        appointment("A2", "2026-05-15", discharge_date="2026-05-15"),
    ])
    episode = warehouse.episode()
    assert episode["discharge_reason"] is None
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", dt.date(2026, 5, 15), "unknown")


def test_discharge_reason_comes_from_last_row_carrying_the_latest_discharge_date(warehouse):
    # The latest date (2026-03-05) is on A1 and A2, not on the last row A3; A2 is the last row carrying it.
    warehouse.load([
        appointment("A1", "2026-01-10", discharge_date="2026-03-05", discharge_reason="referred on"),
        appointment("A2", "2026-02-01", discharge_date="2026-03-05", discharge_reason="declined"),
        appointment("A3", "2026-02-10", discharge_date="2026-03-01", discharge_reason="dropout"),
    ])
    episode = warehouse.episode()
    assert (episode["discharge_date"], episode["discharge_reason"]) == (dt.date(2026, 3, 5), "other")
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", dt.date(2026, 3, 5), "other")


def test_discharge_reason_recorded_only_with_an_earlier_discharge_date_is_not_the_episodes_reason(warehouse):
    # A1's reason belongs to a discharge date that a later row superseded; A2 gives no reason.
    warehouse.load([
        appointment("A1", "2026-01-10", discharge_date="2026-03-01", discharge_reason="dropout"),
        appointment("A2", "2026-02-01", discharge_date="2026-03-05"),
    ])
    episode = warehouse.episode()
    assert (episode["discharge_date"], episode["discharge_reason"]) == (dt.date(2026, 3, 5), None)
    assert (episode["status"], episode["end_reason"]) == ("closed", "unknown")


def test_discharge_date_after_extract_date_does_not_close_by_discharge(warehouse):
    future = (EXTRACT + dt.timedelta(days=15)).isoformat()
    warehouse.load([
        # recent sessions: open
        appointment("A1", "2026-06-01", client="C1", discharge_date=future, discharge_reason="planned"),
        # long inactive: closed as inactive, not by the (future) discharge
        appointment("B1", "2026-01-05", client="C2", discharge_date=future, discharge_reason="planned"),
    ])
    c1 = warehouse.episode("C1", "1")
    assert (c1["status"], c1["end_date"], c1["end_reason"]) == ("open", None, None)
    c2 = warehouse.episode("C2", "1")
    assert (c2["status"], c2["end_date"], c2["end_reason"]) == ("closed", dt.date(2026, 1, 5), "inactive")


def test_discharge_before_session_1_ends_at_last_attended_and_is_an_episode_issue(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-10", episode_id="E1"),
        appointment("A2", "2026-01-20", episode_id="E1", discharge_date="2026-01-05", discharge_reason="planned"),
        appointment("B1", "2026-01-10", client="C2", episode_id="E1", discharge_date="2026-01-10"),
    ])
    episode = warehouse.episode("C1", "E1")
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", dt.date(2026, 1, 20), "planned")
    assert episode["is_discharge_before_first_session"] is True
    assert episode["duration_days"] == 10
    issues = warehouse.query("SELECT * FROM episode_issues")
    assert issues.select("client_id", "episode_id", "recorded_date", "expected_on_or_after").rows() == \
        [("C1", "E1", dt.date(2026, 1, 5), dt.date(2026, 1, 10))]
    # A discharge on the day of session 1 is not an issue.
    assert warehouse.episode("C2", "E1")["end_date"] == dt.date(2026, 1, 10)


def test_derived_episode_with_discharge_before_session_1_ends_at_last_attended_and_is_an_issue(warehouse):
    # The discharge date stands on A2 itself, so it does not split the derived episode.
    warehouse.load([
        appointment("A1", "2026-01-10"),
        appointment("A2", "2026-01-20", discharge_date="2026-01-05", discharge_reason="dropout"),
    ])
    episode = warehouse.episode("C1", "1")
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", dt.date(2026, 1, 20), "dropout")
    assert warehouse.query("SELECT client_id, episode_id, issue FROM episode_issues").rows() == \
        [("C1", "1", "discharge date before session 1")]


# --- the inactive boundary ----------------------------------------------------------------------


def test_last_attended_exactly_inactive_days_before_extract_closes_as_inactive(warehouse):
    warehouse.load([
        appointment("A1", before_extract(120)),
        appointment("A2", before_extract(90)),
    ])
    episode = warehouse.episode()
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", EXTRACT - dt.timedelta(days=90), "inactive")
    assert episode["duration_days"] == 30


def test_last_attended_less_than_inactive_days_before_extract_stays_open(warehouse):
    warehouse.load([
        appointment("A1", before_extract(120)),
        appointment("A2", before_extract(89)),
    ])
    episode = warehouse.episode()
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == ("open", None, None)


def test_only_attended_sessions_count_for_inactivity_not_later_dna_or_cancellations(warehouse):
    warehouse.load([
        appointment("A1", before_extract(100)),
        appointment("A2", before_extract(30), status="dna"),
        appointment("A3", before_extract(5), status="cancelled by clinic"),
    ])
    episode = warehouse.episode()
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", EXTRACT - dt.timedelta(days=100), "inactive")


def test_scheduled_appointment_dated_after_extract_keeps_inactive_episode_open(warehouse):
    warehouse.load([
        appointment("A1", before_extract(120)),
        appointment("A2", (EXTRACT + dt.timedelta(days=1)).isoformat(), status="booked"),
    ])
    episode = warehouse.episode()
    assert episode["has_future_booking"] is True
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == ("open", None, None)


def test_stale_scheduled_booking_on_or_before_extract_keeps_nothing_open(warehouse):
    warehouse.load([
        appointment("A1", before_extract(120)),
        appointment("A2", before_extract(10), status="scheduled"),
        appointment("A3", EXTRACT.isoformat(), status="scheduled"),
    ])
    episode = warehouse.episode()
    assert episode["has_future_booking"] is False
    assert (episode["status"], episode["end_date"], episode["end_reason"]) == \
        ("closed", EXTRACT - dt.timedelta(days=120), "inactive")


def test_custom_inactive_days_setting_moves_the_inactive_boundary(warehouse):
    warehouse.load([
        appointment("A1", before_extract(30), client="C1"),
        appointment("B1", before_extract(29), client="C2"),
    ], settings=Settings(inactive_days=30))
    assert warehouse.episode("C1", "1")["status"] == "closed"
    assert warehouse.episode("C1", "1")["end_reason"] == "inactive"
    assert warehouse.episode("C2", "1")["status"] == "open"
    assert warehouse.query("SELECT inactive_days FROM settings").item() == 30


# --- the extract date ---------------------------------------------------------------------------


def test_extract_date_defaults_to_latest_non_scheduled_appointment_date(warehouse):
    report = warehouse.load([
        appointment("A1", "2026-03-01"),
        appointment("A2", "2026-03-20T16:30", status="cancelled"),
        appointment("A3", "2027-01-15", status="scheduled"),  # far in the future: must not move E
    ], extract_date=None)
    assert report.extract_date == dt.date(2026, 3, 20)
    stored = warehouse.query("SELECT extract_date, extract_date_source FROM settings").row(0)
    assert stored == (dt.date(2026, 3, 20), "latest appointment")
    episode = warehouse.episode()
    assert episode["status"] == "open"
    assert episode["duration_days"] == 19


def test_given_extract_date_is_stored_in_the_warehouse(warehouse):
    report = warehouse.load([appointment("A1", "2026-03-01")], extract_date=dt.date(2026, 4, 1))
    assert report.extract_date == dt.date(2026, 4, 1)
    stored = warehouse.query("SELECT extract_date, extract_date_source FROM settings").row(0)
    assert stored == (dt.date(2026, 4, 1), "given")


def test_latest_load_without_extract_date_uses_latest_appointment_in_the_whole_warehouse(warehouse):
    warehouse.load([appointment("A1", "2026-05-01", client="C1")], extract_date=dt.date(2026, 6, 30))
    warehouse.load([appointment("B1", "2026-03-01", client="C2")], extract_date=None)
    # Not the earlier load's given date (06-30), not this load's own latest row (03-01).
    assert warehouse.query("SELECT extract_date FROM settings").item() == dt.date(2026, 5, 1)


# --- duration -----------------------------------------------------------------------------------


def test_duration_of_closed_episode_is_end_date_minus_first_attended(warehouse):
    warehouse.load([
        appointment("A1", "2026-01-10", status="dna"),
        appointment("A2", "2026-01-12"),
        appointment("A3", "2026-02-01", discharge_date="2026-03-22", discharge_reason="planned"),
    ])
    episode = warehouse.episode()
    assert episode["status"] == "closed"
    assert episode["duration_days"] == (dt.date(2026, 3, 22) - dt.date(2026, 1, 12)).days == 69


def test_duration_of_open_episode_is_extract_date_minus_first_attended(warehouse):
    warehouse.load([
        appointment("A1", "2026-05-01"),
        appointment("A2", "2026-06-20"),
    ])
    episode = warehouse.episode()
    assert episode["status"] == "open"
    assert episode["duration_days"] == (EXTRACT - dt.date(2026, 5, 1)).days == 60


# --- derive_episode_ids against a reference implementation ---------------------------------------


def reference_episode_ids(rows: list[dict], gap_days: int) -> dict[str, str]:
    """The episode rules read literally, one client at a time."""
    result: dict[str, str] = {}
    by_client: dict[str, list[dict]] = {}
    for row in rows:
        by_client.setdefault(row["client_id"], []).append(row)
    for appointments in by_client.values():
        appointments.sort(key=lambda r: (r["appointment_at"], r["appointment_id"]))
        number = 0
        for i, row in enumerate(appointments):
            today = row["appointment_date"]
            if i == 0:
                opens = True
            else:
                anchor = max(attended_days) if attended_days else first_day
                opens = (any(d < today for d in discharges)
                         or (today - anchor).days > gap_days)
            if opens:
                number += 1
                first_day, attended_days, discharges = today, [], []
            if row["is_attended_status"]:
                attended_days.append(today)
            if row["discharge_date"] is not None:
                discharges.append(row["discharge_date"])
            result[row["appointment_id"]] = str(number)
    return result


@st.composite
def appointment_logs(draw):
    """A few clients, each with a handful of appointments; a short calendar gives same-day ties
    (where time, then appointment_id, decides the order), a long one gives gaps."""
    n_clients = draw(st.integers(1, 5))
    span = draw(st.sampled_from([15, 60, 420]))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=60, unique=True))
    rows = []
    base = dt.datetime(2025, 1, 1)
    for appointment_id in ids:
        offset = draw(st.integers(0, span))
        hour = draw(st.sampled_from([0, 9, 14]))
        at = base + dt.timedelta(days=offset, hours=hour)
        discharge = draw(st.one_of(st.none(), st.none(), st.integers(-10, span + 10)))
        rows.append({
            "appointment_id": str(appointment_id),  # '10' < '9': id order is not numeric order
            "client_id": f"C{draw(st.integers(1, n_clients))}",
            "appointment_at": at,
            "appointment_date": at.date(),
            "is_attended_status": draw(st.booleans()),
            "discharge_date": None if discharge is None else (base + dt.timedelta(days=discharge)).date(),
        })
    return rows


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=appointment_logs(), gap_days=st.sampled_from([1, 30, 90, 180]))
def test_derive_episode_ids_matches_reference_derivation(rows, gap_days):
    frame = pl.DataFrame(rows, schema={
        "appointment_id": pl.String, "client_id": pl.String, "appointment_at": pl.Datetime("us"),
        "appointment_date": pl.Date, "is_attended_status": pl.Boolean, "discharge_date": pl.Date,
    })
    derived = derive_episode_ids(frame, gap_days)
    assert derived.height == len(rows)
    assert dict(derived.iter_rows()) == reference_episode_ids(rows, gap_days)
