"""The `metrics` report (docs/metrics/report.md): the report queries assembled into one JSON object."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import polars as pl

from pipelines.queries import MetricsReader, Scope

KM_TOLERANCE = 1e-9  # a product of fractions can land a hair above 0.5


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {"numerator": int(numerator), "denominator": int(denominator),
            "rate": numerator / denominator if denominator else None}


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _float(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _json_ready(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The columns, in order, with dates as YYYY-MM-DD text."""
    return frame.select(
        pl.col(c).dt.to_string("%Y-%m-%d") if frame.schema[c] == pl.Date else pl.col(c) for c in columns)


def records(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, converted in one pass: the long lists run to hundreds of
    thousands of rows at national scale."""
    return _json_ready(frame, columns).to_dicts()


# How a section turns a long list (plateaued episodes, risk follow-up gaps, long engagements) into
# its JSON value: records() for the report as dicts; metrics_json defers them to polars' writer.
Rows = Callable[[pl.DataFrame, list[str]], Any]


def median_days(curve: pl.DataFrame) -> int | None:
    """The smallest event day at which the share still in care is <= 0.5."""
    reached = curve.filter((pl.col("events") > 0) & (pl.col("survival") <= 0.5 + KM_TOLERANCE))
    return int(reached["day"].min()) if reached.height else None


def single_session_section(reader: MetricsReader, scope: Scope) -> dict[str, Any]:
    rows = reader.run("single_session", scope)

    def part(breakdown: str) -> pl.DataFrame:
        return rows.filter(pl.col("breakdown") == breakdown)

    overall = part("overall").row(0, named=True)
    return {
        "ended_after_one": rate(overall["ended_after_one"], overall["closed"]),
        "dropout": rate(overall["dropout"], overall["closed"]),
        "by_month": [
            {"month": r["key"], **rate(r["dropout"], r["closed"]), "open": int(r["open"]),
             "ended_after_one": r["ended_after_one"]}
            for r in part("month").sort("key").iter_rows(named=True)
        ],
        "by_first_session_type": [
            {"session_type": r["key"], **rate(r["dropout"], r["closed"]), "ended_after_one": r["ended_after_one"]}
            for r in part("first_session_type").filter(pl.col("closed") > 0)
            .sort("key", nulls_last=True).iter_rows(named=True)
        ],
        "by_clinic": [
            {"clinic_id": r["key"], **rate(r["dropout"], r["closed"]), "open": int(r["open"])}
            for r in part("clinic").sort("key").iter_rows(named=True)
        ],
    }


def therapists_section(reader: MetricsReader, scope: Scope, min_caseload: int | None = None) -> list[dict[str, Any]]:
    return therapist_rows(reader.run("therapist_funnel", scope, min_caseload=min_caseload))


def therapist_rows(funnel: pl.DataFrame) -> list[dict[str, Any]]:
    """One object per therapist: the raw funnel and the case-mix adjusted flag
    (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag)."""
    return [
        {"therapist_id": r["therapist_id"], "numerator": int(r["numerator"]), "denominator": int(r["denominator"]),
         "rate": _float(r["rate"]), "limit95": _float(r["limit95"]), "limit998": _float(r["limit998"]),
         "flag": r["flag"], "p0": _float(r["p0"]), "expected": _float(r["expected"]), "ratio": _float(r["ratio"]),
         "z": _float(r["z"]), "adjusted_z": _float(r["adjusted_z"]), "adjusted_flag": r["adjusted_flag"]}
        for r in funnel.iter_rows(named=True)
    ]


def therapist_adjustment(reader: MetricsReader, scope: Scope, funnel: pl.DataFrame) -> dict[str, Any]:
    """The overdispersion estimate, the same on every row of the funnel. It is made over the
    benchmark population, which the therapist filter does not change: when that filter lists
    nobody, the estimate is read without it; with no closed episode at all, nobody is eligible."""
    if not funnel.height and scope.therapists is not None:
        funnel = reader.run("therapist_funnel", replace(scope, therapists=None))
    if not funnel.height:
        return {"eligible": 0, "phi": None, "tau2": 0.0}
    first = funnel.row(0, named=True)
    return {"eligible": int(first["eligible"]), "phi": _float(first["phi"]), "tau2": _float(first["tau2"])}


def outcomes_section(reader: MetricsReader, scope: Scope) -> dict[str, Any]:
    rows = reader.run("outcomes", scope).filter(pl.col("is_all_clinics"))
    return {
        r["measure"]: {
            "paired": int(r["paired"]),
            "reliable_improvement": rate(r["reliable_improvement"], r["paired"]),
            "reliable_deterioration": rate(r["reliable_deterioration"], r["paired"]),
            "recovery": rate(r["recovery"], r["paired_in_clinical_range"]),
            "reliable_recovery": rate(r["reliable_recovery"], r["paired_in_clinical_range"]),
            "early_change": {
                "episodes": int(r["early_change_episodes"]),
                "mean_change": _float(r["mean_early_change"]),
                "reliable_improvement": rate(r["early_reliable_improvement"], r["early_change_episodes"]),
            },
        }
        for r in rows.sort("measure").iter_rows(named=True)
    }


def nhs_paired_section(reader: MetricsReader, scope: Scope) -> dict[str, Any]:
    """The national paired measures (docs/metrics/nhs-paired.md), among episodes that finished a course of treatment."""
    r = reader.run("nhs_paired", scope).row(0, named=True)
    return {
        "finished_treatment": int(r["finished_treatment"]),
        "paired": int(r["paired"]),
        "recovery": rate(r["recovery"], r["paired_at_caseness"]),
        "reliable_improvement": rate(r["reliable_improvement"], r["paired"]),
        "reliable_deterioration": rate(r["reliable_deterioration"], r["paired"]),
        "reliable_recovery": rate(r["reliable_recovery"], r["paired_at_caseness"]),
    }


def plateaus_section(reader: MetricsReader, scope: Scope, settings: dict[str, Any],
                     rows: Rows = records) -> dict[str, Any]:
    summary = reader.run("plateau_summary", scope).row(0, named=True)
    plateaued = reader.run("plateau_episodes", scope)
    return {
        "measure": settings["plateau_measure"],
        "window": int(settings["plateau_window"]),
        "assessed": int(summary["assessed"]),
        "plateaued": int(summary["plateaued"]),
        "sessions_after_plateau": int(summary["sessions_after_plateau"]),
        "episodes": rows(plateaued, ["client_id", "episode_id", "status", "plateau_session",
                                     "sessions_after_plateau"]),
        "dose_response": [
            {"session": int(r["session_number"]), "episodes": int(r["episodes"]),
             "mean_score": _float(r["mean_score"]),
             "reliable_improvement": rate(r["reliable_improvement"], r["episodes"])}
            for r in reader.run("dose_response", scope).iter_rows(named=True)
        ],
    }


def time_to_discharge_section(reader: MetricsReader, scope: Scope, counts: dict[str, Any]) -> dict[str, Any]:
    """`counts`: the scope's row of episode_counts, which the report has read already."""
    curve = reader.run("kaplan_meier", scope, by_clinic=False)
    return {
        "events": int(counts["closed"]),
        "censored": int(counts["open"]),
        "median_days": median_days(curve),
        # day 0 is always a point: with no episodes in scope, everyone is still "in care"
        "curve": [{"day": int(r["day"]), "survival": float(r["survival"])} for r in curve.iter_rows(named=True)]
        or [{"day": 0, "survival": 1.0}],
        "sessions_at_discharge": [
            {"attended_sessions": int(r["attended_sessions"]), "episodes": int(r["episodes"])}
            for r in reader.run("sessions_at_discharge", scope).iter_rows(named=True)
        ],
    }


def _days(value: float | None) -> int | float | None:
    """A median in days: whole, or a half when it is the mean of two middle values."""
    value = _float(value)
    return None if value is None else int(value) if value.is_integer() else value


def waits_section(reader: MetricsReader, scope: Scope) -> dict[str, Any]:
    """The waits to session 1 and to session 2, and single-session dropout by the next booking
    (docs/metrics/waits.md)."""
    waits = reader.run("waits", scope).row(0, named=True)
    return {
        "referral_to_first": {
            "episodes": int(waits["waited"]),
            "median_days": _days(waits["median_wait"]),
            "within_6_weeks": rate(waits["within_6_weeks"], waits["waited"]),
            "within_18_weeks": rate(waits["within_18_weeks"], waits["waited"]),
        },
        "first_to_second": {
            "episodes": int(waits["second_sessions"]),
            "median_days": _days(waits["median_second_gap"]),
            "over_28_days": rate(waits["over_28_days"], waits["second_sessions"]),
            "over_90_days": rate(waits["over_90_days"], waits["second_sessions"]),
        },
        "dropout_by_next_booking": [
            {"band": r["band"], **rate(r["numerator"], r["denominator"])}
            for r in reader.run("dropout_by_next_booking", scope).iter_rows(named=True)
        ],
    }


def risk_gaps_section(reader: MetricsReader, scope: Scope, rows: Rows = records) -> list[dict[str, Any]]:
    return rows(reader.run("risk_followup_gaps", scope),
                ["client_id", "episode_id", "therapist_id", "clinic_id", "risk_date", "item9",
                 "next_contact_date", "next_contact_status", "returned_later"])


def long_engagement_section(reader: MetricsReader, scope: Scope, rows: Rows = records) -> list[dict[str, Any]]:
    return rows(reader.run("long_engagement", scope),
                ["client_id", "episode_id", "status", "attended_sessions", "duration_days",
                 "reliable_improvement", "plateaued"])


def metrics_report(reader: MetricsReader, scope: Scope = Scope(), rows: Rows = records) -> dict[str, Any]:
    """The metrics report as JSON-ready values (`rows`: see Rows)."""
    settings = reader.settings()
    counts = reader.run("episode_counts", scope).row(0, named=True)
    funnel = reader.run("therapist_funnel", scope)
    return {
        "extract_date": _date(settings["extract_date"]),
        "episodes": {k: int(counts[k]) for k in ("total", "not_started", "open", "closed")},
        "single_session": single_session_section(reader, scope),
        "therapists": therapist_rows(funnel),
        "therapist_adjustment": therapist_adjustment(reader, scope, funnel),
        "outcomes": outcomes_section(reader, scope),
        "nhs_paired": nhs_paired_section(reader, scope),
        "plateaus": plateaus_section(reader, scope, settings, rows),
        "time_to_discharge": time_to_discharge_section(reader, scope, counts),
        "waits": waits_section(reader, scope),
        "risk_followup_gaps": risk_gaps_section(reader, scope, rows),
        "long_engagement": long_engagement_section(reader, scope, rows),
        "build": {"build_id": settings["build_id"], "built_at": settings["built_at"].isoformat(timespec="seconds")},
    }


def metrics_json(reader: MetricsReader, scope: Scope = Scope()) -> str:
    """The report as `metrics --format json` prints it: the object metrics_report gives, indented.
    Its three long lists are written by polars, one row per line: at ten million appointments
    they hold 370,000 rows, and Python's indenting encoder took 2.4 s of the command's 4.7 s
    (bench/RESULTS.md). Each list stands in the text as a placeholder until then."""
    lists: dict[str, pl.DataFrame] = {}
    token = uuid.uuid4().hex  # random, 128 bits: no value of the report will be a placeholder

    def later(frame: pl.DataFrame, columns: list[str]) -> str:
        placeholder = f"rows {token} {len(lists)}"
        lists[placeholder] = _json_ready(frame, columns)
        return placeholder

    # UTF-8 throughout (polars writes text as it is; RFC 8259: JSON between systems is UTF-8)
    text = json.dumps(metrics_report(reader, scope, rows=later), indent=2, ensure_ascii=False)
    parts, done = [], 0  # the text cut at each placeholder, joined once (it runs to 50 MB)
    for at, placeholder in sorted((text.index(json.dumps(p)), p) for p in lists):
        line = text[text.rindex("\n", 0, at) + 1:at]  # `    "episodes": `
        parts += [text[done:at], _json_rows(lists[placeholder], line[:len(line) - len(line.lstrip())])]
        done = at + len(json.dumps(placeholder))
    return "".join([*parts, text[done:]])


def _json_rows(frame: pl.DataFrame, indent: str) -> str:
    """A JSON array of the frame's rows, one per line (JSON text never holds a raw line break)."""
    if frame.is_empty():
        return "[]"
    lines = frame.write_ndjson()[:-1].replace("\n", f",\n{indent}  ")  # (every line ends in one)
    return f"[\n{indent}  {lines}\n{indent}]"
