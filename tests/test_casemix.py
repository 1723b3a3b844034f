"""The case-mix adjusted therapist flag (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag).

A small service is built in code and every number the report gives is worked out by hand in the
comments: the strata rates, each therapist's expected count E and variance V, the ratio O/E and z,
the Winsorised dispersion φ, the between-therapist variance τ² and the adjusted z. The stratum rules
get one test each, and a hypothesis property checks that with one stratum and no overdispersion
the adjusted z is the raw funnel's z-score. The extract date E is 2026-06-30 (conftest.EXTRACT).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXTRACT, Warehouse, appointment, report, run_cli
from pipelines.queries import Scope, report_sql
from pipelines.warehouse import model_sql

SCHEMA_PATH = Path(__file__).with_name("metrics_report.schema.json")
FIRST = "2026-01-05"
TOLERANCE = 1e-9


def plus(date: str, days: int) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


def closed_episode(client: str, therapist: str, dropout: bool, *, first: str = FIRST, episode: str = "1",
                   clinic: str = "K1", session_type: str | None = "treatment",
                   phq9: list[float | None] = ()) -> list[dict[str, object]]:
    """A closed episode: a dropout is one session discharged that day as `dropout`; any other is two
    sessions a week apart discharged as `planned`. phq9 gives the score at each session, by position."""
    when = [first] if dropout else [first, plus(first, 7)]
    return [
        appointment(f"{client}/{episode}/{k + 1}", date, client=client, therapist=therapist, clinic=clinic,
                    episode_id=episode, session_type=session_type, discharge_date=when[-1],
                    discharge_reason="dropout" if dropout else "planned",
                    phq9=phq9[k] if k < len(phq9) else None)
        for k, date in enumerate(when)
    ]


def caseload(therapist: str, episodes: int, dropouts: int, *, session_type: str, phq9: float) -> list[dict]:
    """`episodes` closed episodes of one stratum for one therapist, the first `dropouts` of them dropouts."""
    return [row for k in range(episodes)
            for row in closed_episode(f"{therapist}-{k:02d}", therapist, k < dropouts,
                                      session_type=session_type, phq9=[phq9, phq9])]


# === the hand-computed service =====================================================================
#
# Two strata, every client new:
#   A = (assessment, severe, new): first PHQ-9 22      B = (treatment, minimal, new): first PHQ-9 5
#
# therapist  stratum  closed  dropouts O
#   T01-T05     A       10    2, 4, 5, 6, 8
#   T06-T10     B       10    0, 0, 1, 1, 3
#   T11         A        2    1                (below the minimum caseload of 10)
#
# Strata rates over the benchmark population (every therapist):
#   p_A = (2+4+5+6+8+1) / 52 = 26/52 = 0.5        p_B = (0+0+1+1+3) / 50 = 0.1
#   p0  = 31 / 102 (the raw funnel's benchmark)
# Per therapist, E = Σ p_s and V = Σ p_s·(1 − p_s):
#   T01-T05: E = 10 × 0.5 = 5,  V = 10 × 0.25 = 2.5     z = (O − 5) / √2.5
#   T06-T10: E = 10 × 0.1 = 1,  V = 10 × 0.09 = 0.9     z = (O − 1) / √0.9
#   T11:     E = 1,  V = 0.5,  z = 0
# Eligible: the ten with 10 closed episodes and V > 0 (T11 has 2): I = 10, k = ⌊0.1 × 10⌋ = 1.
# Sorted z: -3/√2.5 (T01), -1/√0.9 (T06, T07), -1/√2.5 (T02), 0 (T03, T08, T09), 1/√2.5 (T04),
#           3/√2.5 (T05), 2/√0.9 (T10).
# Winsorised: T01's z becomes the 2nd smallest, -1/√0.9; T10's becomes the 2nd largest, 3/√2.5.
# Winsorised z²: 3 × 1/0.9 + 2 × 1/2.5 + 2 × 9/2.5 = 10/3 + 0.8 + 7.2 = 34/3;  φ = 34/30 = 17/15.
# I·φ = 34/3 > I − 1 = 9, so with w = E²/V (A: 25/2.5 = 10, B: 1/0.9 = 10/9):
#   Σw = 5 × 10 + 5 × 10/9 = 500/9;  Σw² = 5 × 100 + 5 × 100/81 = 41000/81;  Σw²/Σw = 82/9
#   τ² = (34/3 − 9) / (500/9 − 82/9) = (7/3) / (418/9) = 21/418 ≈ 0.0502
# adjusted z = (O/E − 1) / √(V/E² + τ²): A: (O/5 − 1) / √(0.1 + 21/418); B: (O − 1) / √(0.9 + 21/418).
#   T05: 0.6 / √0.1502 ≈ 1.548: none, though the raw funnel says alarm (rate 0.8 > limit998 ≈ 0.753):
#        its severe, assessment-first clients drop out at the service's rate for such clients.
#   T10: 2 / √0.9502 ≈ 2.052: alert, though its raw rate 0.3 is below p0: its clients are the
#        easiest, and three times as many of them dropped out as expected.
P_A, P_B, TAU2 = 0.5, 0.1, 21 / 418
DROPOUTS = {"T01": 2, "T02": 4, "T03": 5, "T04": 6, "T05": 8, "T06": 0, "T07": 0, "T08": 1, "T09": 1, "T10": 3}
STRATUM_A = ("T01", "T02", "T03", "T04", "T05")


def hand_computed(therapist: str) -> dict[str, float]:
    episodes, p = (2, P_A) if therapist == "T11" else (10, P_A if therapist in STRATUM_A else P_B)
    observed = 1 if therapist == "T11" else DROPOUTS[therapist]
    expected, variance = episodes * p, episodes * p * (1 - p)
    return {"expected": expected, "ratio": observed / expected, "z": (observed - expected) / math.sqrt(variance),
            "adjusted_z": (observed / expected - 1) / math.sqrt(variance / expected ** 2 + TAU2)}


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Warehouse:
    rows = [row for t, dropouts in DROPOUTS.items()
            for row in caseload(t, 10, dropouts, session_type="assessment" if t in STRATUM_A else "treatment",
                                phq9=22 if t in STRATUM_A else 5)]
    rows += caseload("T11", 2, 1, session_type="assessment", phq9=22)
    warehouse = Warehouse(tmp_path_factory.mktemp("casemix"))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


@pytest.fixture(scope="module")
def service_report(service) -> dict:
    return report(service)


def by_therapist(result: dict) -> dict[str, dict]:
    return {t["therapist_id"]: t for t in result["therapists"]}


def test_expected_ratio_and_z_are_the_hand_computed_indirect_standardisation(service_report):
    therapists = by_therapist(service_report)
    assert sorted(therapists) == [*DROPOUTS, "T11"]
    for therapist, listed in therapists.items():
        for key, value in hand_computed(therapist).items():
            assert listed[key] == pytest.approx(value, abs=TOLERANCE, rel=TOLERANCE), (therapist, key)


def test_overdispersion_is_the_hand_computed_winsorised_phi_and_tau2(service_report):
    adjustment = service_report["therapist_adjustment"]
    assert adjustment["eligible"] == 10  # T11 is below the minimum caseload
    assert adjustment["phi"] == pytest.approx(17 / 15, abs=TOLERANCE)
    assert adjustment["tau2"] == pytest.approx(21 / 418, abs=TOLERANCE)


def test_adjusted_flag_follows_adjusted_z_not_the_raw_rate(service_report):
    therapists = by_therapist(service_report)
    assert (therapists["T05"]["flag"], therapists["T05"]["adjusted_flag"]) == ("alarm", "none")
    assert (therapists["T10"]["flag"], therapists["T10"]["adjusted_flag"]) == ("none", "alert")
    assert {t: therapists[t]["adjusted_flag"] for t in therapists if t not in ("T05", "T10", "T11")} == \
        dict.fromkeys(["T01", "T02", "T03", "T04", "T06", "T07", "T08", "T09"], "none")


def test_adjusted_flag_is_insufficient_below_the_minimum_caseload(service_report):
    t11 = by_therapist(service_report)["T11"]
    assert (t11["denominator"], t11["flag"], t11["adjusted_flag"]) == (2, "insufficient", "insufficient")


def test_therapist_filter_changes_neither_the_strata_rates_nor_the_overdispersion(service, service_report):
    alone = report(service, Scope(therapists=("T05",)))
    assert alone["therapists"] == [by_therapist(service_report)["T05"]]
    assert alone["therapist_adjustment"] == service_report["therapist_adjustment"]


def test_fewer_than_ten_eligible_therapists_give_no_phi_and_no_widening(service):
    # assessment-first episodes only: T01-T05 are eligible (I = 5 < 10), so τ² = 0 and the
    # adjusted z is the plain (O/E − 1) / √(V/E²) = (O − E) / √V = z
    assessments = report(service, Scope(session_types=("assessment",)))
    assert assessments["therapist_adjustment"] == {"eligible": 5, "phi": None, "tau2": 0.0}
    for listed in assessments["therapists"]:
        assert listed["adjusted_z"] == pytest.approx(listed["z"], abs=TOLERANCE)


def test_nothing_in_scope_leaves_nobody_eligible(service):
    empty = report(service, Scope(from_date=dt.date(2026, 3, 1)))
    assert empty["therapist_adjustment"] == {"eligible": 0, "phi": None, "tau2": 0.0}


def test_metrics_cli_json_carries_the_adjusted_keys_and_validates(service, service_report):
    printed = run_cli("metrics", "--db", str(service.path), "--format", "json")
    assert printed.returncode == 0, printed.stderr
    result = json.loads(printed.stdout)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert [e.message for e in validator.iter_errors(result)] == []
    assert {"expected", "ratio", "z", "adjusted_z", "adjusted_flag"} <= set(result["therapists"][0])
    assert result["therapist_adjustment"] == service_report["therapist_adjustment"]
    assert result["therapists"] == service_report["therapists"]


def test_metrics_on_a_warehouse_built_before_the_case_mix_columns_names_the_rebuild(tmp_path):
    # A build of layout 2 has no stratum columns: the funnel cannot be read from it, so a reader
    # refuses it in one line instead of failing inside the query.
    older = Warehouse(tmp_path)
    older.load(caseload("T01", 10, 2, session_type="assessment", phq9=22), extract_date=EXTRACT)
    con = duckdb.connect(str(older.path))
    try:
        con.execute("UPDATE settings SET schema_version = 2, tool_version = '0.9'")
        for column in ("case_mix_type", "baseline_band", "client_history"):
            con.execute(f"ALTER TABLE single_session DROP COLUMN {column}")
    finally:
        con.close()
    result = run_cli("metrics", "--db", str(older.path), "--format", "json")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"clinic-outcomes rebuild --db {older.path}" in result.stderr


# === the stratum rules ==============================================================================


@pytest.fixture(scope="module")
def strata(tmp_path_factory) -> Warehouse:
    rows = [
        *closed_episode("U1", "TS", True, session_type=None, phq9=[]),  # no type, no PHQ-9
        *closed_episode("P9", "TS", False, phq9=[9, 4]),
        *closed_episode("P10", "TS", False, phq9=[10, 4]),
        *closed_episode("P19", "TS", False, phq9=[19, 4]),
        *closed_episode("P20", "TS", False, phq9=[20, 4]),
        *closed_episode("PL", "TS", False, phq9=[None, 22]),  # first scored at session 2
        # R: an earlier episode at K1, then one at K2; Q: an earlier episode that never started
        *closed_episode("R", "TS", True, first="2025-01-06", clinic="K1", session_type="assessment"),
        *closed_episode("R", "TA", True, episode="2", clinic="K2"),
        appointment("Q/1/1", "2025-01-06", status="dna", client="Q", therapist="TS", episode_id="1"),
        *closed_episode("Q", "TS", False, episode="2"),
        # SD: two episodes starting the same day, neither earlier than the other
        *closed_episode("SD", "TS", False, episode="1"),
        *closed_episode("SD", "TS", True, episode="2"),
        # K2's other clients, all new: one dropout among four
        *closed_episode("N1", "TA", False, clinic="K2"),
        *closed_episode("N2", "TB", True, clinic="K2"),
        *closed_episode("N3", "TB", False, clinic="K2"),
        *closed_episode("N4", "TB", False, clinic="K2"),
    ]
    warehouse = Warehouse(tmp_path_factory.mktemp("strata"))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


def stratum(warehouse: Warehouse, client: str, episode: str = "1") -> tuple[str, str, str]:
    return warehouse.query(
        "SELECT case_mix_type, baseline_band, client_history FROM single_session "
        "WHERE client_id = ? AND episode_id = ?", [client, episode]).row(0)


def test_first_session_type_is_unknown_when_missing(strata):
    assert stratum(strata, "U1")[0] == "unknown"


def test_baseline_band_is_missing_without_a_phq9_score(strata):
    assert stratum(strata, "U1")[1] == "missing"


@pytest.mark.parametrize(("client", "band"), [("P9", "minimal"), ("P10", "moderate"), ("P19", "moderate"),
                                              ("P20", "severe")])
def test_baseline_band_boundaries_9_10_19_20(strata, client, band):
    assert stratum(strata, client)[1] == band


def test_baseline_band_reads_the_first_phq9_score_even_after_session_1(strata):
    assert stratum(strata, "PL")[1] == "severe"


def test_client_with_an_earlier_started_episode_is_returning(strata):
    assert stratum(strata, "R", "1")[2] == "new"
    assert stratum(strata, "R", "2")[2] == "returning"


def test_an_earlier_episode_that_never_started_does_not_make_a_client_returning(strata):
    assert stratum(strata, "Q", "2")[2] == "new"


def test_two_episodes_starting_the_same_day_are_both_new(strata):
    assert (stratum(strata, "SD", "1")[2], stratum(strata, "SD", "2")[2]) == ("new", "new")


def test_returning_is_decided_on_the_whole_warehouse_even_when_a_filter_excludes_the_earlier_episode(strata):
    # Within K2: R/2 is returning (a dropout): p_returning = 1/1; N1-N4 new, one dropout: p_new = 1/4.
    # TA holds R/2 and N1: O = 1, E = 1 + 0.25 = 1.25, V = 0 + 0.25 × 0.75 = 0.1875.
    # (Had the K2 filter hidden R's first episode, all five would be new, p = 2/5, and E = 0.8.)
    therapists = by_therapist(report(strata, Scope(clinics=("K2",))))
    assert therapists["TA"]["expected"] == pytest.approx(1.25, abs=TOLERANCE)
    assert therapists["TA"]["z"] == pytest.approx((1 - 1.25) / math.sqrt(0.1875), abs=TOLERANCE)


# === one stratum, no overdispersion: the adjusted z is the raw z-score ===============================


def one_stratum_funnel(caseloads: list[tuple[int, int]], min_caseload: int = 10) -> list[dict]:
    """The therapist funnel report over a single_session table of one stratum (every episode
    treatment, moderate, new), one therapist per (closed, dropouts) pair."""
    con = duckdb.connect()
    try:
        for macro in ("macros/in_scope", "macros/overdispersion", "macros/binomial_limit"):  # as a build stores them
            con.execute(model_sql(macro))
        con.execute("CREATE TABLE settings AS SELECT ?::INTEGER AS min_caseload", [min_caseload])
        con.execute("""CREATE TABLE single_session (
            therapist_id VARCHAR, clinic_id VARCHAR, first_session_type VARCHAR, first_attended_date DATE,
            is_closed BOOLEAN, is_single_session_dropout BOOLEAN,
            case_mix_type VARCHAR, baseline_band VARCHAR, client_history VARCHAR)""")
        con.executemany(
            "INSERT INTO single_session VALUES (?, 'K1', 'treatment', DATE '2026-01-05', true, ?, "
            "'treatment', 'moderate', 'new')",
            [(f"T{t:02d}", k < dropouts) for t, (closed, dropouts) in enumerate(caseloads) for k in range(closed)])
        sql, wanted = report_sql("therapist_funnel")
        params = {name: None for name in wanted}
        cursor = con.execute(sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
    finally:
        con.close()


caseloads = st.lists(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
                     min_size=1, max_size=9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caseloads)
def test_with_one_stratum_and_no_overdispersion_adjusted_z_is_the_raw_z_score(therapists):
    rows = one_stratum_funnel(therapists)
    p0 = sum(d for _, d in therapists) / sum(n for n, _ in therapists)
    for row, (closed, dropouts) in zip(rows, therapists, strict=True):
        assert (row["eligible"] < 10, row["phi"], row["tau2"]) == (True, None, 0.0)
        if p0 in (0.0, 1.0):  # no variation: no z, and nobody above the limits
            assert row["adjusted_z"] is None
            assert row["adjusted_flag"] == row["flag"]
            continue
        raw_z = (dropouts / closed - p0) / math.sqrt(p0 * (1 - p0) / closed)
        assert row["adjusted_z"] == pytest.approx(raw_z, abs=TOLERANCE, rel=TOLERANCE)
        if min(abs(raw_z - 1.96), abs(raw_z - 3.09)) > TOLERANCE:  # no limit hit exactly
            assert row["adjusted_flag"] == row["flag"]
