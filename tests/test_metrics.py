"""The metrics (docs/metrics/), as the metrics report shows them: one hand-worked fixture per metric family.

Each family's appointment log is built in code below, loaded once per module, and every test is
named after the rule it checks. The expected numbers are worked out by hand in the comments.
The extract date E is 2026-06-30 (conftest.EXTRACT).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXTRACT, Warehouse, appointment, report
from pipelines.config import Settings
from pipelines.queries import Scope

ROOT = Path(__file__).resolve().parents[1]


def dates(start: str, n: int, every: int = 7) -> list[str]:
    first = dt.date.fromisoformat(start)
    return [(first + dt.timedelta(days=every * k)).isoformat() for k in range(n)]


def plus(date: str, days: int) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


def course(client: str, when: list[str], *, episode: str = "1", therapist: str = "T1", clinic: str = "K1",
           discharge_date: str | None = None, discharge_reason: str | None = None,
           **per_session: list) -> list[dict[str, object]]:
    """Attended sessions on the given dates; per-session values (phq9=[20, None, 14], …) by position.

    The episode's discharge date and reason, when given, are recorded on every row."""
    rows = []
    for k, date in enumerate(when):
        values = {name: (values[k] if k < len(values) else None) for name, values in per_session.items()}
        rows.append(appointment(f"{client}/{episode}/{k + 1}", date, client=client, therapist=therapist,
                                clinic=clinic, episode_id=episode, discharge_date=discharge_date,
                                discharge_reason=discharge_reason, **values))
    return rows


def built(tmp_path_factory: pytest.TempPathFactory, name: str, rows: list[dict[str, object]]) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp(name))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


def rate_of(part: dict) -> tuple:
    return part["numerator"], part["denominator"], part["rate"]


# === 4.1 single-session endings and dropout ======================================================

SINGLE = "2026-01-05"


@pytest.fixture(scope="module")
def single_session(tmp_path_factory) -> Warehouse:
    rows = [
        # closed after one session, by reason
        *course("S1", [SINGLE], discharge_date=SINGLE, discharge_reason="planned", session_type=["assessment"]),
        *course("S2", [SINGLE], discharge_date=SINGLE, discharge_reason="referred on", session_type=["assessment"]),
        *course("S3", [SINGLE], discharge_date=SINGLE, discharge_reason="dropout", session_type=["treatment"]),
        # no discharge, last attended > 90 days before E: closed 'inactive'
        *course("S4", [SINGLE], session_type=[None]),
        # discharged with an unrecognised / missing reason: 'unknown'
        *course("S5", [SINGLE], discharge_date=SINGLE, discharge_reason="95", session_type=["assessment"]),
        *course("S6", [SINGLE], discharge_date=SINGLE, discharge_reason=None, session_type=["assessment"]),
        # closed after three sessions (not ended after one)
        *course("S7", dates(SINGLE, 3), discharge_date=plus(SINGLE, 14), discharge_reason="planned",
                session_type=["other", "treatment", "treatment"]),
        # one session, still open (within 90 days of E): not in any denominator
        *course("S8", ["2026-05-20"], session_type=["review"]),
        # cohort 2026-05: every episode still open
        *course("S9", ["2026-05-04", "2026-05-11"], session_type=["review"]),
        # cohort 2026-06: one closed planned single session and one open
        *course("SA", ["2026-06-01"], discharge_date="2026-06-01", discharge_reason="planned",
                session_type=["treatment"]),
        *course("SB", ["2026-06-15"], session_type=["treatment"]),
    ]
    return built(tmp_path_factory, "single_session", rows)


@pytest.fixture(scope="module")
def single_report(single_session) -> dict:
    return report(single_session)


def test_single_session_denominator_is_closed_episodes_only(single_report):
    # closed: S1..S7 and SA = 8; S8, S9, SB are open
    assert single_report["episodes"] == {"total": 11, "not_started": 0, "open": 3, "closed": 8}
    assert single_report["single_session"]["ended_after_one"]["denominator"] == 8


def test_ended_after_one_counts_every_closed_single_session_whatever_the_reason(single_report):
    # S1, S2, S3, S4, S5, S6, SA
    assert rate_of(single_report["single_session"]["ended_after_one"]) == (7, 8, 7 / 8)


def test_planned_and_referred_on_single_sessions_are_not_dropout(single_session):
    assert single_session.query(
        "SELECT client_id FROM single_session WHERE is_single_session_dropout ORDER BY ALL"
    )["client_id"].to_list() == ["S3", "S4", "S5", "S6"]


def test_inactive_unknown_and_dropout_single_sessions_are_dropout(single_session, single_report):
    reasons = dict(single_session.query("SELECT client_id, end_reason FROM episodes").iter_rows())
    assert (reasons["S3"], reasons["S4"], reasons["S5"], reasons["S6"]) == ("dropout", "inactive", "unknown", "unknown")
    # dropout: S3 (dropout), S4 (inactive), S5 and S6 (unknown); not S1 (planned), S2 (referred on), SA (planned)
    assert rate_of(single_report["single_session"]["dropout"]) == (4, 8, 0.5)


def test_open_single_session_episode_is_not_in_the_denominator(single_session, single_report):
    assert single_session.episode("S8")["status"] == "open"
    months = {m["month"]: m for m in single_report["single_session"]["by_month"]}
    assert (months["2026-05"]["numerator"], months["2026-05"]["denominator"]) == (0, 0)


def test_by_month_shows_each_cohort_months_open_count(single_report):
    by_month = [(m["month"], m["numerator"], m["denominator"], m["rate"], m["open"])
                for m in single_report["single_session"]["by_month"]]
    assert by_month == [
        ("2026-01", 4, 7, 4 / 7, 0),   # S1..S7
        ("2026-05", 0, 0, None, 2),    # S8, S9: all open, so denominator 0 and rate null
        ("2026-06", 0, 1, 0.0, 1),     # SA closed (planned), SB open
    ]


def test_by_first_session_type_is_alphabetical_with_null_last_and_closed_types_only(single_report):
    by_type = [(t["session_type"], t["numerator"], t["denominator"], t["rate"])
               for t in single_report["single_session"]["by_first_session_type"]]
    assert by_type == [
        ("assessment", 2, 4, 0.5),   # S1 planned, S2 referred on, S5 and S6 unknown
        ("other", 0, 1, 0.0),        # S7
        ("treatment", 1, 2, 0.5),    # S3 dropout, SA planned (SB is open)
        (None, 1, 1, 1.0),           # S4 inactive
    ]
    # 'review' is the first session type of open episodes only (S8, S9): not listed


# === 4.2 therapist funnel =========================================================================


def funnel_episodes(therapist: str, closed: int, dropouts: int, start: str, clinic: str = "K1") -> list[dict]:
    """`closed` closed episodes: the first `dropouts` end after one session (dropout), the rest
    after two sessions by plan."""
    rows = []
    for i in range(closed):
        first = plus(start, i)
        client = f"{therapist}-{start[:4]}-{i:03d}"
        if i < dropouts:
            rows += course(client, [first], therapist=therapist, clinic=clinic,
                           discharge_date=first, discharge_reason="dropout")
        else:
            rows += course(client, [first, plus(first, 7)], therapist=therapist, clinic=clinic,
                           discharge_date=plus(first, 7), discharge_reason="planned")
    return rows


# p0 = (7 + 12 + 1 + 0 + 1) / (16 + 25 + 4 + 50 + 10) = 21 / 105 = 0.2, so p0(1 - p0) = 0.16.
FUNNEL = [
    ("TA", 16, 7),   # sqrt(.16/16) = .1:      limits .396 / .509;   rate .4375 -> alert
    ("TB", 25, 12),  # sqrt(.16/25) = .08:     limits .3568 / .4472; rate .48 -> alarm
    ("TC", 4, 1),    # sqrt(.16/4) = .2:       limits .592 / .818;   below min caseload -> insufficient
    ("TD", 50, 0),   # sqrt(.16/50) = .056569: limits .310874 / .374797; rate 0 -> none
    ("TF", 10, 1),   # sqrt(.16/10) = .126491: limits .447923 / .590858; exactly min caseload -> none
]


def funnel_rows() -> list[dict]:
    return [row for therapist, closed, dropouts in FUNNEL
            for row in funnel_episodes(therapist, closed, dropouts, "2025-02-03")]


@pytest.fixture(scope="module")
def funnel(tmp_path_factory) -> Warehouse:
    return built(tmp_path_factory, "funnel", funnel_rows())


@pytest.fixture(scope="module")
def funnel_with_other_clinic_and_year(tmp_path_factory) -> Warehouse:
    rows = funnel_rows()
    rows += funnel_episodes("TE", 10, 10, "2025-03-03", clinic="K2")   # another clinic: all dropouts
    rows += funnel_episodes("TA", 10, 10, "2024-03-04")                # TA, K1, before 2025: all dropouts
    return built(tmp_path_factory, "funnel_scoped", rows)


def therapist_rows(result: dict) -> dict[str, dict]:
    return {t["therapist_id"]: t for t in result["therapists"]}


def test_therapist_funnel_lists_every_therapist_with_a_closed_episode_by_id(funnel):
    result = report(funnel)
    assert [t["therapist_id"] for t in result["therapists"]] == ["TA", "TB", "TC", "TD", "TF"]
    assert [t["p0"] for t in result["therapists"]] == pytest.approx([0.2] * 5, abs=1e-12)


def test_therapist_above_limit95_but_not_limit998_is_alert(funnel):
    ta = therapist_rows(report(funnel))["TA"]
    assert (ta["numerator"], ta["denominator"], ta["rate"]) == (7, 16, 0.4375)
    assert ta["limit95"] == pytest.approx(0.396, abs=1e-12)
    assert ta["limit998"] == pytest.approx(0.509, abs=1e-12)
    assert ta["flag"] == "alert"


def test_therapist_above_limit998_is_alarm(funnel):
    tb = therapist_rows(report(funnel))["TB"]
    assert (tb["numerator"], tb["denominator"], tb["rate"]) == (12, 25, 0.48)
    assert tb["limit95"] == pytest.approx(0.3568, abs=1e-12)
    assert tb["limit998"] == pytest.approx(0.4472, abs=1e-12)
    assert tb["flag"] == "alarm"


def test_therapist_below_min_caseload_is_insufficient_but_still_has_limits(funnel):
    tc = therapist_rows(report(funnel))["TC"]
    assert (tc["numerator"], tc["denominator"], tc["rate"]) == (1, 4, 0.25)
    assert tc["limit95"] == pytest.approx(0.592, abs=1e-12)
    assert tc["limit998"] == pytest.approx(0.818, abs=1e-12)
    assert tc["flag"] == "insufficient"


def test_therapist_within_limits_is_none_and_exactly_min_caseload_is_enough(funnel):
    therapists = therapist_rows(report(funnel))
    td, tf = therapists["TD"], therapists["TF"]
    assert (td["rate"], td["flag"]) == (0.0, "none")
    assert td["limit95"] == pytest.approx(0.310874, abs=1e-6)
    assert td["limit998"] == pytest.approx(0.374797, abs=1e-6)
    assert (tf["numerator"], tf["denominator"], tf["flag"]) == (1, 10, "none")
    assert tf["limit95"] == pytest.approx(0.447923, abs=1e-6)
    assert tf["limit998"] == pytest.approx(0.590858, abs=1e-6)


def test_p0_ignores_the_therapist_filter_but_follows_clinic_and_date_filters(funnel_with_other_clinic_and_year):
    warehouse = funnel_with_other_clinic_and_year
    # Clinic K1 from 2025: the base funnel, p0 = 21/105 = 0.2; TA alone is listed, held to 0.2
    # (with its own rate as benchmark, p0 would be 7/16 and nothing could be flagged).
    scoped = report(warehouse, Scope(clinics=("K1",), therapists=("TA",), from_date=dt.date(2025, 1, 1)))
    assert [(t["therapist_id"], t["numerator"], t["denominator"]) for t in scoped["therapists"]] == [("TA", 7, 16)]
    ta = scoped["therapists"][0]
    assert ta["p0"] == pytest.approx(0.2, abs=1e-12)
    assert (ta["limit95"], ta["limit998"]) == (pytest.approx(0.396, abs=1e-12), pytest.approx(0.509, abs=1e-12))
    assert ta["flag"] == "alert"

    # Therapist filter only: every clinic and year, p0 = (21 + 10 + 10) / (105 + 10 + 10) = 41/125 = .328;
    # TA 17/26 = .653846; sqrt(.328 * .672 / 26) = .0920736: limits .508464 / .612507 -> alarm.
    only_ta = report(warehouse, Scope(therapists=("TA",)))
    assert [t["therapist_id"] for t in only_ta["therapists"]] == ["TA"]
    ta = only_ta["therapists"][0]
    assert (ta["numerator"], ta["denominator"]) == (17, 26)
    assert ta["p0"] == pytest.approx(0.328, abs=1e-12)
    assert ta["limit95"] == pytest.approx(0.508464, abs=1e-6)
    assert ta["limit998"] == pytest.approx(0.612507, abs=1e-6)
    assert ta["flag"] == "alarm"


# === 4.3 outcome change ==========================================================================

START = "2026-01-05"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Warehouse:
    def closed(client: str, **scores: list) -> list[dict]:
        n = len(next(iter(scores.values())))
        when = dates(START, n)
        return course(client, when, discharge_date=when[-1], discharge_reason="planned", **scores)

    rows = [
        # PHQ-9: caseness >= 10, reliable change 6, lower is better
        *closed("Q1", phq9=[20, None, 14, 8, None]),  # improves 12: RI; 20 -> 8: recovery, reliable recovery
        *closed("Q2", phq9=[12, 11, 9]),              # improves 3; 12 -> 9: recovery, not reliable
        *closed("Q3", phq9=[8, 10, 15]),              # worsens 7: RD; first not a case
        *closed("Q4", phq9=[15, 18, 21]),             # worsens exactly 6: RD
        *closed("Q5", phq9=[16, 12, 10]),             # improves exactly 6: RI; ends at 10, still a case
        *closed("Q6", phq9=[14, None]),               # one score: not paired
        *course("Q7", dates("2026-05-04", 2), phq9=[20, 5]),  # paired but open: not counted
        *closed("Q8", phq9=[9, 3]),                   # improves 6: RI; first not a case
        # a DNA row carrying scores: ignored for every metric (no core10 key, Q2 unchanged)
        appointment("Q2/1/dna", "2026-01-08", status="dna", client="Q2", episode_id="1", phq9=27, core10=30),
        # ORS: higher is better, caseness < 25, reliable change 5
        *closed("O1", ors=[18, 22, 26]),      # +8: RI; 18 -> 26: recovery, reliable recovery
        *closed("O2", ors=[30, 24]),          # -6: RD; first not a case (30 >= 25)
        *closed("O3", ors=[20, 24]),          # +4; stays a case
        *closed("O4", ors=[22, 25]),          # +3; 25 is out of the clinical range: recovery, not reliable
        *closed("O5", ors=[24, 29]),          # +5 exactly: RI; recovery; reliable recovery
        # GAD-7: caseness >= 8, reliable change 4
        *closed("G1", gad7=[8, 4]),           # improves exactly 4: RI; 8 is a case; recovery, reliable
        *closed("G2", gad7=[7, 12]),          # worsens 5: RD; 7 not a case
        *closed("G3", gad7=[10, 7]),          # improves 3; recovery, not reliable
        *closed("G4", gad7=[9, 8]),           # still a case
        *closed("G5", gad7=[5, 9]),           # worsens exactly 4: RD
    ]
    return built(tmp_path_factory, "outcomes", rows)


@pytest.fixture(scope="module")
def outcomes_report(outcomes) -> dict:
    return report(outcomes)


def test_outcomes_keys_only_for_measures_scored_at_an_attended_session(outcomes_report):
    # core10 only appears on a DNA row
    assert set(outcomes_report["outcomes"]) == {"phq9", "gad7", "ors"}


def test_only_closed_paired_episodes_are_counted(outcomes_report):
    # PHQ-9 paired and closed: Q1, Q2, Q3, Q4, Q5, Q8 (Q6 has one score, Q7 is open)
    assert outcomes_report["outcomes"]["phq9"]["paired"] == 6


def test_open_paired_episode_is_not_counted_in_paired(outcomes, outcomes_report):
    assert outcomes.episode("Q7")["status"] == "open"
    phq9 = outcomes_report["outcomes"]["phq9"]
    assert phq9["reliable_improvement"]["denominator"] == 6
    assert phq9["recovery"]["denominator"] == 4


def test_phq9_reliable_improvement_is_a_fall_of_at_least_6(outcomes_report):
    assert rate_of(outcomes_report["outcomes"]["phq9"]["reliable_improvement"]) == (3, 6, 0.5)  # Q1, Q5, Q8


def test_phq9_reliable_deterioration_is_a_rise_of_at_least_6(outcomes_report):
    assert rate_of(outcomes_report["outcomes"]["phq9"]["reliable_deterioration"]) == (2, 6, 2 / 6)  # Q3, Q4


def test_phq9_recovery_counts_cases_at_start_that_end_below_10(outcomes_report):
    # denominator: first score >= 10: Q1 (20), Q2 (12), Q4 (15), Q5 (16); recovered: Q1, Q2
    assert rate_of(outcomes_report["outcomes"]["phq9"]["recovery"]) == (2, 4, 0.5)


def test_phq9_reliable_recovery_is_recovery_with_reliable_improvement(outcomes_report):
    assert rate_of(outcomes_report["outcomes"]["phq9"]["reliable_recovery"]) == (1, 4, 0.25)  # Q1


def test_ors_is_higher_is_better_with_caseness_below_25_and_reliable_change_5(outcomes_report):
    ors = outcomes_report["outcomes"]["ors"]
    assert ors["paired"] == 5
    assert rate_of(ors["reliable_improvement"]) == (2, 5, 0.4)       # O1, O5
    assert rate_of(ors["reliable_deterioration"]) == (1, 5, 0.2)     # O2
    assert rate_of(ors["recovery"]) == (3, 4, 0.75)                  # of O1, O3, O4, O5: O1, O4, O5
    assert rate_of(ors["reliable_recovery"]) == (2, 4, 0.5)          # O1, O5


def test_gad7_uses_caseness_8_and_reliable_change_4(outcomes_report):
    gad7 = outcomes_report["outcomes"]["gad7"]
    assert gad7["paired"] == 5
    assert rate_of(gad7["reliable_improvement"]) == (1, 5, 0.2)      # G1
    assert rate_of(gad7["reliable_deterioration"]) == (2, 5, 0.4)    # G2, G5
    assert rate_of(gad7["recovery"]) == (2, 3, 2 / 3)                # of G1, G3, G4: G1, G3
    assert rate_of(gad7["reliable_recovery"]) == (1, 3, 1 / 3)       # G1


def test_early_change_is_first_to_second_score_and_share_already_reliable(outcomes_report):
    # every episode with two PHQ-9 scores, open ones too: first -> second score
    # Q1 20->14 (-6, RI), Q2 -1, Q3 +2, Q4 +3, Q5 -4, Q7 20->5 (-15, RI), Q8 9->3 (-6, RI)
    early = outcomes_report["outcomes"]["phq9"]["early_change"]
    assert early["episodes"] == 7
    assert early["mean_change"] == pytest.approx(-27 / 7)
    assert rate_of(early["reliable_improvement"]) == (3, 7, 3 / 7)


def test_ors_change_of_exactly_5_points_recorded_with_a_decimal_is_reliable(warehouse):
    # In binary floating point 20.4 - 15.4 is 4.999999999999998 and 32.3 - 27.3 is 4.9999999999999964;
    # on the ORS's one-decimal scale both are 5-point changes.
    warehouse.load([
        *course("D1", dates(START, 2), discharge_date=plus(START, 7), discharge_reason="planned", ors=[15.4, 20.4]),
        *course("D2", dates(START, 2), discharge_date=plus(START, 7), discharge_reason="planned", ors=[32.3, 27.3]),
    ])
    ors = report(warehouse)["outcomes"]["ors"]
    assert rate_of(ors["reliable_improvement"]) == (1, 2, 0.5)     # D1
    assert rate_of(ors["reliable_deterioration"]) == (1, 2, 0.5)   # D2


# === 4.4 plateaus ================================================================================


@pytest.fixture(scope="module")
def plateaus(tmp_path_factory) -> Warehouse:
    def closed(client: str, phq9: list, episode: str = "1", start: str = START) -> list[dict]:
        when = dates(start, len(phq9))
        return course(client, when, episode=episode, discharge_date=when[-1], discharge_reason="planned", phq9=phq9)

    rows = [
        *closed("A", [10, 10, 12, 13], episode="2"),             # in range at the boundary: plateau at 1, 0 after
        *closed("C2", [9, 10, 12, 13]),                          # 9 is out of range: no plateau
        *closed("B9", [10, 15, 12, 13]),                         # spread 5 < 6: plateau at 1, 0 after
        *closed("C4", [10, 16, 12, 13]),                         # spread 6: no plateau
        # open; scores at sessions 1, 3, 4, 6 form the window: plateau at 1, 7 - 6 = 1 after
        *course("B10", dates("2026-04-06", 7), phq9=[12, None, 13, 11, None, 14, None]),
        *closed("C6", [12, 12, 12, None, None]),                 # 3 scores: not assessed
        # first qualifying window is scores 3-6 (15, 15, 16, 15) at sessions 3-6: 9 - 6 = 3 after
        *closed("A", [20, 8, 15, 15, 16, 15, 17, None, None], episode="10", start="2025-09-01"),
    ]
    return built(tmp_path_factory, "plateaus", rows)


@pytest.fixture(scope="module")
def plateaus_report(plateaus) -> dict:
    return report(plateaus)["plateaus"]


def test_plateau_counts_assessed_plateaued_and_sessions_after(plateaus_report):
    assert (plateaus_report["measure"], plateaus_report["window"]) == ("phq9", 4)
    assert plateaus_report["assessed"] == 6            # all but C6
    assert plateaus_report["plateaued"] == 4           # A/2, A/10, B9, B10
    assert plateaus_report["sessions_after_plateau"] == 4   # 0 + 3 + 0 + 1


def test_plateau_window_at_the_clinical_range_boundary(plateaus_report):
    listed = {(e["client_id"], e["episode_id"]) for e in plateaus_report["episodes"]}
    assert ("A", "2") in listed       # 10, 10, 12, 13
    assert ("C2", "1") not in listed  # 9, 10, 12, 13


def test_plateau_spread_must_be_below_the_reliable_change(plateaus_report):
    listed = {(e["client_id"], e["episode_id"]) for e in plateaus_report["episodes"]}
    assert ("B9", "1") in listed      # 10, 15, 12, 13: spread 5
    assert ("C4", "1") not in listed  # 10, 16, 12, 13: spread 6


def test_unscored_sessions_are_skipped_and_plateau_session_is_the_windows_first_score(plateaus_report):
    b10 = next(e for e in plateaus_report["episodes"] if e["client_id"] == "B10")
    assert b10 == {"client_id": "B10", "episode_id": "1", "status": "open",
                   "plateau_session": 1, "sessions_after_plateau": 1}


def test_episode_with_fewer_than_window_scores_is_not_assessed(plateaus):
    assert plateaus.query("SELECT count(*) AS n FROM plateaus WHERE client_id = 'C6'")["n"][0] == 0


def test_plateau_episodes_sorted_by_client_then_episode_as_strings(plateaus_report):
    assert plateaus_report["episodes"] == [
        {"client_id": "A", "episode_id": "10", "status": "closed", "plateau_session": 3, "sessions_after_plateau": 3},
        {"client_id": "A", "episode_id": "2", "status": "closed", "plateau_session": 1, "sessions_after_plateau": 0},
        {"client_id": "B10", "episode_id": "1", "status": "open", "plateau_session": 1, "sessions_after_plateau": 1},
        {"client_id": "B9", "episode_id": "1", "status": "closed", "plateau_session": 1, "sessions_after_plateau": 0},
    ]


def test_plateau_spread_of_exactly_the_reliable_change_recorded_with_a_decimal_does_not_qualify(warehouse):
    # plateau measure ORS (caseness < 25, reliable change 5): 20.4 - 15.4 is a 5-point spread, not < 5
    warehouse.load([
        *course("E1", dates(START, 4), discharge_date=plus(START, 21), discharge_reason="planned",
                ors=[15.4, 20.4, 18.0, 17.0]),
        *course("E2", dates(START, 4), discharge_date=plus(START, 21), discharge_reason="planned",
                ors=[15.5, 20.4, 18.0, 17.0]),
    ], settings=Settings(plateau_measure="ors"))
    result = report(warehouse)["plateaus"]
    assert (result["measure"], result["assessed"], result["plateaued"]) == ("ors", 2, 1)
    assert [e["client_id"] for e in result["episodes"]] == ["E2"]


# === 4.5 time to discharge =======================================================================


@pytest.fixture(scope="module")
def discharge_times(tmp_path_factory) -> Warehouse:
    rows = [
        *course("K1", ["2026-03-02"], discharge_date="2026-03-02", discharge_reason="planned"),       # 0, event
        *course("K2", dates("2026-03-02", 2), discharge_date="2026-03-12", discharge_reason="planned"),  # 10, event
        *course("K3", ["2026-03-02"], discharge_date="2026-03-12", discharge_reason="planned"),       # 10, event
        *course("K4", dates("2026-06-10", 3)),                                                         # 20, open
        *course("K5", dates("2026-01-05", 5), discharge_date="2026-02-04", discharge_reason="planned"),  # 30, event
        *course("K6", ["2026-05-31"]),                                                                 # 30, open
        *course("K7", dates("2025-12-01", 4), discharge_date="2026-03-01", discharge_reason="planned"),  # 90, event
    ]
    return built(tmp_path_factory, "discharge_times", rows)


@pytest.fixture(scope="module")
def discharge_report(discharge_times) -> dict:
    return report(discharge_times)["time_to_discharge"]


def test_durations_are_to_end_date_when_closed_and_to_extract_date_when_open(discharge_times):
    durations = dict(discharge_times.query("SELECT client_id, duration_days FROM time_to_discharge").iter_rows())
    assert durations == {"K1": 0, "K2": 10, "K3": 10, "K4": 20, "K5": 30, "K6": 30, "K7": 90}


def test_open_episodes_are_censored(discharge_report):
    assert (discharge_report["events"], discharge_report["censored"]) == (5, 2)


def test_curve_has_day_0_and_one_point_per_event_day(discharge_report):
    # at risk 7, 1 event on day 0: 6/7; day 10: 2 of 6: 4/7; day 20 censored only (no point);
    # day 30: 1 of 3 (K6 censored that day is still at risk): 8/21; day 90: 1 of 1: 0
    curve = [(p["day"], p["survival"]) for p in discharge_report["curve"]]
    assert [day for day, _ in curve] == [0, 10, 30, 90]
    assert [s for _, s in curve] == pytest.approx([6 / 7, 4 / 7, 8 / 21, 0.0], abs=1e-12)


def test_same_day_discharge_moves_the_day_0_point_below_1(discharge_report):
    assert discharge_report["curve"][0] == {"day": 0, "survival": pytest.approx(6 / 7, abs=1e-12)}


def test_median_days_is_the_first_event_day_at_or_below_half(discharge_report):
    assert discharge_report["median_days"] == 30   # 4/7 > .5 on day 10, 8/21 <= .5 on day 30


def test_sessions_at_discharge_counts_closed_episodes_by_attended_sessions(discharge_report):
    # closed: K1 1, K2 2, K3 1, K5 5, K7 4 sessions
    assert discharge_report["sessions_at_discharge"] == [
        {"attended_sessions": 1, "episodes": 2}, {"attended_sessions": 2, "episodes": 1},
        {"attended_sessions": 4, "episodes": 1}, {"attended_sessions": 5, "episodes": 1},
    ]


def test_curve_keeps_its_day_0_point_when_no_episode_is_in_scope(discharge_times):
    ttd = report(discharge_times, Scope(clinics=("no such clinic",)))["time_to_discharge"]
    assert (ttd["events"], ttd["censored"], ttd["median_days"]) == (0, 0, None)
    assert ttd["curve"] == [{"day": 0, "survival": 1.0}]


def single_session_discharged_after(client: str, days: int, first: str = "2026-01-05") -> list[dict]:
    return course(client, [first], discharge_date=plus(first, days), discharge_reason="planned")


def test_median_days_counts_a_share_of_exactly_half_despite_rounding(warehouse):
    # events on days 1..6: 5/6 * 4/5 * 3/4 = 1/2 on day 3, which floating point can put a hair above .5
    warehouse.load([row for k in range(1, 7) for row in single_session_discharged_after(f"M{k}", k)])
    ttd = report(warehouse)["time_to_discharge"]
    assert ttd["curve"][3] == {"day": 3, "survival": pytest.approx(0.5, abs=1e-12)}
    assert ttd["median_days"] == 3


def test_median_days_is_null_when_the_share_never_reaches_half(warehouse):
    warehouse.load([
        *single_session_discharged_after("N1", 5),
        *course("N2", ["2026-06-01"]), *course("N3", ["2026-06-02"]), *course("N4", ["2026-06-03"]),
    ])
    ttd = report(warehouse)["time_to_discharge"]
    assert [(p["day"], p["survival"]) for p in ttd["curve"]] == [(0, 1.0), (5, 0.75)]
    assert ttd["median_days"] is None


# === 4.6 risk follow-up gaps =====================================================================

RISK = "2026-01-05"


@pytest.fixture(scope="module")
def risk(tmp_path_factory) -> Warehouse:
    def rows_of(client: str, *appointments: tuple, **episode) -> list[dict]:
        """(date, status, item9) per appointment, numbered in order; therapist/clinic as given."""
        out = []
        for k, (date, status, item9, *who) in enumerate(appointments):
            therapist, clinic = who if who else ("T1", "K1")
            scores = {"phq9": 15, "phq9_item9": item9} if item9 is not None else {}
            out.append(appointment(f"{client}/{k + 1}", date, status=status, client=client, therapist=therapist,
                                   clinic=clinic, episode_id="1", **scores, **episode))
        return out

    rows = [
        # flagged, then a DNA and nothing more: a gap whose next contact is the DNA
        *rows_of("R1", (RISK, "attended", 2), ("2026-01-12", "dna", None)),
        # flagged, DNA, a cancellation, back 35 days later: a gap that returned later
        *rows_of("R2", (RISK, "attended", 1), ("2026-01-12", "dna", None), ("2026-01-15", "cancelled by client", None),
                 ("2026-02-09", "attended", 0)),
        # followed up on day 14: inside the window, no gap
        *rows_of("R3", (RISK, "attended", 1), ("2026-01-19", "attended", 0)),
        # followed up on day 15: outside the window, a gap that returned later
        *rows_of("R4", (RISK, "attended", 1), ("2026-01-20", "attended", 0)),
        # flagged 10 days before E: the window is still running, no gap yet
        *rows_of("R5", ("2026-06-20", "attended", 3)),
        # flagged exactly 14 days before E (r + 14 = E): a gap; the next contact is a future booking
        *rows_of("R6", ("2026-06-16", "attended", 1), ("2026-07-03", "scheduled", None)),
        # an earlier unfollowed flag superseded by a later flag that was followed up: no gap
        *rows_of("R7", (RISK, "attended", 3), ("2026-02-09", "attended", 1), ("2026-02-16", "attended", 0)),
        # an earlier flag followed up, the latest not: a gap on the latest
        *rows_of("R8", (RISK, "attended", 1), ("2026-01-12", "attended", 0), ("2026-01-19", "attended", 2)),
        # discharged at the flagged session; session 1 with TA/KA, the flagged one with TB/KB
        *rows_of("R9", ("2025-12-29", "attended", 0, "TA", "KA"), (RISK, "attended", 2, "TB", "KB"),
                 discharge_date=RISK, discharge_reason="planned"),
        # item 9 = 0 is no flag; item 9 on a DNA row is ignored
        *rows_of("RA", (RISK, "attended", 0)),
        *rows_of("RB", ("2025-12-29", "attended", 0), (RISK, "dna", 3)),
    ]
    return built(tmp_path_factory, "risk", rows)


@pytest.fixture(scope="module")
def gaps(risk) -> dict[str, dict]:
    listed = report(risk)["risk_followup_gaps"]
    assert [g["client_id"] for g in listed] == sorted(g["client_id"] for g in listed)
    return {g["client_id"]: g for g in listed}


def test_risk_gaps_listed_are_exactly_the_unfollowed_latest_flags(gaps):
    assert sorted(gaps) == ["R1", "R2", "R4", "R6", "R8", "R9"]


def test_gap_with_a_dna_as_next_contact(gaps):
    assert gaps["R1"] == {"client_id": "R1", "episode_id": "1", "therapist_id": "T1", "clinic_id": "K1",
                          "risk_date": RISK, "item9": 2, "next_contact_date": "2026-01-12",
                          "next_contact_status": "dna", "returned_later": False}


def test_return_after_the_window_is_still_a_gap_and_returned_later(gaps):
    r2 = gaps["R2"]
    assert (r2["next_contact_date"], r2["next_contact_status"], r2["returned_later"]) == ("2026-01-12", "dna", True)


def test_follow_up_on_day_14_is_inside_the_window_and_day_15_is_not(gaps):
    assert "R3" not in gaps
    r4 = gaps["R4"]
    assert (r4["next_contact_date"], r4["next_contact_status"], r4["returned_later"]) == ("2026-01-20", "attended", True)


def test_window_still_running_at_the_extract_date_is_no_gap_yet(gaps):
    assert "R5" not in gaps      # r + 14 = 2026-07-04 > E
    r6 = gaps["R6"]              # r + 14 = E: the window has closed
    assert (r6["risk_date"], r6["item9"]) == ("2026-06-16", 1)
    assert (r6["next_contact_date"], r6["next_contact_status"], r6["returned_later"]) == ("2026-07-03", "scheduled", False)


def test_latest_risk_session_supersedes_earlier_ones(gaps):
    assert "R7" not in gaps
    r8 = gaps["R8"]
    assert (r8["risk_date"], r8["item9"], r8["next_contact_date"], r8["next_contact_status"], r8["returned_later"]) \
        == ("2026-01-19", 2, None, None, False)


def test_discharged_episode_is_included_with_its_attributed_therapist_and_clinic(risk, gaps):
    assert risk.episode("R9")["status"] == "closed"
    r9 = gaps["R9"]
    assert (r9["therapist_id"], r9["clinic_id"], r9["risk_date"], r9["item9"]) == ("TA", "KA", RISK, 2)
    assert (r9["next_contact_date"], r9["returned_later"]) == (None, False)


def test_item9_zero_and_flags_on_missed_appointments_are_not_risk(gaps):
    assert "RA" not in gaps and "RB" not in gaps


# === 4.7 long engagement =========================================================================


@pytest.fixture(scope="module")
def long_engagement(tmp_path_factory) -> Warehouse:
    twenty = dates("2025-09-01", 20)   # 2025-09-01 .. 2026-01-12: 133 days
    nineteen = dates("2025-09-01", 19)
    year = ["2025-01-06", "2025-06-02", "2025-12-29"]
    monthly = [f"{y}-{m:02d}-02" for y, m in [(2025, m) for m in range(6, 13)] + [(2026, m) for m in range(1, 7)]]
    rows = [
        # 20 sessions: listed; 18 -> 11 is a reliable improvement; 2 scores: not assessed, not plateaued
        *course("L1", twenty, discharge_date=twenty[-1], discharge_reason="planned", phq9=[18, 11]),
        # 19 sessions over 126 days: not listed
        *course("L2", nineteen, discharge_date=nineteen[-1], discharge_reason="planned", phq9=[18, 11]),
        # 365 days (2025-01-06 .. 2026-01-06): listed; 20 -> 13 was a reliable improvement at some point
        *course("L3", year, discharge_date="2026-01-06", discharge_reason="planned", phq9=[20, 13, 19]),
        # 364 days: not listed
        *course("L4", year, discharge_date="2026-01-05", discharge_reason="planned", phq9=[20, 13, 19]),
        # open since 2025-06-02 (393 days to E), monthly: listed; plateaued, no reliable improvement
        *course("L5", monthly, phq9=[15, 14, 15, 16, 15]),
    ]
    return built(tmp_path_factory, "long_engagement", rows)


def test_long_engagement_is_20_sessions_or_365_days_with_improvement_and_plateau_flags(long_engagement):
    assert report(long_engagement)["long_engagement"] == [
        {"client_id": "L1", "episode_id": "1", "status": "closed", "attended_sessions": 20, "duration_days": 133,
         "reliable_improvement": True, "plateaued": False},
        {"client_id": "L3", "episode_id": "1", "status": "closed", "attended_sessions": 3, "duration_days": 365,
         "reliable_improvement": True, "plateaued": False},
        {"client_id": "L5", "episode_id": "1", "status": "open", "attended_sessions": 13, "duration_days": 393,
         "reliable_improvement": False, "plateaued": True},
    ]


def test_364_days_and_19_sessions_are_not_long_engagement(long_engagement):
    durations = dict(long_engagement.query("SELECT client_id, duration_days FROM episodes").iter_rows())
    assert (durations["L2"], durations["L4"]) == (126, 364)
    assert {e["client_id"] for e in report(long_engagement)["long_engagement"]}.isdisjoint({"L2", "L4"})


# === filters ========================================================================================


@pytest.fixture(scope="module")
def filters(tmp_path_factory) -> Warehouse:
    rows = [
        # session 1 with T1/K1, session 2 with T2/K2: attributed to T1/K1, cohort 2026-01
        appointment("F1/1", "2026-01-05", client="F1", therapist="T1", clinic="K1", episode_id="1"),
        appointment("F1/2", "2026-01-12", client="F1", therapist="T2", clinic="K2", episode_id="1",
                    discharge_date="2026-01-12", discharge_reason="planned"),
        # session 1 with T2/K2 on 2026-02-01, session 2 with T1/K1
        appointment("F2/1", "2026-02-01", client="F2", therapist="T2", clinic="K2", episode_id="1"),
        appointment("F2/2", "2026-02-08", client="F2", therapist="T1", clinic="K1", episode_id="1",
                    discharge_date="2026-02-08", discharge_reason="planned"),
        # T3/K1, single-session dropout on 2026-03-01
        appointment("F3/1", "2026-03-01", client="F3", therapist="T3", clinic="K1", episode_id="1",
                    discharge_date="2026-03-01", discharge_reason="dropout"),
        # not started: a DNA with T1/K1 in January
        appointment("F4/1", "2026-01-10", status="dna", client="F4", therapist="T1", clinic="K1", episode_id="1"),
        # T1/K1 single session on 2026-01-31, never back: inactive
        appointment("F5/1", "2026-01-31", client="F5", therapist="T1", clinic="K1", episode_id="1"),
        # T1/K1, open, 2026-06
        appointment("F6/1", "2026-06-01", client="F6", therapist="T1", clinic="K1", episode_id="1"),
    ]
    return built(tmp_path_factory, "filters", rows)


def months(result: dict) -> list[tuple]:
    return [(m["month"], m["numerator"], m["denominator"], m["open"]) for m in result["single_session"]["by_month"]]


def test_no_filter_counts_not_started_episodes(filters):
    result = report(filters)
    assert result["episodes"] == {"total": 6, "not_started": 1, "open": 1, "closed": 4}
    assert months(result) == [("2026-01", 1, 2, 0), ("2026-02", 0, 1, 0), ("2026-03", 1, 1, 0), ("2026-06", 0, 0, 1)]


def test_clinic_filter_selects_by_session_1_clinic_and_leaves_out_not_started(filters):
    result = report(filters, Scope(clinics=("K1",)))      # F1, F3, F5, F6 (not F2, not F4)
    assert result["episodes"] == {"total": 4, "not_started": 0, "open": 1, "closed": 3}
    assert months(result) == [("2026-01", 1, 2, 0), ("2026-03", 1, 1, 0), ("2026-06", 0, 0, 1)]


def test_therapist_filter_selects_by_session_1_therapist(filters):
    result = report(filters, Scope(therapists=("T1",)))   # F1, F5, F6 (F2 saw T1 only at session 2)
    assert result["episodes"] == {"total": 3, "not_started": 0, "open": 1, "closed": 2}
    assert months(result) == [("2026-01", 1, 2, 0), ("2026-06", 0, 0, 1)]
    assert [t["therapist_id"] for t in result["therapists"]] == ["T1"]


def test_from_filter_is_inclusive_on_first_attended_date(filters):
    result = report(filters, Scope(from_date=dt.date(2026, 2, 1)))   # F2 (on the day), F3, F6
    assert result["episodes"] == {"total": 3, "not_started": 0, "open": 1, "closed": 2}
    assert months(result) == [("2026-02", 0, 1, 0), ("2026-03", 1, 1, 0), ("2026-06", 0, 0, 1)]


def test_to_filter_is_inclusive_and_leaves_out_not_started(filters):
    result = report(filters, Scope(to_date=dt.date(2026, 1, 31)))    # F1, F5 (on the day); not F4
    assert result["episodes"] == {"total": 2, "not_started": 0, "open": 0, "closed": 2}
    assert months(result) == [("2026-01", 1, 2, 0)]


def test_from_and_to_together_bound_both_ends(filters):
    result = report(filters, Scope(from_date=dt.date(2026, 2, 1), to_date=dt.date(2026, 3, 1)))   # F2, F3
    assert result["episodes"] == {"total": 2, "not_started": 0, "open": 0, "closed": 2}


# === ids are strings ================================================================================


@pytest.fixture(scope="module")
def numeric_ids(tmp_path_factory) -> Warehouse:
    # 20 weekly sessions with a flat PHQ-9 (plateau, long engagement) and item 9 on the last (risk gap)
    when = dates("2025-06-02", 20)
    rows = course("007", when, episode="01", therapist="0042", clinic="1",
                  phq9=[12] * 20, phq9_item9=[0] * 19 + [1])
    return built(tmp_path_factory, "numeric_ids", rows)


def assert_ids_are_the_strings(result: dict) -> None:
    assert [t["therapist_id"] for t in result["therapists"]] == ["0042"]
    for entry in (result["plateaus"]["episodes"][0], result["risk_followup_gaps"][0], result["long_engagement"][0]):
        assert (entry["client_id"], entry["episode_id"]) == ("007", "01")
    gap = result["risk_followup_gaps"][0]
    assert (gap["therapist_id"], gap["clinic_id"]) == ("0042", "1")


def test_numeric_looking_ids_stay_json_strings(numeric_ids):
    assert_ids_are_the_strings(json.loads(json.dumps(report(numeric_ids))))


def test_numeric_looking_ids_stay_json_strings_through_the_cli(numeric_ids):
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(numeric_ids.path), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=120,
    )
    assert_ids_are_the_strings(json.loads(completed.stdout))
