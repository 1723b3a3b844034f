"""The dashboard's words and numbers: every column a page shows, with its label, its kind and the glossary
entry that explains it, and the one function pages call to show a table (docs/dashboard.md#words-and-numbers).

Only what is on screen is formatted: downloads keep the exact values and the column names of the reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
import streamlit as st

from dashboard import glossary
from dashboard.frames import MEASURE_NAMES

MISSING = "—"
# The measures and the one item score kept on its own (the risk item), as score coverage lists it
SCORE_NAMES = {**MEASURE_NAMES, "phq9_item9": "PHQ-9 item 9"}


def measure_name(measure: object) -> str:
    return SCORE_NAMES.get(str(measure), str(measure))


@dataclass(frozen=True)
class Column:
    label: str
    kind: str  # one of KINDS
    term: str  # the anchor of its entry in docs/metrics/glossary.md
    help: str | None = None  # what this column counts, when the entry's first sentence does not say it

    def help_text(self) -> str:
        entry = glossary.entries()[self.term]
        return f"{self.help or glossary.first_sentence(self.term)} Glossary: {entry.title}."


# kind -> Streamlit's printf format for a number column of that kind (the same text as cell_text gives)
NUMBER_FORMATS = {"count": "%,d", "days": "%,d", "rate": "%.1f%%", "decimal": "%.2f", "score": "%g", "median": "%g"}
KINDS = (*NUMBER_FORMATS, "date", "datetime", "id", "text", "measure", "yes_no", "list")


def _c(label: str, kind: str, term: str, help: str | None = None) -> Column:
    return Column(label, kind, term, help)


COLUMNS: dict[str, Column] = {
    # who and where
    "client_id": _c("Client", "id", "client"),
    "episode_id": _c("Episode", "id", "episode"),
    "therapist_id": _c("Therapist", "id", "therapist"),
    "clinic_id": _c("Clinic", "id", "clinic"),
    "clinic": _c("Clinic", "id", "clinic"),
    "is_all_clinics": _c("All clinics together", "yes_no", "clinic",
                         "Ticked on the row that counts every clinic in the selection together."),
    "appointment_id": _c("Appointment", "id", "appointment"),
    # episodes
    "status": _c("Status", "text", "status"),
    "first_session_type": _c("First session type", "text", "first-session-type"),
    "attended_sessions": _c("Sessions attended", "count", "session"),
    "first_attended_date": _c("First session", "date", "session-number"),
    "last_attended_date": _c("Last session", "date", "session"),
    "end_date": _c("Ended", "date", "closed"),
    "end_reason": _c("End reason", "text", "end-reason"),
    "how it ended": _c("How it ended", "text", "end-reason"),
    "duration_days": _c("Days in care", "days", "days-in-care"),
    "is_single_session_dropout": _c("Single-session dropout", "yes_no", "single-session-dropout"),
    "has_future_booking": _c("Booked after the extract date", "yes_no", "booked-ahead"),
    "reliable_improvement": _c("Reliable improvement", "yes_no", "reliable-improvement"),
    "plateaued": _c("Plateaued", "yes_no", "plateau"),
    "episodes": _c("Episodes", "count", "episode"),
    "median_days": _c("Median days to discharge", "median", "median-days"),
    "month": _c("Cohort month", "text", "cohort-month"),
    "quarter": _c("Quarter", "text", "cohort-month", "The quarter of the episodes' first sessions."),
    "open": _c("Still open", "count", "open", "Episodes of the cohort month still open at the extract date."),
    "closed": _c("Closed episodes", "count", "closed"),
    # single-session dropout and its rates
    "dropouts": _c("Single-session dropouts", "count", "single-session-dropout"),
    "dropout_rate": _c("Single-session dropout", "rate", "single-session-dropout"),
    "band": _c("Days to the next booking", "text", "next-booking"),
    # appointments
    "appointment_at": _c("Date", "datetime", "appointment"),
    "session_type": _c("Session type", "text", "session-type"),
    "session_number": _c("Session number", "count", "session-number"),
    "appointments": _c("Appointments", "count", "appointment"),
    "attended": _c("Attended", "count", "session"),
    "dna": _c("Did not attend", "count", "no-show-rate"),
    "cancelled_client": _c("Cancelled by the client", "count", "cancellation"),
    "cancelled_clinic": _c("Cancelled by the clinic", "count", "cancellation"),
    "no_shows": _c("No-shows", "count", "no-show-rate"),
    "attended_or_missed": _c("Attended or missed", "count", "no-show-rate"),
    "no_show_rate": _c("No-show rate", "rate", "no-show-rate"),
    "discharge_date": _c("Discharge date", "date", "closed"),
    "discharge_reason": _c("Discharge reason", "text", "end-reason"),
    **{measure: _c(name, "score", "measure") for measure, name in MEASURE_NAMES.items()},
    "phq9_item9": _c("PHQ-9 item 9", "score", "risk-session", "Thoughts of self-harm, 0 to 3."),
    "scores": _c("Scores", "text", "measure", "Each measure scored at the appointment, and its score."),
    # funnels and flags
    "flag": _c("Flag (chance alone)", "text", "flag"),
    "adjusted_flag": _c("Flag (allowing for variation)", "text", "adjusted-flag"),
    "expected": _c("Expected dropouts (E)", "decimal", "case-mix"),
    "ratio": _c("Observed ÷ expected (O/E)", "decimal", "adjusted-flag"),
    "z": _c("z", "decimal", "control-limit", "How many standard errors the rate is above the benchmark."),
    "adjusted_z": _c("Adjusted z", "decimal", "adjusted-flag"),
    "stratum": _c("Case-mix stratum", "text", "case-mix"),
    "share": _c("Therapist's share", "rate", "case-mix"),
    "service_share": _c("Service's share", "rate", "case-mix"),
    "p_s": _c("Service dropout rate for the stratum", "rate", "case-mix"),
    "therapist_closed": _c("Therapist's closed episodes", "count", "closed"),
    "therapist_dropouts": _c("Therapist's single-session dropouts", "count", "single-session-dropout"),
    "expected_in_stratum": _c("Expected dropouts (closed × service rate)", "decimal", "case-mix"),
    # CUSUM
    "signals": _c("Signals", "count", "cusum"),
    "first_signal_date": _c("First signal", "date", "cusum"),
    "last_signal_date": _c("Latest signal", "date", "cusum"),
    "latest_cusum": _c("CUSUM now", "decimal", "cusum"),
    "peak": _c("Highest CUSUM", "decimal", "cusum"),
    "cusum_status": _c("CUSUM status", "text", "cusum"),
    # outcomes
    "measure": _c("Measure", "measure", "measure"),
    "outcome": _c("Outcome", "text", "outcome"),
    "with_outcome": _c("Episodes with the outcome", "count", "outcome"),
    "outcome_out_of": _c("Out of", "count", "paired", "The episodes the rate is a share of."),
    "outcome_rate": _c("Rate", "rate", "outcome"),
    "mean_early_change": _c("Mean early change", "decimal", "early-change"),
    "early_reliable_improvement": _c("Reliable after two scores", "count", "early-change"),
    "early_reliable_rate": _c("Share reliable after two scores", "rate", "early-change"),
    # waits
    "waited": _c("Episodes with a wait", "count", "wait-to-first-session"),
    "within_6_weeks": _c("Waits ≤ 42 days", "count", "waiting-time-standards"),
    "within_18_weeks": _c("Waits ≤ 126 days", "count", "waiting-time-standards"),
    "rate_within_6_weeks": _c("Within 6 weeks", "rate", "waiting-time-standards"),
    "rate_within_18_weeks": _c("Within 18 weeks", "rate", "waiting-time-standards"),
    "second_sessions": _c("Episodes with a session 2", "count", "hidden-wait"),
    "median_second_gap": _c("Median days to session 2", "median", "hidden-wait"),
    "over_28_days": _c("Gaps over 28 days", "count", "hidden-wait"),
    "over_90_days": _c("Gaps over 90 days", "count", "hidden-wait"),
    "booked_over_28_days": _c("Closed, next booking over 28 days", "count", "next-booking"),
    # plateaus
    "plateau_session": _c("Plateau starts at session", "count", "plateau"),
    "plateau_end_session": _c("Plateau ends at session", "count", "plateau"),
    "sessions_after_plateau": _c("Sessions after the plateau", "count", "sessions-after-a-plateau"),
    # safety
    "risk_date": _c("Risk session", "date", "risk-session"),
    "item9": _c("PHQ-9 item 9", "score", "risk-session", "PHQ-9 item 9 at the risk session, 0 to 3."),
    "next_contact_date": _c("Next contact", "date", "next-contact"),
    "next_contact_status": _c("Next contact's status", "text", "next-contact"),
    "returned_later": _c("Returned later", "yes_no", "returned-later"),
    "days_since": _c("Days since the risk session", "days", "risk-session"),
    "days_since_risk": _c("Days since the risk session", "days", "risk-session",
                          "The extract date minus the risk session's date."),
    # early warnings (docs/dashboard.md#early-warnings)
    "srs_session_number": _c("SRS at session", "count", "low-alliance", "The session of the latest SRS rating."),
    "srs_date": _c("SRS date", "date", "low-alliance", "The date of the session of the latest SRS rating."),
    "srs_cutoff": _c("SRS cut-off", "score", "low-alliance"),
    "intake_band": _c("Intake band", "text", "intake-band"),
    "latest_score": _c("Latest score", "score", "not-on-track", "The episode's latest score on the measure."),
    "latest_change": _c("Change since the first score", "score", "not-on-track",
                        "From the first score to the latest; positive is better, whatever the measure's direction."),
    "expected_90th": _c("90th percentile line", "score", "expected-change",
                        "The change 90% of the band's closed episodes did at least as well as, by that session."),
    "expected_median": _c("Expected change (median)", "score", "expected-change"),
    "closed_episodes": _c("Closed episodes behind the lines", "count", "expected-change",
                          "The band's closed episodes with a score at that session."),
    # the follow-up log (docs/security.md#the-follow-up-log)
    "needs_action": _c("Needs action", "yes_no", "needs-action"),
    "latest_outcome": _c("Latest follow-up", "text", "follow-up-log",
                         "The outcome of the latest follow-up entry about this risk session."),
    "latest_note": _c("Note", "text", "follow-up-log", "The note of the latest follow-up entry."),
    "latest_by": _c("Recorded by", "text", "follow-up-log", "Who added the latest follow-up entry."),
    "latest_at": _c("Recorded at (UTC)", "datetime", "follow-up-log", "When the latest follow-up entry was added."),
    "recorded_at": _c("Recorded at (UTC)", "datetime", "follow-up-log", "When the entry was added."),
    "outcome": _c("Outcome", "text", "follow-up-log", "Followed up, could not reach or not needed."),
    "note": _c("Note", "text", "follow-up-log", "What was done, in the words of who added the entry."),
    "recorded_by": _c("Recorded by", "text", "follow-up-log",
                      "A verified e-mail address, or a name typed on an open dashboard."),
    "who_kind": _c("Who", "text", "follow-up-log", "Whether the name was verified by sign-in or typed."),
    "about_risk_date": _c("About the risk session of", "date", "risk-session",
                          "The risk session the entry answers."),
    # loads and data quality
    "load_id": _c("Load", "id", "load"),
    "loaded_at": _c("Loaded at", "datetime", "load"),
    "source_file": _c("File", "text", "load"),
    "source_line": _c("Line", "count", "load"),
    "rows_read": _c("Rows read", "count", "load"),
    "rows_loaded": _c("Rows loaded", "count", "load"),
    "rows_quarantined": _c("Rows quarantined", "count", "quarantine"),
    "duplicates_merged": _c("Duplicates merged", "count", "load"),
    "rows_replacing_earlier": _c("Rows replacing an earlier load's", "count", "load"),
    "reconciles": _c("Reconciles", "yes_no", "load", "Rows read = loaded + quarantined + duplicates merged."),
    "extract_date": _c("Extract date", "date", "extract-date"),
    "reason": _c("Reason", "text", "quarantine"),
    "rows": _c("Rows", "count", "quarantine"),
    "first_example": _c("First example (file:line)", "text", "quarantine"),
    "field": _c("Field", "text", "data-issue"),
    "issue_reason": _c("Problem", "text", "data-issue"),
    "issues": _c("Issues", "count", "data-issue"),
    "example_values": _c("Example values", "list", "data-issue"),
    "scored": _c("Sessions scored", "count", "session"),
    "sessions": _c("Sessions attended", "count", "session"),
    "score_coverage": _c("Share scored", "rate", "session"),
}


def column(name: str) -> Column:
    """The vocabulary entry of a column; a column nobody described is labelled in words all the same
    (the glossary test fails on it: tests/test_vocabulary.py)."""
    return COLUMNS.get(name) or Column(name.replace("_", " ").capitalize(), "text", "")


def term(words: str, anchor: str) -> str:
    """Markdown: `words` linked to their entry on the Glossary page (relative, so the link works under any base
    path). A missing entry raises KeyError, so a page cannot link to nothing."""
    glossary.entries()[anchor]
    return f"[{words}](glossary#{anchor})"


# --- numbers as text -------------------------------------------------------------------------------------------


def cell_text(value: object, kind: str) -> str:
    """One value as a table shows it: "—" when missing, rates with one decimal, counts with thousands
    separators, dates without times, measures by their names."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind in ("count", "days"):
        return f"{value:,.0f}"
    if kind == "decimal":
        return f"{value:.2f}"
    if kind in ("score", "median"):
        return f"{value:g}"
    if kind == "datetime" and isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d}" if value.time() == dt.time() else f"{value:%Y-%m-%d %H:%M}"
    if kind in ("date", "datetime") and isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    if kind == "yes_no":
        return "yes" if value else "no"
    if kind == "measure":
        return measure_name(value)
    if kind == "list":
        return ", ".join(str(item) for item in value)
    return str(value)


def _as_text(series: pl.Series, kind: str) -> pl.Series:
    return pl.Series(series.name, [cell_text(value, kind) for value in series.to_list()], dtype=pl.String)


def displayed(frame: pl.DataFrame, meaning: Mapping[str, str] | None = None
              ) -> tuple[pl.DataFrame, dict[str, object]]:
    """The frame as a page shows it, and its column_config: each column labelled, explained and formatted
    by its vocabulary entry (`meaning` names the entry of a generic column: {"numerator": "no_shows"}).

    A number column stays a number, so sorting by its header sorts numbers, with Streamlit's format of
    its kind; rates are shown as percentages. A column with a missing value becomes text, as cell_text
    writes it, because Streamlit would show a missing number as "None"."""
    meaning = meaning or {}
    columns: list[pl.Series] = []
    config: dict[str, object] = {}
    for series in frame.get_columns():
        entry = column(meaning.get(series.name, series.name))
        kind = entry.kind
        if isinstance(series.dtype, pl.Decimal):
            series = series.cast(pl.Float64)
        if series.dtype.is_float():
            series = series.fill_nan(None)
        help_text = entry.help_text() if entry.term else None
        if kind == "datetime" and series.dtype == pl.Datetime and series.is_not_null().all() \
                and (series.dt.time() == dt.time()).all():
            series, kind = series.cast(pl.Date), "date"  # a date-time that is always midnight is a date
        as_text = series.has_nulls() or kind in ("measure", "list", "datetime") or (
            kind in NUMBER_FORMATS and not series.dtype.is_numeric())
        if as_text:
            columns.append(_as_text(series, kind))
            # numbers written as text still line up on the right, as the number columns do
            config[series.name] = st.column_config.TextColumn(
                entry.label, help=help_text, alignment="right" if kind in NUMBER_FORMATS else None)
        elif kind in NUMBER_FORMATS:
            columns.append(series * 100 if kind == "rate" else series)
            config[series.name] = st.column_config.NumberColumn(entry.label, help=help_text,
                                                                format=NUMBER_FORMATS[kind])
        elif kind == "date":
            columns.append(series)
            config[series.name] = st.column_config.DateColumn(entry.label, help=help_text, format="YYYY-MM-DD")
        elif kind == "yes_no" and series.dtype == pl.Boolean:
            columns.append(series)
            config[series.name] = st.column_config.CheckboxColumn(entry.label, help=help_text)
        else:
            columns.append(_as_text(series, kind) if series.dtype != pl.String else series)
            config[series.name] = st.column_config.TextColumn(entry.label, help=help_text)
    return pl.DataFrame(columns), config


def show_table(frame: pl.DataFrame, meaning: Mapping[str, str] | None = None, **options: object):
    """st.dataframe of the frame in the dashboard's words and numbers (displayed); `options` go to
    st.dataframe (key, on_select, ...). Returns what st.dataframe returns (the selection)."""
    shown, config = displayed(frame, meaning)
    return st.dataframe(shown, hide_index=True, column_config=config, **options)


# Every tile (st.metric) a page shows, by its label: the glossary entry that explains it.
METRICS: dict[str, str] = {
    "Single-session dropout": "single-session-dropout",
    "Ended after one session (any reason)": "ended-after-one-session",
    "Reliable improvement (PHQ-9)": "reliable-improvement",
    "Recovery (PHQ-9)": "recovery",
    "Median days to discharge": "median-days",
    "Open plateaued episodes": "plateau",
    "Unresolved risk follow-up gaps": "unresolved",
    "Seen within 6 weeks (standard 75%)": "waiting-time-standards",
    "Seen within 18 weeks (standard 95%)": "waiting-time-standards",
    "Median wait": "wait-to-first-session",
    "Over 28 days": "hidden-wait",
    "Over 90 days": "hidden-wait",
    "Median days to session 2": "hidden-wait",
    "No-show rate": "no-show-rate",
    "Clients with a single appointment": "single-appointment-client",
    "Appointments": "appointment",
    "Cancelled": "cancellation",
    "Episodes plateaued": "plateau",
    "Still open": "open",
    "Sessions after a plateau": "sessions-after-a-plateau",
    "Unresolved gaps": "unresolved",
    "Gaps where the client returned later": "returned-later",
    "Unresolved, needing action": "needs-action",
}
