"""The overdispersion allowance on the attendance-by-clinic funnel
(docs/metrics/attendance.md#overdispersion).

A small log is built in code and every number is worked out by hand in the comments: p0, each
clinic's z, the Winsorised dispersion φ, the between-clinic variance τ², the adjusted z, limits and
flags. Hypothesis properties check the estimate against a plain-Python reading of the rule on any
log, and that widening never makes a flag worse. The extract date is 2026-06-30 (conftest.EXTRACT).
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from dashboard_fixtures import dashboard_on, sample_db  # noqa: F401
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from conftest import Warehouse, appointment
from pipelines.queries import MetricsReader, Scope, report_sql
from pipelines.warehouse import model_sql

TOLERANCE = 1e-9
SEVERITY = {"insufficient": 0, "none": 0, "alert": 1, "alarm": 2}

# === the hand-computed log ========================================================================
#
# clinic    attended or missed  no-shows d   rate    z = (rate − p0) / s
#   K01-K10        25            0, 1, 3, 4, 5, 5, 6, 7, 7, 12     (d − 5) / 2
#   K11             5            1                                  (below the minimum caseload of 10)
#
# p0 = (50 + 1) / (250 + 5) = 51/255 = 0.2.  For K01-K10: s² = 0.2 × 0.8 / 25 = 0.0064, s = 0.08,
# so z = (d/25 − 0.2) / 0.08 = (d − 5) / 2:  -2.5, -2, -1, -0.5, 0, 0, 0.5, 1, 1, 3.5.
# Eligible: the ten with 25 (K11 has 5): I = 10, k = ⌊0.1 × 10⌋ = 1.
# Winsorised: K01's -2.5 becomes the 2nd smallest, -2; K10's 3.5 becomes the 2nd largest, 1.
# Winsorised z²: 4 + 4 + 1 + 0.25 + 0 + 0 + 0.25 + 1 + 1 + 1 = 12.5;  φ = 12.5 / 10 = 1.25.
# I·φ = 12.5 > I − 1 = 9, and every w = 1/s² = 156.25:
#   Σw = 1562.5;  Σw² / Σw = 10 × 156.25² / 1562.5 = 156.25;  τ² = (12.5 − 9) / (1562.5 − 156.25)
#      = 3.5 / 1406.25 = 14/5625 ≈ 0.00249
# s² + τ² = 36/5625 + 14/5625 = 2/225, √ = √2/15 ≈ 0.0943:
#   adjusted z = (d/25 − 0.2) · 15/√2;  K10: 0.28 × 15/√2 ≈ 2.970
#   raw limits at 25:      limit95 = 0.2 + 1.96 × 0.08 = 0.3568,   limit998 = 0.2 + 3.09 × 0.08 = 0.4472
#   adjusted limits at 25: 0.2 + 1.96 × √2/15 ≈ 0.3848,            0.2 + 3.09 × √2/15 ≈ 0.4913
#   K10's 12/25 = 0.48 is above the raw 99.8% limit (alarm) but below the adjusted one (alert);
#   no other clinic reaches the raw 95% limit (d = 9 would).
NO_SHOWS = {"K01": 0, "K02": 1, "K03": 3, "K04": 4, "K05": 5, "K06": 5, "K07": 6, "K08": 7, "K09": 7, "K10": 12}
P0, TAU2 = 0.2, 14 / 5625
ADJUSTED_S = math.sqrt(2) / 15


def clinic_log(clinic: str, kept_or_missed: int, no_shows: int) -> list[dict[str, object]]:
    """One client's weekly appointments at `clinic` from 2026-01-05, the first `no_shows` missed."""
    first = dt.date(2026, 1, 5)
    return [appointment(f"{clinic}-{k:02d}", (first + dt.timedelta(days=7 * k)).isoformat(),
                        "dna" if k < no_shows else "attended", client=f"{clinic}-C", clinic=clinic)
            for k in range(kept_or_missed)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    rows = [row for clinic, dna in NO_SHOWS.items() for row in clinic_log(clinic, 25, dna)]
    rows += clinic_log("K11", 5, 1)
    warehouse = Warehouse(tmp_path_factory.mktemp("attendance_overdispersion"))
    warehouse.load(rows)
    return warehouse


@pytest.fixture(scope="module")
def clinics(warehouse: Warehouse) -> dict[str, dict]:
    reader = MetricsReader.open(warehouse.path)
    try:
        return {
            "all": {r["clinic_id"]: r for r in reader.run("attendance_by_clinic", Scope()).iter_rows(named=True)},
            "five": {r["clinic_id"]: r for r in reader.run(
                "attendance_by_clinic", Scope(clinics=("K01", "K02", "K03", "K09", "K10"))).iter_rows(named=True)},
            "limits": {r["caseload"]: r for r in reader.run("attendance_funnel_limits", Scope()).iter_rows(named=True)},
        }
    finally:
        reader.close()


def test_clinic_z_is_the_rate_against_p0_in_binomial_standard_errors(clinics):
    rows = clinics["all"]
    for clinic, dna in NO_SHOWS.items():
        assert rows[clinic]["p0"] == pytest.approx(P0, abs=TOLERANCE)
        assert rows[clinic]["z"] == pytest.approx((dna - 5) / 2, abs=TOLERANCE), clinic
    # K11: 1 of 5 is exactly p0
    assert rows["K11"]["z"] == pytest.approx(0, abs=TOLERANCE)


def test_overdispersion_is_the_hand_computed_winsorised_phi_and_tau2(clinics):
    for row in clinics["all"].values():  # the same on every row
        assert row["eligible"] == 10  # K11 is below the minimum caseload
        assert row["phi"] == pytest.approx(1.25, abs=TOLERANCE)
        assert row["tau2"] == pytest.approx(TAU2, abs=TOLERANCE)


def test_adjusted_z_and_limits_are_widened_by_tau2(clinics):
    rows = clinics["all"]
    for clinic, dna in NO_SHOWS.items():
        assert rows[clinic]["adjusted_z"] == pytest.approx((dna / 25 - P0) / ADJUSTED_S, abs=TOLERANCE), clinic
        assert rows[clinic]["adjusted_limit95"] == pytest.approx(P0 + 1.96 * ADJUSTED_S, abs=TOLERANCE)
        assert rows[clinic]["adjusted_limit998"] == pytest.approx(P0 + 3.09 * ADJUSTED_S, abs=TOLERANCE)
    assert rows["K10"]["adjusted_z"] == pytest.approx(2.9698, abs=1e-4)


def test_adjusted_flag_follows_the_widened_limits_not_the_binomial_ones(clinics):
    rows = clinics["all"]
    assert (rows["K10"]["flag"], rows["K10"]["adjusted_flag"]) == ("alarm", "alert")
    assert {c: (r["flag"], r["adjusted_flag"]) for c, r in rows.items() if c not in ("K10", "K11")} == \
        dict.fromkeys([c for c in NO_SHOWS if c != "K10"], ("none", "none"))


def test_adjusted_flag_is_insufficient_below_the_minimum_caseload(clinics):
    k11 = clinics["all"]["K11"]
    assert (k11["denominator"], k11["flag"], k11["adjusted_flag"]) == (5, "insufficient", "insufficient")


def test_fewer_than_ten_eligible_clinics_give_no_phi_and_no_widening(clinics):
    # five clinics selected: I = 5 < 10, so φ is null, τ² = 0 and the adjusted z and flag are the raw ones
    rows = clinics["five"]
    assert sorted(rows) == ["K01", "K02", "K03", "K09", "K10"]
    for row in rows.values():
        assert (row["eligible"], row["phi"], row["tau2"]) == (5, None, 0.0)
        assert (row["adjusted_z"], row["adjusted_flag"]) == (row["z"], row["flag"])
        assert (row["adjusted_limit95"], row["adjusted_limit998"]) == (row["limit95"], row["limit998"])


def test_funnel_limit_curves_widen_by_the_same_tau2_as_the_clinic_flags(clinics):
    # the curves a clinic is drawn against are the limits its adjusted flag was decided by
    at_25 = clinics["limits"][25]
    k10 = clinics["all"]["K10"]
    assert (at_25["adjusted_limit95"], at_25["adjusted_limit998"]) == (k10["adjusted_limit95"],
                                                                       k10["adjusted_limit998"])
    assert (at_25["limit95"], at_25["limit998"]) == (k10["limit95"], k10["limit998"])
    for row in clinics["limits"].values():
        assert row["adjusted_limit998"] == pytest.approx(
            P0 + 3.09 * math.sqrt(P0 * (1 - P0) / row["caseload"] + TAU2), abs=TOLERANCE)


# === the Attendance page ==========================================================================


def captions(at: AppTest) -> list[str]:
    return [caption.value for caption in at.caption]


def test_variation_toggle_is_on_when_phi_is_known_and_says_the_limits_are_widened(warehouse, monkeypatch):
    at = dashboard_on(warehouse.path, monkeypatch, "attendance")
    toggle = at.toggle(key="widen_clinic_limits")
    assert (toggle.label, toggle.value) == ("Allow for variation between clinics", True)
    assert ("Clinics differ more than chance alone explains (φ = 1.25 from 10 clinics): limits widened by "
            "τ² = 0.0025.") in captions(at)
    table = at.dataframe[0].value
    assert table[["clinic_id", "flag", "adjusted_flag"]].head(1).values.tolist() == [["K10", "alarm", "alert"]]
    toggle.set_value(False)
    at.run()
    assert ("Clinics differ more than chance alone explains (φ = 1.25 from 10 clinics), but the allowance is off: "
            "limits and adjusted flags allow for chance only, not for τ² = 0.0025.") in captions(at)


def test_variation_toggle_is_off_with_fewer_than_ten_clinics_and_says_there_is_no_estimate(sample_db,  # noqa: F811
                                                                                            monkeypatch):
    at = dashboard_on(sample_db, monkeypatch, "attendance")
    assert at.toggle(key="widen_clinic_limits").value is False
    assert ("Fewer than 10 clinics have 10 or more attended or missed appointments to judge how much clinics differ "
            "(5 here): no estimate, limits not widened.") in captions(at)
    assert {"flag", "adjusted_flag"} <= set(at.dataframe[0].value.columns)


def test_widened_funnel_draws_the_adjusted_limits_and_colours_points_by_the_adjusted_flag(warehouse):
    from dashboard import charts

    reader = MetricsReader.open(warehouse.path)
    try:
        units, limits = reader.run("attendance_by_clinic", Scope()), reader.run("attendance_funnel_limits", Scope())
    finally:
        reader.close()
    spec = charts.widened_funnel_plot(units, limits, unit="clinic").to_dict()
    curves, points = (spec["datasets"][layer["data"]["name"]] for layer in (spec["layer"][0], spec["layer"][2]))
    at_25 = sorted((c["limit"], c["value"]) for c in curves if c["caseload"] == 25)
    assert at_25 == [("limit95", pytest.approx(P0 + 1.96 * ADJUSTED_S)),
                     ("limit998", pytest.approx(P0 + 3.09 * ADJUSTED_S))]
    assert {p["clinic_id"]: p["flag"] for p in points}["K10"] == "alert"  # alarm on the binomial limits


# === any log: the estimate read in plain Python, and widening never worsens a flag ==================


def clinic_funnel(counts: list[tuple[int, int]], min_caseload: int) -> tuple[list[dict], list[dict]]:
    """attendance_by_clinic and attendance_funnel_limits over an appointments table holding one
    clinic per (attended or missed, no-shows) pair: the reports as a build stores them, in memory."""
    con = duckdb.connect()
    try:
        for macro in ("macros/in_scope", "macros/overdispersion"):
            con.execute(model_sql(macro))
        con.execute("CREATE TABLE settings AS SELECT DATE '2026-06-30' AS extract_date, ?::INTEGER AS min_caseload",
                    [min_caseload])
        con.execute("CREATE TABLE appointments (clinic_id VARCHAR, therapist_id VARCHAR, session_type VARCHAR, "
                    "appointment_date TIMESTAMP, status VARCHAR)")
        con.executemany("INSERT INTO appointments VALUES (?, 'T1', 'treatment', TIMESTAMP '2026-03-02', ?)",
                        [(f"K{c:02d}", "dna" if k < dna else "attended")
                         for c, (n, dna) in enumerate(counts) for k in range(n)])
        results = []
        for report in ("attendance_by_clinic", "attendance_funnel_limits"):
            sql, wanted = report_sql(report)
            cursor = con.execute(sql, dict.fromkeys(wanted))
            columns = [d[0] for d in cursor.description]
            results.append([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
        return results[0], results[1]
    finally:
        con.close()


def plain_overdispersion(counts: list[tuple[int, int]], min_caseload: int) -> tuple[int, float | None, float]:
    """(I, φ, τ²) read straight from the rule, with no SQL."""
    p0 = sum(d for _, d in counts) / sum(n for n, _ in counts)
    eligible = [(n, d) for n, d in counts if n >= min_caseload and p0 * (1 - p0) > 0]
    if len(eligible) < 10:
        return len(eligible), None, 0.0
    zs = sorted((d / n - p0) / math.sqrt(p0 * (1 - p0) / n) for n, d in eligible)
    k = math.floor(0.1 * len(zs))
    low, high = zs[k], zs[len(zs) - 1 - k]
    phi = sum(min(max(z, low), high) ** 2 for z in zs) / len(zs)
    ws = [n / (p0 * (1 - p0)) for n, _ in eligible]
    i = len(eligible)
    tau2 = (i * phi - (i - 1)) / (sum(ws) - sum(w * w for w in ws) / sum(ws)) if i * phi > i - 1 else 0.0
    return i, phi, tau2


# up to 16 clinics of 1 to 60 appointments attended or missed, a few of them below the caseload
logs = st.lists(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
                min_size=1, max_size=16)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs, st.sampled_from([1, 10, 30]))
def test_phi_and_tau2_equal_a_plain_reading_of_the_rule_on_any_log(counts, min_caseload):
    rows, _ = clinic_funnel(counts, min_caseload)
    eligible, phi, tau2 = plain_overdispersion(counts, min_caseload)
    assert rows[0]["eligible"] == eligible
    assert rows[0]["phi"] == (None if phi is None else pytest.approx(phi, rel=TOLERANCE, abs=TOLERANCE))
    assert rows[0]["tau2"] == pytest.approx(tau2, rel=1e-7, abs=TOLERANCE)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs, st.sampled_from([1, 10, 30]))
def test_the_allowance_never_makes_a_clinic_look_worse(counts, min_caseload):
    rows, limits = clinic_funnel(counts, min_caseload)
    for row in rows:
        assert row["tau2"] >= 0
        assert SEVERITY[row["adjusted_flag"]] <= SEVERITY[row["flag"]], row
        if row["z"] is not None:
            assert abs(row["adjusted_z"]) <= abs(row["z"]) + TOLERANCE
    for point in limits:
        assert point["adjusted_limit95"] >= point["limit95"] and point["adjusted_limit998"] >= point["limit998"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs)
def test_with_no_overdispersion_the_adjusted_z_and_flag_are_the_raw_ones(counts):
    # fewer than 10 clinics: τ² = 0, so nothing is widened, to the last bit
    rows, limits = clinic_funnel(counts[:9], 1)
    for row in rows:
        assert (row["phi"], row["tau2"]) == (None, 0.0)
        assert (row["adjusted_z"], row["adjusted_flag"]) == (row["z"], row["flag"])
    for point in limits:
        assert (point["adjusted_limit95"], point["adjusted_limit998"]) == (point["limit95"], point["limit998"])
