"""What is new in this build (docs/operations.md#nightly-alerts): the flags a build raised, kept in the
warehouse, and this build's against an earlier one's.

    build (pipelines/warehouse.py) → record_flags: the build's row in build_history and its flags in
                                     flag_history, from the reports over the whole service
    `clinic-outcomes alerts`       → whats_new: this build's flags against the previous build's
                                   → alerts_text / alerts_json: the new ones, exact or shareable

A flag is one of three kinds: a therapist at `alert` or `alarm` on the case-mix adjusted flag
(docs/metrics/therapist-funnel.md#case-mix-adjusted-flag), a therapist whose CUSUM is signalling
(docs/metrics/therapist-cusum.md), an unresolved risk follow-up gap (docs/metrics/risk-followup.md).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipelines.disclosure import RULE, Shareable, shareable
from pipelines.errors import LoadError
from pipelines.queries import MetricsReader, report_sql

# Builds kept in the history: a month of nightly loads. At ten million appointments a build's flags
# (most of them unresolved risk follow-up gaps) take 0.54 MiB (bench/RESULTS.md): about 16 MiB.
FLAG_HISTORY_BUILDS = 30
# `alerts` exits with this status when something is new, so a nightly job can mail it.
SOMETHING_NEW = 3
# How a build is named in the text: enough of its id to tell it from every other one in the history.
SHORT_ID = 8
# How many of the builds it knows an unknown --since-build names.
BUILDS_NAMED = 5

# The adjusted flag's levels, lowest first: a therapist is new when their level rose.
LEVELS = {"alert": 1, "alarm": 2}
ADJUSTED_FLAG, CUSUM_SIGNAL, RISK_GAP = "adjusted_flag", "cusum_signal", "risk_gap"

# What each kind of flag keeps from its report: the report, its parameters (the build's settings and
# the whole service otherwise), which of its rows are flags, and the columns a reader needs to act.
RECORDED = (
    (ADJUSTED_FLAG, "therapist_funnel", {},
     "r.adjusted_flag IN (" + ", ".join(f"'{level}'" for level in LEVELS) + ")",
     "r.therapist_id, r.adjusted_flag AS flag, r.numerator, r.denominator, r.expected, r.adjusted_z"),
    (CUSUM_SIGNAL, "therapist_cusum", {"latest_only": True}, "r.status = 'signalling'",
     "r.therapist_id, r.status AS flag, r.signals, r.first_signal_date, r.last_signal_date, r.latest_cusum, "
     "r.threshold"),
    (RISK_GAP, "risk_followup_gaps", {}, "NOT r.returned_later",
     "r.therapist_id, r.clinic_id, r.client_id, r.episode_id, 'unresolved' AS flag, r.risk_date, r.item9, "
     "r.days_since_risk"),
)


def record_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Add the build being made on `con` (its settings row written, its models built) to the history
    with its flags, and drop the builds beyond the last FLAG_HISTORY_BUILDS."""
    con.execute("""INSERT INTO build_history BY NAME
        SELECT (SELECT coalesce(max(build_number), 0) + 1 FROM build_history) AS build_number,
               build_id, built_at, extract_date, latest_load_id, tool_version
        FROM settings""")
    for kind, report, given, flagged, columns in RECORDED:
        sql, wanted = report_sql(report)
        con.execute(f"""INSERT INTO flag_history BY NAME
            SELECT b.build_number, b.build_id, b.built_at, '{kind}' AS kind, {columns}
            FROM ({sql}
            ) AS r
            CROSS JOIN (SELECT * FROM build_history ORDER BY build_number DESC LIMIT 1) AS b
            WHERE {flagged}""", {name: given.get(name) for name in wanted})
    for table in ("flag_history", "build_history"):
        con.execute(f"DELETE FROM {table} WHERE build_number <= "
                    f"(SELECT max(build_number) FROM build_history) - {FLAG_HISTORY_BUILDS}")


# === this build against an earlier one ============================================================


@dataclass(frozen=True)
class Build:
    build_id: str
    built_at: dt.datetime
    extract_date: dt.date | None

    def __str__(self) -> str:
        return f"{self.build_id[:SHORT_ID]} ({self.built_at:%Y-%m-%d %H:%M})"

    def as_json(self) -> dict[str, object]:
        return {"build_id": self.build_id, "built_at": self.built_at.isoformat(timespec="seconds"),
                "extract_date": None if self.extract_date is None else self.extract_date.isoformat()}


@dataclass(frozen=True)
class News:
    """What is new in `build` since `compared_with` (None: the history holds no earlier build)."""

    build: Build
    compared_with: Build | None
    adjusted_flags: list[dict]
    cusum_signals: list[dict]
    risk_gaps: list[dict]

    @property
    def count(self) -> int:
        return len(self.adjusted_flags) + len(self.cusum_signals) + len(self.risk_gaps)


def level(flag: str | None) -> int:
    """0 for none, insufficient or no flag at all; then alert, alarm."""
    return LEVELS.get(flag or "", 0)


def new_adjusted_flags(now: list[dict], before: list[dict]) -> list[dict]:
    """Therapists at alert or alarm now who were at a lower level before (or not flagged at all),
    each with `previous_flag` (None: not alert or alarm)."""
    was = {r["therapist_id"]: r["flag"] for r in before}
    return [{**r, "previous_flag": was.get(r["therapist_id"])} for r in now
            if level(r["flag"]) > level(was.get(r["therapist_id"]))]


def new_cusum_signals(now: list[dict], before: list[dict]) -> list[dict]:
    """Therapists signalling now who were not before, or whose latest signal is later than it was,
    each with `previous_last_signal_date` (None: not signalling before)."""
    was = {r["therapist_id"]: r["last_signal_date"] for r in before}

    def is_new(row: dict) -> bool:
        if row["therapist_id"] not in was:
            return True
        earlier = was[row["therapist_id"]]
        return row["last_signal_date"] is not None and (earlier is None or row["last_signal_date"] > earlier)

    return [{**r, "previous_last_signal_date": was.get(r["therapist_id"])} for r in now if is_new(r)]


def gap_key(row: dict) -> tuple[object, object, object]:
    """A risk follow-up gap is the same gap while its client, episode and risk session date are."""
    return row["client_id"], row["episode_id"], row["risk_date"]


def new_risk_gaps(now: list[dict], before: list[dict]) -> list[dict]:
    """Unresolved risk follow-up gaps that were not unresolved before."""
    was = {gap_key(r) for r in before}
    return [r for r in now if gap_key(r) not in was]


def compare(build: Build, compared_with: Build | None, now: list[dict], before: list[dict]) -> News:
    """The flags of `build` (`now`, rows of the flag history) that are new against `before`, those of
    `compared_with`. A first build (compared with none) has nothing to be new against: nothing is."""
    def of(rows: list[dict], kind: str) -> list[dict]:
        return [r for r in rows if r["kind"] == kind]

    if compared_with is None:
        return News(build, None, [], [], [])
    return News(build, compared_with,
                new_adjusted_flags(of(now, ADJUSTED_FLAG), of(before, ADJUSTED_FLAG)),
                new_cusum_signals(of(now, CUSUM_SIGNAL), of(before, CUSUM_SIGNAL)),
                new_risk_gaps(of(now, RISK_GAP), of(before, RISK_GAP)))


def chosen_build(builds: list[Build], since_build: str | None) -> Build | None:
    """The build to compare the latest (builds[0], newest first) with: the one whose id starts with
    `since_build`, else the one before the latest (None when there is none)."""
    if since_build is None:
        return builds[1] if len(builds) > 1 else None
    matches = [b for b in builds if b.build_id.startswith(since_build.strip().lower())] if since_build.strip() else []
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(str(b) for b in builds[:BUILDS_NAMED]) + (
        f" and {len(builds) - BUILDS_NAMED} older" if len(builds) > BUILDS_NAMED else "")
    problem = "matches more than one build" if matches else "is not a build this warehouse's history holds"
    raise LoadError(f"--since-build '{since_build}' {problem}; it holds {known} (newest first)")


def whats_new(reader: MetricsReader, db: Path, since_build: str | None = None) -> News:
    """The latest build's flags against the previous build's, or those of the build `since_build`."""
    try:
        builds = [Build(r["build_id"], r["built_at"], r["extract_date"])
                  for r in reader.run("build_history").iter_rows(named=True)]
    except duckdb.CatalogException:
        builds = []
    if not builds or builds[0].build_id != reader.settings()["build_id"]:
        raise LoadError(f"{db}: this build keeps no flag history (it was built before clinic-outcomes kept one); "
                        f"start one with `clinic-outcomes rebuild --db {db}`")
    compared_with = chosen_build(builds, since_build)
    now = reader.run("flag_history", build_id=builds[0].build_id).to_dicts()
    before = [] if compared_with is None else reader.run("flag_history", build_id=compared_with.build_id).to_dicts()
    return compare(builds[0], compared_with, now, before)


# === the new flags, exact (internal) or under disclosure control (shareable) ======================

# A therapist's flag is worked out from their exact counts: `*` beside a `*` count
# (docs/security.md#disclosure-control), as on the board report's table of flagged therapists.
ADJUSTED_FLAGS_SHAREABLE = Shareable(keys=("therapist_id",), counts=("numerator", "denominator"),
                                     derived_labels={"flag": ("numerator", "denominator")})
RISK_GAPS_SHAREABLE = Shareable(keys=("clinic_id",), counts=("new_gaps",))

INTERNAL_KEYS = {
    "adjusted_flags": ("therapist_id", "flag", "previous_flag", "numerator", "denominator", "expected", "adjusted_z"),
    "cusum_signals": ("therapist_id", "signals", "first_signal_date", "last_signal_date",
                      "previous_last_signal_date", "latest_cusum", "threshold"),
    "risk_gaps": ("client_id", "episode_id", "therapist_id", "clinic_id", "risk_date", "item9", "days_since_risk"),
}


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


def internal_items(news: News) -> dict[str, list[dict]]:
    """The new flags with every value a reader needs to act, exact."""
    listed = {"adjusted_flags": news.adjusted_flags, "cusum_signals": news.cusum_signals,
              "risk_gaps": news.risk_gaps}
    return {name: [{k: _json_value(row[k]) for k in INTERNAL_KEYS[name]} for row in rows]
            for name, rows in listed.items()}


def shareable_items(news: News) -> dict[str, list[dict]]:
    """The new flags under disclosure control: no client or episode, counts rounded or `*`, a
    therapist's flag `*` beside a `*` count, risk gaps as a count per clinic, signals by month."""
    flags = pl.DataFrame([{k: r[k] for k in ("therapist_id", "flag", "numerator", "denominator")}
                          for r in news.adjusted_flags],
                         schema={"therapist_id": pl.String, "flag": pl.String, "numerator": pl.Int64,
                                 "denominator": pl.Int64})
    per_clinic = Counter(r["clinic_id"] for r in news.risk_gaps)
    gaps = pl.DataFrame({"clinic_id": list(per_clinic), "new_gaps": list(per_clinic.values())},
                        schema={"clinic_id": pl.String, "new_gaps": pl.Int64}).sort("clinic_id")
    return {
        "adjusted_flags": shareable(flags, ADJUSTED_FLAGS_SHAREABLE).to_dicts(),
        "cusum_signals": [{"therapist_id": r["therapist_id"],
                           "last_signal_month": None if r["last_signal_date"] is None
                           else f"{r['last_signal_date']:%Y-%m}"} for r in news.cusum_signals],
        "risk_gaps": shareable(gaps, RISK_GAPS_SHAREABLE).to_dicts(),
    }


def alerts_json(news: News, is_shareable: bool = False) -> dict[str, object]:
    """The documented object (docs/operations.md#the-alerts-json): the build, the build compared with
    (None for a first build) and the new flags by kind."""
    return {"build": news.build.as_json(),
            "compared_with": None if news.compared_with is None else news.compared_with.as_json(),
            "shareable": is_shareable,
            "new": shareable_items(news) if is_shareable else internal_items(news)}


def _count(n: object) -> str:
    return n if isinstance(n, str) else f"{n:,}"


def alerts_text(news: News, is_shareable: bool = False) -> list[str]:
    """The new flags as short plain lines (values from the data as they are: print with markup off)."""
    if news.compared_with is None:
        return [f"Build {news.build} is the first in this warehouse's flag history: there is no earlier build "
                "to compare it with, so nothing is reported as new."]
    since = f"in build {news.build} since build {news.compared_with}"
    if not news.count:
        return [f"Nothing new {since}."]
    if is_shareable:
        return [f"Shareable: new {since}:", *_shareable_lines(shareable_items(news)),
                f"Disclosure control: {RULE}."]
    return [f"{news.count:,} new {since}:", *_internal_lines(news)]


def _internal_lines(news: News) -> list[str]:
    lines = []
    for r in news.adjusted_flags:
        was = r["previous_flag"] or "not alert or alarm"
        lines.append(f"  {r['therapist_id']} newly {r['flag']} on the case-mix adjusted flag (was {was}): "
                     f"{r['numerator']:,} of {r['denominator']:,} closed episodes ended in single-session dropout, "
                     f"{r['expected']:.1f} expected (adjusted z {r['adjusted_z']:.2f})")
    for r in news.cusum_signals:
        before = (f"last signal before on {r['previous_last_signal_date']}" if r["previous_last_signal_date"]
                  else "not signalling before")
        lines.append(f"  {r['therapist_id']} CUSUM signalling: signal on {r['last_signal_date']} "
                     f"(score {r['latest_cusum']:.2f}, threshold {r['threshold']:g}; {before})")
    for r in news.risk_gaps:
        lines.append(f"  unresolved risk follow-up gap: client {r['client_id']} episode {r['episode_id']} "
                     f"(therapist {r['therapist_id']}, clinic {r['clinic_id']}): PHQ-9 item 9 scored {r['item9']} "
                     f"on {r['risk_date']}, {r['days_since_risk']:,} days ago, not seen since")
    return lines


def _shareable_lines(items: dict[str, list[dict]]) -> list[str]:
    lines = []
    for r in items["adjusted_flags"]:
        flag = "flagged (alert or alarm: *)" if r["flag"] == "*" else r["flag"]
        lines.append(f"  {r['therapist_id']} newly {flag} on the case-mix adjusted flag: {_count(r['numerator'])} "
                     f"of {_count(r['denominator'])} closed episodes ended in single-session dropout")
    for r in items["cusum_signals"]:
        lines.append(f"  {r['therapist_id']} CUSUM signalling: a new signal in {r['last_signal_month']}")
    for r in items["risk_gaps"]:
        lines.append(f"  clinic {r['clinic_id']}: {_count(r['new_gaps'])} new unresolved risk follow-up gaps")
    return lines
