"""The risk-adjusted CUSUM of single-session dropout per therapist (docs/metrics/therapist-cusum.md).

The report runs over a single_session table written in the test, so every number can be worked out
by hand: two case-mix strata whose rates are exactly 0.5 and 0.1, and with the odds ratio R = 2 an
episode adds log(2) − log(1 − p + 2p) when it was a single-session dropout and −log(1 + p) when not:

    stratum A (p = 0.5): dropout + log(4/3) ≈ +0.2877, other − log(1.5) ≈ −0.4055
    stratum B (p = 0.1): dropout + log(20/11) ≈ +0.5978, other − log(1.1) ≈ −0.0953

A hypothesis property checks the report against the recursion S = max(0, S + w) for any sequence,
a planted rise in dropout is caught within a stated number of episodes, and a therapist whose
clients do as expected never signals.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXTRACT, Warehouse, appointment
from pipelines.config import Settings, load_settings
from pipelines.errors import LoadError
from pipelines.queries import MetricsReader, Scope, report_sql
from pipelines.warehouse import model_sql

TOLERANCE = 1e-9
DAY_ONE = dt.date(2024, 1, 1)
DEFAULTS = Settings()
STRATA = {"A": ("assessment", "severe", "new"), "B": ("treatment", "minimal", "new")}


def cusum_report(episodes: list[tuple[str, str, bool]], *, build_odds_ratio: float = DEFAULTS.cusum_odds_ratio,
                 build_threshold: float = DEFAULTS.cusum_threshold, **params: object) -> list[dict]:
    """therapist_cusum over a single_session table of these (therapist, stratum, dropout) closed
    episodes, one a day in the order given, all at clinic K1, built with these settings. `params`
    are the report's own parameters (filters, odds_ratio, threshold, latest_only)."""
    con = duckdb.connect()
    try:
        con.execute(model_sql("macros/in_scope"))
        con.execute("CREATE TABLE settings AS SELECT ?::DOUBLE AS cusum_odds_ratio, ?::DOUBLE AS cusum_threshold",
                    [build_odds_ratio, build_threshold])
        con.execute("""CREATE TABLE single_session (
            client_id VARCHAR, episode_id VARCHAR, therapist_id VARCHAR, clinic_id VARCHAR,
            first_session_type VARCHAR, first_attended_date DATE, is_closed BOOLEAN,
            is_single_session_dropout BOOLEAN, case_mix_type VARCHAR, baseline_band VARCHAR,
            client_history VARCHAR)""")
        con.executemany(
            "INSERT INTO single_session VALUES (?, '1', ?, 'K1', ?, ?, true, ?, ?, ?, ?)",
            [(f"C{k:06d}", therapist, STRATA[stratum][0], DAY_ONE + dt.timedelta(days=k), dropout, *STRATA[stratum])
             for k, (therapist, stratum, dropout) in enumerate(episodes)])
        sql, wanted = report_sql("therapist_cusum")
        cursor = con.execute(sql, {name: params.get(name) for name in wanted})
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def caseload(therapist: str, stratum: str, episodes: int, dropouts: int) -> list[tuple[str, str, bool]]:
    """`episodes` closed episodes of one therapist in one stratum, the first `dropouts` of them dropouts."""
    return [(therapist, stratum, k < dropouts) for k in range(episodes)]


# p_A = (8 + 2) / 20 = 0.5 and p_B = 3 / 30 = 0.1 over the whole service
SERVICE = (caseload("T05", "A", 10, 8) + caseload("T01", "A", 10, 2)
           + caseload("T10", "B", 10, 3) + caseload("T20", "B", 20, 0))
UP_A, DOWN_A = math.log(4 / 3), -math.log(1.5)
UP_B, DOWN_B = math.log(20 / 11), -math.log(1.1)


def path(rows: list[dict], therapist: str) -> list[float]:
    return [r["cusum"] for r in rows if r["therapist_id"] == therapist]


def summary(rows: list[dict], therapist: str) -> dict:
    return [r for r in rows if r["therapist_id"] == therapist][-1]


def test_cusum_weight_is_log_odds_ratio_on_a_dropout_less_log_of_the_expected_shift():
    rows = cusum_report(SERVICE)
    t05 = [r for r in rows if r["therapist_id"] == "T05"]
    assert [r["expected"] for r in t05] == pytest.approx([0.5] * 10)
    assert [r["weight"] for r in t05] == pytest.approx([UP_A] * 8 + [DOWN_A] * 2, abs=TOLERANCE)
    t10 = [r for r in rows if r["therapist_id"] == "T10"]
    assert [r["expected"] for r in t10] == pytest.approx([0.1] * 10)
    assert [r["weight"] for r in t10] == pytest.approx([UP_B] * 3 + [DOWN_B] * 7, abs=TOLERANCE)


def test_cusum_adds_each_weight_in_first_session_order():
    # T05: 8 × log(4/3) = 2.3015, then 1.8960 and 1.4906
    expected = [k * UP_A for k in range(1, 9)] + [8 * UP_A + DOWN_A, 8 * UP_A + 2 * DOWN_A]
    assert path(cusum_report(SERVICE), "T05") == pytest.approx(expected, abs=TOLERANCE)


def test_cusum_never_falls_below_zero():
    # T01: 0.2877, 0.5754, 0.1699, then max(0, 0.1699 − 0.4055) = 0 and 0 from there on
    rows = cusum_report(SERVICE)
    assert path(rows, "T01") == pytest.approx([UP_A, 2 * UP_A, 2 * UP_A + DOWN_A] + [0.0] * 7, abs=TOLERANCE)
    assert path(rows, "T20") == [0.0] * 20


def test_cusum_signal_is_the_first_session_date_of_the_episode_that_reaches_the_threshold():
    # threshold 2: T05 is 6 × 0.2877 = 1.726 after its 6th episode and 2.014 after its 7th
    rows = cusum_report(SERVICE, build_threshold=2.0)
    t05 = [r for r in rows if r["therapist_id"] == "T05"]
    assert [r["episode_number"] for r in t05 if r["crossed"]] == [7]
    assert t05[-1]["first_signal_date"] == t05[6]["first_attended_date"] == DAY_ONE + dt.timedelta(days=6)


def test_cusum_that_crossed_and_fell_back_is_signalled_before():
    # threshold 2: T05 ends at 1.4906, below it again; T10 never passes 1.7936
    rows = cusum_report(SERVICE, build_threshold=2.0)
    assert (summary(rows, "T05")["status"], summary(rows, "T05")["signals"]) == ("signalled before", 1)
    assert summary(rows, "T05")["latest_cusum"] == pytest.approx(8 * UP_A + 2 * DOWN_A)
    assert summary(rows, "T05")["peak"] == pytest.approx(8 * UP_A)
    assert (summary(rows, "T10")["status"], summary(rows, "T10")["signals"]) == ("no signal", 0)


def test_cusum_at_or_above_the_threshold_at_the_latest_episode_is_signalling():
    # threshold 1.4: T05 crosses at its 5th episode (1.438) and ends at 1.4906; T10 crosses at its
    # 3rd (1.7936) and falls below after its 8th (1.7936 − 5 × 0.0953 = 1.3171)
    rows = cusum_report(SERVICE, build_threshold=1.4)
    assert summary(rows, "T05")["status"] == "signalling"
    assert summary(rows, "T05")["first_signal_date"] == DAY_ONE + dt.timedelta(days=4)
    assert summary(rows, "T10")["status"] == "signalled before"
    assert summary(rows, "T10")["latest_cusum"] == pytest.approx(3 * UP_B + 7 * DOWN_B)


def test_each_fresh_crossing_is_a_signal_and_the_latest_one_is_dated():
    # p_A = 4 / 10 = 0.4 here, so a dropout adds log(2/1.4) = 0.3567 and another episode −log(1.4) = −0.3365:
    # at threshold 0.5, T01 goes 0.357, 0.713 (up), 0.377 (below), 0.734 (up again), 1.091
    service = caseload("T01", "A", 2, 2) + caseload("T01", "A", 1, 0) + caseload("T01", "A", 2, 2) \
        + caseload("T02", "A", 5, 0)
    rows = cusum_report(service, build_threshold=0.5)
    t01 = summary(rows, "T01")
    assert t01["signals"] == 2
    assert (t01["first_signal_date"], t01["last_signal_date"]) == (DAY_ONE + dt.timedelta(days=1),
                                                                   DAY_ONE + dt.timedelta(days=3))


def test_cusum_reads_the_build_settings_unless_the_report_is_given_its_own():
    built = cusum_report(SERVICE, build_odds_ratio=3.0, build_threshold=9.0)
    assert summary(built, "T05")["threshold"] == 9.0
    assert summary(built, "T05")["weight"] == pytest.approx(-math.log(1 - 0.5 + 3 * 0.5))
    chosen = cusum_report(SERVICE, build_odds_ratio=3.0, build_threshold=9.0, odds_ratio=1.5, threshold=1.0)
    assert summary(chosen, "T05")["threshold"] == 1.0
    assert summary(chosen, "T05")["weight"] == pytest.approx(-math.log(1 - 0.5 + 1.5 * 0.5))


def test_therapist_filter_lists_therapists_but_keeps_the_benchmark_strata():
    rows = cusum_report(SERVICE, therapists=["T10"])
    assert {r["therapist_id"] for r in rows} == {"T10"}
    assert [r["expected"] for r in rows] == pytest.approx([0.1] * 10)


def test_latest_only_gives_one_summary_row_per_therapist():
    rows = cusum_report(SERVICE, latest_only=True)
    assert [(r["therapist_id"], r["episode_number"], r["episodes"]) for r in rows] == [
        ("T01", 10, 10), ("T05", 10, 10), ("T10", 10, 10), ("T20", 20, 20)]


# === for any sequence: the recursion ==============================================================


def recursion(outcomes: list[tuple[str, bool]], rates: dict[str, float], odds_ratio: float) -> list[float]:
    value, values = 0.0, []
    for stratum, dropout in outcomes:
        p = rates[stratum]
        value = max(0.0, value + (math.log(odds_ratio) if dropout else 0.0) - math.log(1 - p + odds_ratio * p))
        values.append(value)
    return values


episodes = st.lists(st.tuples(st.sampled_from(["T1", "T2"]), st.sampled_from(["A", "B"]), st.booleans()),
                    min_size=1, max_size=80)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes, st.floats(1.1, 6.0), st.floats(0.5, 6.0))
def test_cusum_is_the_recursion_max_zero_s_plus_w_for_any_sequence(service, odds_ratio, threshold):
    rows = cusum_report(service, build_odds_ratio=odds_ratio, build_threshold=threshold)
    rates = {s: sum(d for _, t, d in service if t == s) / sum(1 for _, t, _ in service if t == s)
             for s in {t for _, t, _ in service}}
    for therapist in {t for t, _, _ in service}:
        mine = [(s, d) for t, s, d in service if t == therapist]
        expected = recursion(mine, rates, odds_ratio)
        assert path(rows, therapist) == pytest.approx(expected, abs=1e-9)
        ups = [k + 1 for k, v in enumerate(expected) if v >= threshold and (k == 0 or expected[k - 1] < threshold)]
        assert [r["episode_number"] for r in rows if r["therapist_id"] == therapist and r["crossed"]] == ups
        status = ("signalling" if expected[-1] >= threshold else "signalled before" if ups else "no signal")
        assert summary(rows, therapist)["status"] == status


# === a planted change point, and no excess ========================================================

# Every episode is in stratum A. Twenty therapists at the service's rate of 0.2 fill the benchmark;
# the watched therapist is at 0.2 for 300 episodes and then at odds three times as high (0.43).
CHANGE_AT = 300
WITHIN = 120  # the signal lands within this many episodes of the change (seeds 1-5: 29 to 94)


def bernoulli_run(seed: int, therapist: str, episodes: int, rate_at: callable) -> list[tuple[str, str, bool]]:
    rng = random.Random(seed)
    return [(therapist, "A", rng.random() < rate_at(k)) for k in range(episodes)]


def raised(k: int) -> float:
    odds = 0.25 * (3 if k >= CHANGE_AT else 1)
    return odds / (1 + odds)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_planted_rise_in_dropout_signals_within_the_stated_episodes_of_the_change(seed):
    service = [row for t in range(20) for row in bernoulli_run(seed * 100 + t, f"F{t:02d}", 300, lambda k: 0.2)]
    service += bernoulli_run(seed, "WATCHED", 600, raised)
    rows = [r for r in cusum_report(service) if r["therapist_id"] == "WATCHED"]
    first = next(r["episode_number"] for r in rows if r["crossed"])
    assert CHANGE_AT < first <= CHANGE_AT + WITHIN


def test_a_therapist_whose_clients_drop_out_at_the_expected_rate_never_signals():
    # exactly one in five, as the service: each five episodes add log(2/1.2) − 5·log(1.2) < 0
    service = [("STEADY", "A", k % 5 == 0) for k in range(10_000)]
    rows = cusum_report(service)
    assert max(r["cusum"] for r in rows) == pytest.approx(math.log(2 / 1.2))
    assert summary(rows, "STEADY")["status"] == "no signal"


def test_therapists_with_no_excess_rarely_signal_on_long_seeded_runs():
    # ten therapists, 1,000 episodes each at the service's rate of 0.2 (seeds 0-9): with the default
    # odds ratio and threshold a run this long signals by chance about one time in thirteen
    # (bench/cusum.py), so about one of the ten here; a CUSUM that drifted up without excess would
    # signal in most of them
    service = [row for t in range(10) for row in bernoulli_run(t, f"N{t}", 1_000, lambda k: 0.2)]
    rows = cusum_report(service, latest_only=True)
    assert sum(r["signals"] > 0 for r in rows) <= 2


# === through the warehouse: the build's settings reach the report ==================================


def test_cusum_settings_come_from_the_build_settings(tmp_path):
    rows = [appointment(f"{t}{k}", "2026-01-05", client=f"{t}{k}", therapist=t, episode_id="1",
                        discharge_date="2026-01-05", discharge_reason="dropout") for t in ("T1", "T2") for k in range(3)]
    warehouse = Warehouse(tmp_path)
    warehouse.load(rows, extract_date=EXTRACT, settings=Settings(cusum_odds_ratio=1.5, cusum_threshold=0.2))
    reader = MetricsReader.open(warehouse.path)
    try:
        result = reader.run("therapist_cusum", Scope(), latest_only=True)
    finally:
        reader.close()
    assert result["threshold"].to_list() == [0.2, 0.2]
    # every episode a dropout in a stratum of rate 1: log(1.5) − log(1.5) = 0 a step, never a signal
    assert result["status"].to_list() == ["no signal", "no signal"]


# === the two settings ==============================================================================


@pytest.mark.parametrize(("line", "value"), [("cusum_threshold = 4.5", 4.5), ("cusum_threshold = 5", 5.0),
                                             ("cusum_odds_ratio = 1.5", 1.5)])
def test_cusum_settings_take_a_decimal_or_whole_number(tmp_path, line, value):
    config = tmp_path / "settings.toml"
    config.write_text(line + "\n", encoding="utf-8")
    key = line.split(" = ")[0]
    assert getattr(load_settings(config), key) == value


@pytest.mark.parametrize(("line", "problem"), [
    ("cusum_odds_ratio = 1", "it must be more than 1 and at most 100"),
    ("cusum_odds_ratio = nan", "it must be more than 1 and at most 100"),
    ("cusum_threshold = 0.0", "it must be more than 0 and at most 1000"),
    ("cusum_threshold = inf", "it must be more than 0 and at most 1000"),
    ("cusum_threshold = true", "must be a number"),
    ('cusum_threshold = "6"', "must be a number"),
])
def test_cusum_settings_out_of_range_or_not_numbers_are_refused_in_one_line(tmp_path, line, problem):
    config = tmp_path / "bad.toml"
    config.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(LoadError) as refused:
        load_settings(config)
    assert problem in str(refused.value) and str(refused.value).startswith(f"{config}: setting 'cusum_")
    assert "\n" not in str(refused.value)
