"""The metrics report (docs/metrics/report.md) validates against a strict JSON Schema,
unfiltered and with each filter, in process and through `python -m pipelines.cli metrics --format
json`; lists are sorted as that page states.

The schema (tests/metrics_report.schema.json, Draft 2020-12) requires every key of the report's
core at every level and pins the types: ids are strings, rates number or null, dates YYYY-MM-DD, flags and
statuses from their enums. Extra keys (p0, early_change, dose_response, build, …) are allowed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import appointment, report, run_cli
from pipelines.queries import Scope

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = Path(__file__).with_name("metrics_report.schema.json")

FROM = dt.date(2024, 1, 1)
TO = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def filter_values(sample_like_warehouse) -> dict[str, str]:
    """A clinic and the therapist with the most closed episodes in the sample-like warehouse."""
    busiest = sample_like_warehouse.query(
        "SELECT therapist_id, clinic_id FROM episodes WHERE status = 'closed' "
        "GROUP BY ALL ORDER BY count(*) DESC, therapist_id LIMIT 1").row(0, named=True)
    return {"clinic": busiest["clinic_id"], "therapist": busiest["therapist_id"]}


FILTERS = ["none", "clinic", "therapist", "from", "to"]


def scope_and_args(kind: str, values: dict[str, str]) -> tuple[Scope, list[str]]:
    if kind == "none":
        return Scope(), []
    if kind == "clinic":
        return Scope(clinics=(values["clinic"],)), ["--clinic", values["clinic"]]
    if kind == "therapist":
        return Scope(therapists=(values["therapist"],)), ["--therapist", values["therapist"]]
    if kind == "from":
        return Scope(from_date=FROM), ["--from", FROM.isoformat()]
    if kind == "to":
        return Scope(to_date=TO), ["--to", TO.isoformat()]
    raise ValueError(kind)


@pytest.fixture(scope="module")
def reports(sample_like_warehouse, filter_values) -> dict[str, dict]:
    """The report for each filter, as JSON would carry it."""
    return {kind: json.loads(json.dumps(report(sample_like_warehouse, scope_and_args(kind, filter_values)[0])))
            for kind in FILTERS}


def errors(validator, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FILTERS)
def test_report_validates_against_the_schema(validator, reports, kind):
    assert errors(validator, reports[kind]) == []


def test_report_with_nothing_in_scope_validates(validator, sample_like_warehouse):
    empty = json.loads(json.dumps(report(sample_like_warehouse, Scope(clinics=("no such clinic",)))))
    assert empty["episodes"] == {"total": 0, "not_started": 0, "open": 0, "closed": 0}
    assert errors(validator, empty) == []


def test_filters_narrow_the_report_and_drop_not_started(reports):
    unfiltered = reports["none"]["episodes"]
    assert unfiltered["not_started"] > 0
    for kind in FILTERS[1:]:
        episodes = reports[kind]["episodes"]
        assert 0 < episodes["total"] < unfiltered["total"], kind
        assert episodes["not_started"] == 0, kind
        assert episodes["total"] == episodes["open"] + episodes["closed"], kind


def test_sample_report_is_not_trivially_empty(reports):
    # so that the schema's item rules are exercised
    full = reports["none"]
    for listed in (full["therapists"], full["plateaus"]["episodes"], full["risk_followup_gaps"],
                   full["long_engagement"], full["single_session"]["by_month"],
                   full["single_session"]["by_first_session_type"]):
        assert listed
    assert set(full["outcomes"]) == {"phq9", "gad7", "core10", "ors"}
    assert any(g["next_contact_date"] is None for g in full["risk_followup_gaps"])
    assert any(g["next_contact_date"] is not None for g in full["risk_followup_gaps"])
    assert {t["flag"] for t in full["therapists"]} >= {"insufficient", "none"}


@pytest.mark.parametrize("kind", FILTERS)
def test_cli_json_validates_and_equals_the_report(validator, sample_like_warehouse, filter_values, reports, kind):
    _, args = scope_and_args(kind, filter_values)
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(sample_like_warehouse.path),
         "--format", "json", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    printed = json.loads(completed.stdout)
    assert errors(validator, printed) == []
    assert printed == reports[kind]


def test_cli_json_with_nothing_in_scope_prints_empty_lists(sample_like_warehouse):
    printed = run_cli("metrics", "--db", str(sample_like_warehouse.path), "--clinic", "no such clinic")
    assert printed.returncode == 0, printed.stderr
    empty = json.loads(printed.stdout)
    assert empty["plateaus"]["episodes"] == empty["risk_followup_gaps"] == empty["long_engagement"] == []
    assert empty["therapist_adjustment"] == {"eligible": 0, "phi": None, "tau2": 0.0}
    assert empty == json.loads(json.dumps(report(sample_like_warehouse, Scope(clinics=("no such clinic",)))))


def test_cli_json_carries_ids_with_quotes_backslashes_and_letters_beyond_ascii_exactly(warehouse):
    """The long lists are written by polars, the rest by Python's json: one UTF-8 document that
    reads back to the report, whatever characters the ids hold."""
    client, therapist = 'C"\\1 Zo\u2028ë', "T-Ørsted"  # (a line separator inside, where trimming keeps it)
    warehouse.load([
        appointment("A1", "2026-01-05", client=client, therapist=therapist, episode_id="ép 1", phq9=15, phq9_item9=2),
        appointment("A2", "2026-03-02", client=client, therapist=therapist, episode_id="ép 1", phq9=14),
    ])
    printed = subprocess.run([sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(warehouse.path)],
                             capture_output=True, cwd=ROOT, timeout=120,
                             env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert printed.returncode == 0, printed.stderr
    from_cli = json.loads(printed.stdout.decode("utf-8"))
    [gap] = from_cli["risk_followup_gaps"]
    assert (gap["client_id"], gap["episode_id"], gap["therapist_id"]) == (client, "ép 1", therapist)
    assert from_cli == json.loads(json.dumps(report(warehouse)))


def rates_in(node, path="") -> list[tuple[str, object]]:
    """Every value under a key named 'rate' (plus limits), with where it is."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("rate", "limit95", "limit998", "survival"):
                found.append((f"{path}/{key}", value))
            found += rates_in(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += rates_in(value, f"{path}/{i}")
    return found


@pytest.mark.parametrize("kind", FILTERS)
def test_rates_are_floats_or_null(reports, kind):
    rates = rates_in(reports[kind])
    assert rates
    assert [(where, value) for where, value in rates if not (value is None or isinstance(value, float))] == []


# --- the schema is strict enough to fail ---------------------------------------------------------


def broken(report_: dict, change) -> dict:
    copied = copy.deepcopy(report_)
    change(copied)
    return copied


@pytest.mark.parametrize("change", [
    pytest.param(lambda r: r.pop("risk_followup_gaps"), id="missing-top-level-key"),
    pytest.param(lambda r: r["episodes"].pop("not_started"), id="missing-episode-count"),
    pytest.param(lambda r: r["therapists"][0].update(therapist_id=103), id="numeric-therapist-id"),
    pytest.param(lambda r: r["therapists"][0].pop("limit95"), id="therapist-without-limit"),
    pytest.param(lambda r: r["therapists"][0].update(flag="warning"), id="unknown-flag"),
    pytest.param(lambda r: r["therapists"][0].pop("adjusted_flag"), id="therapist-without-adjusted-flag"),
    pytest.param(lambda r: r["therapists"][0].update(expected="2.4"), id="expected-as-string"),
    pytest.param(lambda r: r.pop("therapist_adjustment"), id="missing-therapist-adjustment"),
    pytest.param(lambda r: r["therapist_adjustment"].update(eligible=3, phi=1.2), id="phi-with-fewer-than-10-eligible"),
    pytest.param(lambda r: r["long_engagement"][0].update(episode_id=1), id="numeric-episode-id"),
    pytest.param(lambda r: r["long_engagement"][0].update(status="not_started"), id="not-started-listed"),
    pytest.param(lambda r: r["risk_followup_gaps"][0].update(risk_date="2026-1-5"), id="unpadded-date"),
    pytest.param(lambda r: r["risk_followup_gaps"][0].update(next_contact_status="no show"), id="raw-status"),
    pytest.param(lambda r: r["single_session"]["dropout"].update(rate="0.3"), id="rate-as-string"),
    pytest.param(lambda r: r["single_session"]["by_month"][0].pop("open"), id="month-without-open"),
    pytest.param(lambda r: r["outcomes"]["phq9"].pop("reliable_recovery"), id="outcome-without-key"),
    pytest.param(lambda r: r["plateaus"]["episodes"][0].pop("plateau_session"), id="plateau-without-session"),
    pytest.param(lambda r: r["time_to_discharge"].update(curve=[]), id="empty-curve"),
    pytest.param(lambda r: r.update(extract_date="30/06/2026"), id="non-iso-extract-date"),
])
def test_schema_rejects_a_broken_report(validator, reports, change):
    assert errors(validator, broken(reports["none"], change)) != []


# --- sorting ---------------------------------------------------------------------------------------


def by_client_then_episode(entries: list[dict]) -> list[tuple[str, str]]:
    return [(e["client_id"], e["episode_id"]) for e in entries]


@pytest.mark.parametrize("kind", FILTERS)
def test_by_month_is_sorted_by_month(reports, kind):
    months = [m["month"] for m in reports[kind]["single_session"]["by_month"]]
    assert months and months == sorted(set(months))


@pytest.mark.parametrize("kind", FILTERS)
def test_by_first_session_type_is_alphabetical_with_null_last(reports, kind):
    types = [t["session_type"] for t in reports[kind]["single_session"]["by_first_session_type"]]
    named = [t for t in types if t is not None]
    assert types == sorted(set(named)) + [None] * (len(types) - len(named))
    assert types.count(None) <= 1


@pytest.mark.parametrize("kind", FILTERS)
def test_therapists_are_sorted_by_therapist_id(reports, kind):
    ids = [t["therapist_id"] for t in reports[kind]["therapists"]]
    assert ids and ids == sorted(set(ids))


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("section", ["plateaus", "risk_followup_gaps", "long_engagement"])
def test_episode_lists_are_sorted_by_client_then_episode(reports, kind, section):
    entries = reports[kind]["plateaus"]["episodes"] if section == "plateaus" else reports[kind][section]
    keys = by_client_then_episode(entries)
    assert keys == sorted(set(keys))


@pytest.mark.parametrize("kind", FILTERS)
def test_curve_is_by_day_from_day_0(reports, kind):
    days = [p["day"] for p in reports[kind]["time_to_discharge"]["curve"]]
    assert days[0] == 0 and days == sorted(set(days))
    survival = [p["survival"] for p in reports[kind]["time_to_discharge"]["curve"]]
    assert survival == sorted(survival, reverse=True)
