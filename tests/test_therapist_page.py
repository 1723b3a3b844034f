"""The Therapists page's reports and sentences (docs/dashboard.md#therapists): the overdispersion
allowance as a report parameter, the adjusted funnel's guide curves, and the case-mix report that
explains a flag, whose expected counts add up to the funnel's E. Numbers are worked out by hand on
the small service of tests/test_casemix.py (strata A and B, p_A = 0.5, p_B = 0.1, τ² = 21/418)."""

from __future__ import annotations

import math

import duckdb
import polars as pl
import pytest
from dashboard_fixtures import sample_db  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_casemix import TAU2, TOLERANCE, service  # noqa: F401 - the hand-computed service, a fixture

from dashboard.explain import case_mix_sentence, variation_sentence
from dashboard.literal import literal
from pipelines.queries import MetricsReader, Scope, report_sql
from pipelines.warehouse import model_sql

P0 = 31 / 102  # the raw benchmark of the small service


@pytest.fixture
def reader(service):  # noqa: F811
    opened = MetricsReader.open(service.path)
    yield opened
    opened.close()


# --- the overdispersion allowance ------------------------------------------------------------------


def test_overdispersion_allowance_off_gives_tau2_zero_and_adjusted_z_equal_to_z(reader):
    off = reader.run("therapist_funnel", allow_overdispersion=False)
    assert off["tau2"].to_list() == [0.0] * off.height
    assert off["phi"][0] == pytest.approx(17 / 15, abs=TOLERANCE)  # the estimate is still given
    for row in off.iter_rows(named=True):
        assert row["adjusted_z"] == pytest.approx(row["z"], abs=TOLERANCE)
    flags = dict(off.select("therapist_id", "adjusted_flag").iter_rows())
    # T10: z = 2/√0.9 = 2.108 > 1.96; T05: z = 3/√2.5 = 1.897, not above 1.96
    assert (flags["T10"], flags["T05"]) == ("alert", "none")


@pytest.mark.parametrize("allow", [None, True])
def test_overdispersion_allowance_on_or_not_given_is_the_estimate(reader, allow):
    on = reader.run("therapist_funnel", allow_overdispersion=allow)
    assert on["tau2"][0] == pytest.approx(TAU2, abs=TOLERANCE)
    t05 = on.filter(pl.col("therapist_id") == "T05").row(0, named=True)
    assert t05["adjusted_z"] == pytest.approx(0.6 / math.sqrt(0.1 + TAU2), abs=TOLERANCE)


# --- the adjusted funnel's guide curves ------------------------------------------------------------


def test_adjusted_funnel_limits_are_one_plus_or_minus_z_times_the_widened_spread(reader):
    limits = reader.run("adjusted_funnel_limits", tau_squared=TAU2, largest_expected=5.0)
    assert limits.height == 200
    assert limits["expected"][0] == pytest.approx(5 / 200) and limits["expected"][-1] == pytest.approx(5.0)
    last = limits.row(-1, named=True)
    spread = math.sqrt((1 - P0) / 5 + TAU2)
    assert last["p0"] == pytest.approx(P0, abs=TOLERANCE)
    assert [last[c] for c in ("lower998", "lower95", "upper95", "upper998")] == pytest.approx(
        [1 - 3.09 * spread, 1 - 1.96 * spread, 1 + 1.96 * spread, 1 + 3.09 * spread], abs=TOLERANCE)


def test_adjusted_funnel_limits_without_tau2_allow_for_chance_only(reader):
    limits = reader.run("adjusted_funnel_limits", tau_squared=None, largest_expected=1.0)
    assert limits["tau2"].unique().to_list() == [0.0]
    assert limits["upper95"][-1] == pytest.approx(1 + 1.96 * math.sqrt(1 - P0), abs=TOLERANCE)


def test_adjusted_funnel_limits_follow_the_benchmark_filters_not_the_therapist_filter(reader):
    treatment = reader.run("adjusted_funnel_limits", Scope(session_types=("treatment",), therapists=("T01",)),
                           largest_expected=1.0)
    assert treatment["p0"][0] == pytest.approx(5 / 50, abs=TOLERANCE)


# --- the case-mix report ---------------------------------------------------------------------------


def test_case_mix_shares_rates_and_expected_are_the_hand_computed_ones(reader):
    t05 = {row["stratum"]: row for row in reader.run("therapist_case_mix", therapist="T05").iter_rows(named=True)}
    assert set(t05) == {"assessment · severe · new", "treatment · minimal · new"}
    a, b = t05["assessment · severe · new"], t05["treatment · minimal · new"]
    assert (a["closed"], a["dropouts"], a["share"], a["service_closed"], a["service_dropouts"]) == (10, 8, 1.0, 52, 26)
    assert (a["service_share"], a["p_s"], a["expected"]) == pytest.approx((52 / 102, 0.5, 5.0), abs=TOLERANCE)
    assert (b["closed"], b["dropouts"], b["share"], b["expected"]) == (0, 0, 0.0, 0.0)
    assert (b["service_share"], b["p_s"]) == pytest.approx((50 / 102, 0.1), abs=TOLERANCE)


@pytest.mark.parametrize("scope", [Scope(), Scope(session_types=("treatment",)), Scope(therapists=("T10",))],
                         ids=["everything", "treatment only", "therapist filter"])
def test_case_mix_expected_sums_to_the_funnels_expected(reader, scope):
    funnel = reader.run("therapist_funnel", scope)
    for therapist, expected in funnel.select("therapist_id", "expected").iter_rows():
        case_mix = reader.run("therapist_case_mix", scope, therapist=therapist)
        assert case_mix["expected"].sum() == pytest.approx(expected, abs=TOLERANCE, rel=TOLERANCE)


def test_case_mix_expected_sums_to_the_funnels_expected_for_every_sample_therapist(sample_db):  # noqa: F811
    reader = MetricsReader.open(sample_db)
    try:
        for scope in (Scope(), Scope(clinics=("K02",))):
            funnel = reader.run("therapist_funnel", scope)
            assert funnel.height > 5
            for therapist, expected in funnel.select("therapist_id", "expected").iter_rows():
                case_mix = reader.run("therapist_case_mix", scope, therapist=therapist)
                assert case_mix["expected"].sum() == pytest.approx(expected, rel=1e-12)
                assert case_mix["share"].sum() == pytest.approx(1.0)
                assert case_mix["service_share"].sum() == pytest.approx(1.0)
    finally:
        reader.close()


def test_case_mix_benchmark_ignores_the_therapist_filter(reader):
    everyone = reader.run("therapist_case_mix", therapist="T10")
    assert reader.run("therapist_case_mix", Scope(therapists=("T01",)), therapist="T10").equals(everyone)


# --- the sentences ---------------------------------------------------------------------------------


def therapists_sentence(eligible: int, phi: float | None, tau2: float, applied: bool) -> str:
    """The sentence as the Therapists page words it."""
    return variation_sentence("therapists", "have enough closed episodes", eligible, phi, tau2, applied,
                              allowed_for="chance and case mix")


def test_overdispersion_sentence_says_limits_widened_when_therapists_differ_beyond_chance():
    assert therapists_sentence(50, 1.4895, 0.04376, applied=True) == (
        "Therapists differ more than chance alone explains (φ = 1.49 from 50 therapists): limits widened by "
        "τ² = 0.044.")


def test_overdispersion_sentence_says_the_allowance_is_off_when_it_is():
    assert "the allowance is off" in therapists_sentence(50, 1.4895, 0.04376, applied=False)


def test_overdispersion_sentence_says_nothing_to_widen_within_chance():
    assert therapists_sentence(12, 0.8, 0.0, applied=True) == (
        "Therapists differ no more than chance alone explains (φ = 0.80 from 12 therapists): nothing to widen.")


def test_overdispersion_sentence_says_no_estimate_below_ten_eligible_therapists():
    assert therapists_sentence(1, None, 0.0, applied=True) == (
        "Fewer than 10 therapists have enough closed episodes to judge how much therapists differ (1 here): "
        "no estimate, limits not widened.")


def test_case_mix_sentence_states_expected_against_observed_with_the_id_as_text():
    hostile = "[Sign in again](http://evil.example)"
    sentence = case_mix_sentence(hostile, 40, 9.23, 14)
    assert sentence == (f"If the clients of {literal(hostile)}'s 40 closed episodes had done as the same kinds of "
                        "clients do across the service, about 9.2 would have dropped out after one session; 14 did.")


# --- for every service: the case-mix report's expected counts add up to the funnel's E -------------------

STRATA = [("assessment", "severe", "new"), ("treatment", "minimal", "returning"), ("unknown", "missing", "new")]


def run_on_single_session(episodes: list[tuple[str, int, bool]], report: str, **extra: object) -> list[dict]:
    """A report over a single_session table of closed episodes given as (therapist, stratum index, dropout)."""
    con = duckdb.connect()
    try:
        for macro in ("macros/in_scope", "macros/overdispersion", "macros/binomial_limit"):  # as a build stores them
            con.execute(model_sql(macro))
        con.execute("CREATE TABLE settings AS SELECT 10 AS min_caseload")
        con.execute("""CREATE TABLE single_session (
            therapist_id VARCHAR, clinic_id VARCHAR, first_session_type VARCHAR, first_attended_date DATE,
            is_closed BOOLEAN, is_single_session_dropout BOOLEAN,
            case_mix_type VARCHAR, baseline_band VARCHAR, client_history VARCHAR)""")
        con.executemany("INSERT INTO single_session VALUES (?, 'K1', NULL, DATE '2026-01-05', true, ?, ?, ?, ?)",
                        [(therapist, dropout, *STRATA[s]) for therapist, s, dropout in episodes])
        sql, wanted = report_sql(report)
        cursor = con.execute(sql, {name: extra.get(name) for name in wanted})
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


services = st.lists(st.tuples(st.sampled_from(["T1", "T2", "T3", "T4"]), st.integers(0, len(STRATA) - 1),
                              st.booleans()), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(services)
def test_case_mix_expected_adds_up_to_the_funnels_expected_for_any_service(episodes):
    for row in run_on_single_session(episodes, "therapist_funnel"):
        case_mix = run_on_single_session(episodes, "therapist_case_mix", therapist=row["therapist_id"])
        assert sum(r["closed"] for r in case_mix) == row["denominator"]
        assert sum(r["dropouts"] for r in case_mix) == row["numerator"]
        assert sum(r["expected"] for r in case_mix) == pytest.approx(row["expected"], abs=TOLERANCE)
