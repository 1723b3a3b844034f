"""Appointment-level attendance (README "Attendance"): the no-show rate, single-appointment
clients and the clinic funnel. One test per rule, on a log built in the test."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from dashboard_fixtures import APP, sample_db  # noqa: F401
from streamlit.testing.v1 import AppTest

from conftest import Warehouse, appointment
from dashboard.data import DB_ENV
from pipelines.queries import MetricsReader, Scope

# extract date 2026-06-30 (conftest.EXTRACT)
LOG = [
    # K1: 3 attended, 1 no-show, 1 cancelled by the client, 1 by the clinic, 1 never recorded
    appointment("A1", "2026-01-05", client="C1"),
    appointment("A2", "2026-01-12", client="C1"),
    appointment("A3", "2026-01-19", "dna", client="C1"),
    appointment("A4", "2026-02-02", client="C2"),
    appointment("A5", "2026-02-09", "cancelled_client", client="C3"),
    appointment("A6", "2026-02-16", "cancelled_clinic", client="C4", therapist="T2"),
    appointment("A7", "2026-03-02", "scheduled", client="C4", therapist="T2"),
    # booked after the extract date: not a past appointment (E1 has no past one at all)
    appointment("A8", "2026-07-06", "scheduled", client="C2"),
    appointment("A9", "2026-07-13", "scheduled", client="E1"),
    # K2: one client, one appointment, missed
    appointment("B1", "2026-04-06", "dna", client="D1", clinic="K2"),
]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory):
    warehouse = Warehouse(tmp_path_factory.mktemp("attendance"))
    warehouse.load(LOG)
    reader = MetricsReader.open(warehouse.path)
    yield reader
    reader.close()


def summary(reader: MetricsReader, scope: Scope = Scope()) -> dict:
    return reader.run("attendance_summary", scope).row(0, named=True)


def test_no_show_rate_is_dna_over_attended_or_missed(reader):
    s = summary(reader)
    assert (s["attended"], s["dna"], s["numerator"], s["denominator"]) == (3, 2, 2, 5)
    assert s["rate"] == pytest.approx(2 / 5)


def test_cancellations_and_unrecorded_past_bookings_are_counted_apart(reader):
    s = summary(reader)
    assert (s["cancelled_client"], s["cancelled_clinic"], s["unrecorded"]) == (1, 1, 1)
    assert s["appointments"] == 8  # every past appointment, whatever its status


def test_appointments_after_the_extract_date_are_booked_ahead_not_counted(reader):
    s = summary(reader)
    assert s["booked_ahead"] == 2 and s["last_date"].isoformat() == "2026-04-06"


def test_single_appointment_clients_have_exactly_one_past_appointment(reader):
    # C2 has one past appointment (and one booked ahead), C3 one, D1 one; C1 three, C4 two.
    s = summary(reader)
    assert (s["clients"], s["single_appointment_clients"], s["single_attended_clients"]) == (5, 3, 1)


def test_single_appointment_clients_unfiltered_equal_the_count_over_every_clinic(reader):
    # Unfiltered, the per-client counts come from the episodes the load built; with any filter,
    # from the appointments in scope. Selecting every clinic takes the second way.
    keys = ("clients", "single_appointment_clients", "single_attended_clients", "appointments", "numerator")
    unfiltered, every_clinic = summary(reader), summary(reader, Scope(clinics=("K1", "K2")))
    assert {k: unfiltered[k] for k in keys} == {k: every_clinic[k] for k in keys}


def test_attendance_filters_select_appointments_by_their_own_clinic_therapist_and_date(reader):
    assert summary(reader, Scope(clinics=("K2",)))["appointments"] == 1
    assert summary(reader, Scope(therapists=("T2",)))["appointments"] == 2
    in_january = summary(reader, Scope(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 1, 31)))
    assert (in_january["appointments"], in_january["dna"]) == (3, 1)


def test_clinic_rows_carry_counts_rate_and_limits_at_their_own_denominator(reader):
    clinics = {r["clinic_id"]: r for r in reader.run("attendance_by_clinic", Scope()).iter_rows(named=True)}
    assert list(clinics) == ["K1", "K2"]
    k1 = clinics["K1"]
    assert (k1["appointments"], k1["numerator"], k1["denominator"], k1["unrecorded"]) == (7, 1, 4, 1)
    p0 = 2 / 5  # over both clinics
    assert k1["rate"] == pytest.approx(1 / 4) and k1["p0"] == pytest.approx(p0)
    assert k1["limit95"] == pytest.approx(p0 + 1.96 * math.sqrt(p0 * (1 - p0) / 4))
    assert k1["limit998"] == pytest.approx(p0 + 3.09 * math.sqrt(p0 * (1 - p0) / 4))


def test_clinic_below_min_caseload_is_insufficient_not_flagged(reader):
    flags = dict(reader.run("attendance_by_clinic", Scope()).select("clinic_id", "flag").iter_rows())
    assert flags == {"K1": "insufficient", "K2": "insufficient"}  # min caseload 10
    flags = dict(reader.run("attendance_by_clinic", Scope(), min_caseload=1).select("clinic_id", "flag").iter_rows())
    # K2's 1 of 1 (100%) against p0 = 2/5: its limit95 at n = 1 is 0.4 + 1.96·0.49 = 1.36, so one
    # missed appointment is no signal
    assert flags["K2"] == "none"


def test_clinic_far_above_the_benchmark_is_alarm(tmp_path: Path):
    rows = [appointment(f"G{i}", f"2026-03-{1 + i % 28:02d}", client=f"G{i}", clinic="GOOD") for i in range(200)]
    rows += [appointment(f"M{i}", f"2026-03-{1 + i % 28:02d}", "dna" if i < 25 else "attended",
                         client=f"M{i}", clinic="MISSED") for i in range(50)]
    warehouse = Warehouse(tmp_path)
    warehouse.load(rows)
    reader = MetricsReader.open(warehouse.path)
    try:
        flags = dict(reader.run("attendance_by_clinic", Scope()).select("clinic_id", "flag").iter_rows())
        limits = reader.run("attendance_funnel_limits", Scope())
    finally:
        reader.close()
    assert flags == {"GOOD": "none", "MISSED": "alarm"}  # 50% against p0 = 10%
    assert limits["caseload"].min() == 1 and limits["caseload"].max() == 200
    assert limits["caseload"].is_sorted() and limits["caseload"].n_unique() == limits.height


def test_clinic_funnel_plot_names_clinics_in_its_tooltips_titles_and_selection(reader):
    from dashboard import charts

    spec = charts.funnel_plot(reader.run("attendance_by_clinic", Scope()), reader.run("attendance_funnel_limits", Scope()),
                              unit="clinic", caseload_title="Appointments attended or missed",
                              rate_title="No-show rate").to_dict()
    text = str(spec)
    assert "'clinic_id'" in text and "therapist" not in text
    assert "No-show rate" in text and "Appointments attended or missed" in text
    assert "'name': 'clinic'" in text  # the click selection


def test_attendance_page_draws_the_clinic_funnel_and_says_when_nothing_matches(sample_db, monkeypatch):  # noqa: F811
    monkeypatch.setenv(DB_ENV, str(sample_db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/attendance.py")
    at.run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["No-show rate", "Clients with a single appointment", "Appointments",
                                            "Cancelled"]
    reader = MetricsReader.open(sample_db)
    try:
        expected = reader.run("attendance_summary", Scope()).row(0, named=True)
    finally:
        reader.close()
    assert at.metric[2].value == f"{expected['appointments']:,}"
    assert at.caption[1].value == f"{expected['booked_ahead']:,} appointments are booked after the extract date."
    saturday = dt.date(2021, 7, 10)  # the sample books no appointment at a weekend
    at.date_input(key="filter_from").set_value(saturday)
    at.run()
    at.date_input(key="filter_to").set_value(saturday)
    at.run()
    assert any("No appointments dated on or before the extract date match" in i.value for i in at.info)
    assert not at.metric


def test_both_ways_of_counting_clients_agree_on_generated_data(sample_like_warehouse: Warehouse):
    reader = MetricsReader.open(sample_like_warehouse.path)
    try:
        unfiltered = summary(reader)
        clinics = tuple(reader.run("attendance_by_clinic", Scope())["clinic_id"])
        every_clinic = summary(reader, Scope(clinics=clinics))
    finally:
        reader.close()
    assert unfiltered["single_appointment_clients"] > 0
    assert unfiltered == every_clinic
