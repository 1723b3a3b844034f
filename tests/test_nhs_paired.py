"""The national paired measures (docs/metrics/nhs-paired.md): finished treatment, paired on PHQ-9 and
GAD-7, caseness on either, recovery on both, reliable improvement / deterioration / recovery.

One hand-worked appointment log below, loaded once; the expected numbers are worked out in the
comments. PHQ-9: caseness >= 10, reliable change 6; GAD-7: caseness >= 8, reliable change 4
(docs/metrics/outcomes.md). Every episode is closed (planned discharge) unless marked open.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXTRACT, Warehouse, report
from pipelines.queries import Scope
from test_metrics import course, dates, rate_of

START = "2026-01-05"
LATER = "2026-03-02"  # the one episode of clinic K2 (therapist T2) starts here
SCHEMA = json.loads(Path(__file__).with_name("metrics_report.schema.json").read_text(encoding="utf-8"))
PAGE = Path(__file__).resolve().parents[1] / "docs" / "metrics" / "nhs-paired.md"


def closed(client: str, types: list[str | None], start: str = START, **scores: list) -> list[dict]:
    """A closed episode, weekly sessions of the given types, scores by position."""
    when = dates(start, len(types))
    return course(client, when, discharge_date=when[-1], discharge_reason="planned", session_type=types,
                  **scores)


ASSESS_TREAT = ["assessment", "treatment", "treatment"]  # finished: two treatment sessions
TREAT = ["treatment", "treatment"]


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> Warehouse:
    rows = [
        # assessment + one treatment session: not finished, though paired and recovered
        *closed("N1", ["assessment", "treatment"], phq9=[15, 5], gad7=[12, 3]),
        # assessment + two treatment: finished; case; recovered; improved 10 and 9: RI, reliable recovery
        *closed("F1", ASSESS_TREAT, phq9=[15, 12, 5], gad7=[12, 10, 3]),
        # no session type: counts as treatment, finished; case; 14 -> 8, 9 -> 5: recovery; RI (6 and 4)
        *closed("U1", [None, None], phq9=[14, 8], gad7=[9, 5]),
        # caseness on the anxiety measure only (PHQ-9 8); recovered; GAD-7 improves 5: RI, reliable recovery
        *closed("A1", TREAT, phq9=[8, 7], gad7=[10, 5]),
        # PHQ-9 improves 8, GAD-7 worsens 6: neither RI nor RD; case; last PHQ-9 10: not recovered
        *closed("M1", TREAT, phq9=[18, 10], gad7=[6, 12]),
        # GAD-7 scored once: paired on PHQ-9 only, so not paired
        *closed("P1", TREAT, phq9=[16, 4], gad7=[10, None]),
        # recovery boundaries: last PHQ-9 9 and GAD-7 7 recover; 10 or 8 do not (all cases at start)
        *closed("B1", TREAT, phq9=[12, 9], gad7=[9, 7]),   # recovered, changes 3 and 2: not RI
        *closed("B2", TREAT, phq9=[12, 10], gad7=[9, 7]),  # last PHQ-9 10: not recovered
        *closed("B3", TREAT, phq9=[12, 9], gad7=[9, 8]),   # last GAD-7 8: not recovered
        # caseness boundaries: first PHQ-9 9 and GAD-7 7 are not a case; 10 or 8 are
        *closed("B4", TREAT, phq9=[9, 3], gad7=[7, 2]),    # not a case; improves 6 and 5: RI
        *closed("B5", TREAT, phq9=[10, 9], gad7=[5, 5]),   # a case on PHQ-9 10; recovered
        *closed("B6", TREAT, phq9=[9, 9], gad7=[8, 7]),    # a case on GAD-7 8; recovered
        # PHQ-9 worsens 6, GAD-7 2: RD; not a case at the start
        *closed("D1", TREAT, phq9=[5, 11], gad7=[4, 6]),
        # finished with no scores: counted as finished only
        *closed("Z1", TREAT),
        # open: paired and finished-looking, but not closed, so not counted at all
        *course("O1", dates("2026-05-04", 3), session_type=ASSESS_TREAT, phq9=[20, 15, 5], gad7=[15, 10, 3]),
        # the other clinic and therapist: finished, case, recovered, RI on both: reliable recovery
        *[{**row, "clinic_id": "K2", "therapist_id": "T2"}
          for row in closed("F2", TREAT, start=LATER, phq9=[20, 5], gad7=[15, 4])],
    ]
    warehouse = Warehouse(tmp_path_factory.mktemp("nhs_paired"))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


@pytest.fixture(scope="module")
def nhs(paired) -> dict:
    return report(paired)["nhs_paired"]


def flags(warehouse: Warehouse, client: str) -> dict:
    rows = warehouse.query("SELECT * FROM nhs_paired WHERE client_id = ?", [client])
    assert rows.height == 1, f"expected one closed episode of {client}, found {rows.height}"
    return rows.row(0, named=True)


def test_assessment_and_one_treatment_session_is_not_finished_treatment(paired):
    assert flags(paired, "N1")["treatment_sessions"] == 1
    assert not flags(paired, "N1")["is_finished_treatment"]


def test_assessment_and_two_treatment_sessions_is_finished_treatment(paired):
    assert flags(paired, "F1")["treatment_sessions"] == 2
    assert flags(paired, "F1")["is_finished_treatment"]


def test_sessions_without_a_type_count_as_treatment(paired):
    assert flags(paired, "U1")["is_finished_treatment"]


@pytest.fixture(scope="module")
def not_assessment(tmp_path_factory) -> Warehouse:
    """Closed episodes with a review or an other session beside one treatment session."""
    warehouse = Warehouse(tmp_path_factory.mktemp("not_assessment"))
    warehouse.load([*closed("R1", ["review", "treatment"]), *closed("O2", ["other", "treatment"]),
                    *closed("A2", ["assessment", "assessment", "treatment"])], extract_date=EXTRACT)
    return warehouse


def test_every_session_but_an_assessment_counts_as_treatment(not_assessment):
    # a review or an other session is not an assessment: with one treatment session, two, finished
    for client in ("R1", "O2"):
        assert flags(not_assessment, client)["treatment_sessions"] == 2
        assert flags(not_assessment, client)["is_finished_treatment"]
    # two assessments and one treatment session: one, not finished
    assert flags(not_assessment, "A2")["treatment_sessions"] == 1
    assert not flags(not_assessment, "A2")["is_finished_treatment"]


def test_finished_treatment_counts_closed_episodes_with_two_treatment_sessions(nhs):
    # every closed episode but N1: F1 U1 A1 M1 P1 B1-B6 D1 Z1 F2; O1 is open
    assert nhs["finished_treatment"] == 14


def test_open_episodes_are_left_out(paired):
    assert paired.episode("O1")["status"] == "open"
    assert paired.query("SELECT * FROM nhs_paired WHERE client_id = 'O1'").height == 0


def test_paired_on_one_measure_only_is_not_paired(paired):
    assert flags(paired, "P1")["is_finished_treatment"]
    assert not flags(paired, "P1")["is_paired"]


def test_paired_counts_finished_episodes_paired_on_both_measures(nhs):
    # finished, less P1 (GAD-7 once) and Z1 (no scores)
    assert nhs["paired"] == 12


def test_caseness_on_the_anxiety_measure_alone_is_caseness(paired):
    assert flags(paired, "A1")["is_case_at_start"]


def test_caseness_starts_at_phq9_10_or_gad7_8(paired):
    assert not flags(paired, "B4")["is_case_at_start"]  # 9 and 7
    assert flags(paired, "B5")["is_case_at_start"]      # PHQ-9 10
    assert flags(paired, "B6")["is_case_at_start"]      # GAD-7 8


def test_recovery_needs_phq9_below_10_and_gad7_below_8_at_the_end(paired):
    assert flags(paired, "B1")["is_recovery"]          # 9 and 7
    assert not flags(paired, "B2")["is_recovery"]      # PHQ-9 10
    assert not flags(paired, "B3")["is_recovery"]      # GAD-7 8


def test_recovery_is_out_of_finished_paired_episodes_at_caseness(nhs):
    # at caseness: F1 U1 A1 M1 B1 B2 B3 B5 B6 F2 (not B4, D1); recovered: F1 U1 A1 B1 B5 B6 F2
    assert rate_of(nhs["recovery"]) == (7, 10, 0.7)


def test_improvement_on_one_measure_with_deterioration_on_the_other_is_neither(paired):
    assert not flags(paired, "M1")["is_reliable_improvement"]
    assert not flags(paired, "M1")["is_reliable_deterioration"]


def test_reliable_improvement_is_out_of_finished_paired_episodes(nhs):
    # F1 U1 A1 B4 F2 (A1 on GAD-7 alone, PHQ-9 unchanged within the reliable change)
    assert rate_of(nhs["reliable_improvement"]) == (5, 12, 5 / 12)


def test_reliable_deterioration_is_out_of_finished_paired_episodes(nhs):
    assert rate_of(nhs["reliable_deterioration"]) == (1, 12, 1 / 12)  # D1


def test_reliable_recovery_is_recovery_with_reliable_improvement(nhs):
    # recovered and RI: F1 U1 A1 F2 (B1, B5, B6 recover by changes below the reliable change)
    assert rate_of(nhs["reliable_recovery"]) == (4, 10, 0.4)


def test_filters_select_episodes_by_attribution_and_first_attended_date(paired):
    for scope in (Scope(clinics=("K2",)), Scope(therapists=("T2",)), Scope(from_date=dt.date.fromisoformat(LATER))):
        only_f2 = report(paired, scope)["nhs_paired"]
        assert (only_f2["finished_treatment"], only_f2["paired"]) == (1, 1), scope
        assert rate_of(only_f2["recovery"]) == (1, 1, 1.0), scope
    nobody = report(paired, Scope(clinics=("K9",)))["nhs_paired"]
    assert (nobody["finished_treatment"], nobody["paired"]) == (0, 0)
    assert rate_of(nobody["recovery"]) == (0, 0, None)


def test_nhs_paired_report_validates_against_the_schema(paired):
    jsonschema.Draft202012Validator(SCHEMA).validate(report(paired))


def test_the_worked_example_of_the_docs_page_gives_the_numbers_it_states(tmp_path):
    worked = PAGE.read_text(encoding="utf-8").split("## Worked example", 1)[1]
    log = re.search(r"```text\n(.*?)```", worked, re.DOTALL).group(1)
    (tmp_path / "example.csv").write_text(log, encoding="utf-8")
    warehouse = Warehouse(tmp_path)
    warehouse.load([tmp_path / "example.csv"], extract_date=EXTRACT)
    result = report(warehouse)
    nhs = result["nhs_paired"]
    assert (nhs["finished_treatment"], nhs["paired"]) == (3, 3)
    assert rate_of(nhs["recovery"]) == (2, 3, 2 / 3)
    assert rate_of(nhs["reliable_improvement"]) == (2, 3, 2 / 3)
    assert rate_of(nhs["reliable_deterioration"]) == (0, 3, 0.0)
    assert rate_of(nhs["reliable_recovery"]) == (2, 3, 2 / 3)
    assert rate_of(result["outcomes"]["phq9"]["recovery"]) == (3, 3, 1.0)


# --- for every log: the denominators nest and no episode both improves and deteriorates ---------

scored_episode = st.tuples(
    st.lists(st.sampled_from(["assessment", "treatment", "review", None]), min_size=1, max_size=4),
    st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=4, max_size=4),
    st.lists(st.one_of(st.none(), st.integers(0, 21)), min_size=4, max_size=4),
)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=st.lists(scored_episode, min_size=1, max_size=12))
def test_counts_nest_and_no_episode_is_both_reliably_improved_and_deteriorated(episodes):
    rows = [row for k, (types, phq9, gad7) in enumerate(episodes)
            for row in closed(f"H{k}", types, phq9=phq9, gad7=gad7)]
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(Path(folder))
        warehouse.load(rows, extract_date=EXTRACT)
        both = warehouse.query("SELECT count(*) AS n FROM nhs_paired "
                               "WHERE is_reliable_improvement AND is_reliable_deterioration")
        nhs = report(warehouse)["nhs_paired"]
    assert both["n"][0] == 0
    recovery, reliable_recovery = nhs["recovery"], nhs["reliable_recovery"]
    assert reliable_recovery["numerator"] <= recovery["numerator"] <= recovery["denominator"]
    assert recovery["denominator"] <= nhs["paired"] <= nhs["finished_treatment"] <= len(episodes)
    assert reliable_recovery["numerator"] <= nhs["reliable_improvement"]["numerator"]
    assert nhs["reliable_improvement"]["numerator"] + nhs["reliable_deterioration"]["numerator"] <= nhs["paired"]
