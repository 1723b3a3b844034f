"""The bundled sample's planted patterns (pipelines.generate.PLANTED) show up in the metrics report.

The sample is generate_appointments(2000, 42) extracted on EXTRACT_DATE; the warehouse is built
once for this module.
"""

from __future__ import annotations

import pytest

from conftest import Warehouse, report
from pipelines.generate import EXTRACT_DATE, PLANTED, generate_appointments, planted_client_ids, write_appointments

CLIENTS, SEED = 2000, 42


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Warehouse:
    folder = tmp_path_factory.mktemp("bundled_sample")
    warehouse = Warehouse(folder)
    warehouse.load([write_appointments(generate_appointments(CLIENTS, SEED), folder)], extract_date=EXTRACT_DATE)
    return warehouse


@pytest.fixture(scope="module")
def sample_report(sample) -> dict:
    return report(sample)


def planted(pattern: str) -> list[tuple[str, str]]:
    ids = planted_client_ids(pattern, CLIENTS)
    assert ids, pattern
    return [(client, PLANTED[pattern]["episode_id"]) for client in ids]


def keyed(entries: list[dict]) -> dict[tuple[str, str], dict]:
    return {(e["client_id"], e["episode_id"]): e for e in entries}


def test_planted_high_attrition_therapists_are_flagged_alarm(sample_report):
    therapists = {t["therapist_id"]: t for t in sample_report["therapists"]}
    for therapist_id in PLANTED["high_attrition_therapists"]:
        flagged = therapists[therapist_id]
        assert flagged["flag"] == "alarm", flagged
        assert flagged["denominator"] >= 10
        assert flagged["rate"] > flagged["limit998"] > flagged["limit95"]
        assert flagged["rate"] > 0.6   # they lose ~75% of new clients after one session


def test_planted_high_attrition_therapists_have_the_highest_dropout_rates(sample_report):
    sufficient = [t for t in sample_report["therapists"] if t["flag"] != "insufficient"]
    top_two = sorted(sufficient, key=lambda t: t["rate"], reverse=True)[:2]
    assert {t["therapist_id"] for t in top_two} == set(PLANTED["high_attrition_therapists"])


def test_planted_plateau_group_is_listed_in_plateaus(sample_report):
    listed = keyed(sample_report["plateaus"]["episodes"])
    group = planted("plateau_clients")
    missing = [key for key in group if key not in listed]
    assert missing == []
    # flat from the first session: the first window starts at session 1
    assert {listed[key]["plateau_session"] for key in group} == {1}
    # about a third are still open at the extract date, the rest closed
    assert {listed[key]["status"] for key in group} == {"open", "closed"}


def test_planted_plateaus_count_their_sessions_after_plateau(sample, sample_report):
    listed = keyed(sample_report["plateaus"]["episodes"])
    attended = {(c, e): n for c, e, n in sample.query(
        "SELECT client_id, episode_id, attended_sessions FROM episodes").iter_rows()}
    for key in planted("plateau_clients"):
        assert attended[key] >= 10
        assert listed[key]["sessions_after_plateau"] == attended[key] - 4


def test_planted_risk_gaps_are_listed(sample_report):
    listed = keyed(sample_report["risk_followup_gaps"])
    group = planted("risk_gap_clients")
    assert [key for key in group if key not in listed] == []
    # both variants: lost after the flag, and a late return after 30+ days
    assert {listed[key]["returned_later"] for key in group} == {True, False}
    for key in group:
        assert listed[key]["item9"] >= 1
        assert listed[key]["risk_date"] <= "2026-06-16"   # r + 14 <= E


def test_planted_long_engagements_are_listed(sample_report):
    listed = keyed(sample_report["long_engagement"])
    group = planted("long_engagement_clients")
    assert [key for key in group if key not in listed] == []
    assert all(listed[key]["attended_sessions"] >= 22 for key in group)
    # about 40% still open after 380+ days
    still_open = [listed[key] for key in group if listed[key]["status"] == "open"]
    assert still_open and all(e["duration_days"] >= 380 for e in still_open)
