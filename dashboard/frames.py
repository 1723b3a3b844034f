"""Report frames shaped for the chart builders and tables: pure Polars, no Streamlit.

The dashboard pages and the board report (dashboard/board_report.py) both draw from these, so
the report shows exactly what the pages show. They rename and divide what the SQL counted; they
define no metric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from pipelines.queries import Scope


def with_rate(frame: pl.DataFrame, numerator: str, denominator: str) -> pl.DataFrame:
    """Rename a report's counts to numerator / denominator and add the rate the SQL defined
    as their quotient (null when the denominator is 0), for charts and tables."""
    return frame.rename({numerator: "numerator", denominator: "denominator"}).with_columns(
        pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator")).alias("rate"))


# A cohort month is still incomplete while at least this share of its episodes is open: its
# dropout rate will still move as those episodes end.
INCOMPLETE_OPEN_SHARE = 0.10


def dropout_by_month(single_session: pl.DataFrame) -> pl.DataFrame:
    """The month rows of the single_session report, ready for charts.dropout_trend."""
    months = with_rate(single_session.filter(pl.col("breakdown") == "month").rename({"key": "month"}),
                       "dropout", "closed")
    return months.with_columns(
        (pl.col("open") >= INCOMPLETE_OPEN_SHARE * (pl.col("open") + pl.col("denominator"))).alias("is_incomplete"))


def single_session_breakdown(single_session: pl.DataFrame, breakdown: str, label: str) -> pl.DataFrame:
    """One breakdown of the single_session report (clinic, first_session_type, month) with its
    dropout rate, keeping values that have a closed episode; the key column is named `label`."""
    rows = single_session.filter(pl.col("breakdown") == breakdown).rename({"key": label})
    return with_rate(rows, "dropout", "closed").filter(pl.col("denominator") > 0)


OUTCOMES = {  # outcome label -> (numerator column, denominator column) of the outcomes report
    "reliable improvement": ("reliable_improvement", "paired"),
    "recovery": ("recovery", "paired_in_clinical_range"),
    "reliable recovery": ("reliable_recovery", "paired_in_clinical_range"),
    "reliable deterioration": ("reliable_deterioration", "paired"),
}


ALL_CLINICS = "all clinics"  # how the total row's clinic is drawn: a label for the eye, never a key
# The measures by the names clinicians know them (the warehouse's columns are phq9, gad7, ...): for the eye only,
# downloads keep the warehouse's names (docs/dashboard.md#words-and-numbers)
MEASURE_NAMES = {"phq9": "PHQ-9", "gad7": "GAD-7", "core10": "CORE-10", "ors": "ORS", "srs": "SRS"}


def outcome_rates(outcomes: pl.DataFrame) -> pl.DataFrame:
    """The outcomes report in long form: one row per measure, clinic and outcome, with numerator,
    denominator and rate; the total over the clinics is marked is_all_clinics, its clinic empty (a
    clinic whose id is "all clinics" is a clinic like any other)."""
    return pl.concat([
        outcomes.select(
            "measure", pl.col("clinic_id").alias("clinic"), "is_all_clinics",
            pl.lit(label).alias("outcome"), pl.col(num).alias("numerator"), pl.col(den).alias("denominator"))
        for label, (num, den) in OUTCOMES.items()
    ]).with_columns(pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator"))
                    .alias("rate"))


def outcome_bars_data(rates: pl.DataFrame) -> pl.DataFrame:
    """outcome_rates as charts.outcome_bars draws them: the total row's clinic labelled ALL_CLINICS, the
    measures by their names."""
    return rates.with_columns(pl.when(pl.col("is_all_clinics")).then(pl.lit(ALL_CLINICS)).otherwise(pl.col("clinic"))
                              .alias("clinic"), pl.col("measure").replace(MEASURE_NAMES))


def dose_response_curve(dose_response: pl.DataFrame) -> pl.DataFrame:
    """The dose_response report for charts.dose_response: the share of scores that are a reliable
    improvement as rate over the episodes scored at each session."""
    curve = with_rate(dose_response, "reliable_improvement", "episodes")
    return curve.with_columns(pl.col("denominator").alias("episodes"))


# The Overview compares a period of this many days (or the filtered dates) with the one before.
HEADLINE_DAYS = 365


def headline_periods(scope: Scope, extract_date: dt.date) -> tuple[Scope, Scope]:
    """The Overview's two periods: the filtered first-session dates (by default the last year up
    to the extract date), and as many days just before them."""
    end = scope.to_date or extract_date
    start = scope.from_date or end - dt.timedelta(days=HEADLINE_DAYS - 1)
    length = (end - start).days + 1
    current = dataclasses.replace(scope, from_date=start, to_date=end)
    previous = dataclasses.replace(scope, from_date=start - dt.timedelta(days=length),
                                   to_date=start - dt.timedelta(days=1))
    return current, previous


FLAG_ORDER = {"alarm": 0, "alert": 1, "none": 2, "insufficient": 3}


def therapist_flags(funnel: pl.DataFrame) -> pl.DataFrame:
    """The Therapists page's flags table: both flags side by side with what each rests on, the
    therapists flagged by either first (the worse of their two flags, then the adjusted one, then the id)."""
    raw, adjusted = (pl.col(c).replace_strict(FLAG_ORDER) for c in ("flag", "adjusted_flag"))
    return funnel.sort(pl.min_horizontal(raw, adjusted), adjusted, "therapist_id").select(
        "therapist_id", "flag", "adjusted_flag", "numerator", "denominator", "rate", "expected", "ratio", "z",
        "adjusted_z")


# The national waiting-time standards (docs/metrics/waits.md#standards): waits within 6 and 18 weeks
# as the counts of the waits reports name them, with the share of waits each should reach.
WAIT_STANDARDS = {"within 6 weeks": ("within_6_weeks", 0.75), "within 18 weeks": ("within_18_weeks", 0.95)}


def waits_by_month(by_month: pl.DataFrame) -> pl.DataFrame:
    """The waits_by_month report in long form for charts.standards_trend: one row per month and
    standard, numerator the waits within it, denominator the waits."""
    return pl.concat([
        with_rate(by_month.select("month", pl.lit(standard).alias("standard"), pl.col(column).alias("within"),
                                  "waited"), "within", "waited")
        for standard, (column, _) in WAIT_STANDARDS.items()
    ])


def waits_by_clinic(by_clinic: pl.DataFrame) -> pl.DataFrame:
    """The waits_by_clinic report with each standard's share and the single-session dropout rate beside
    their counts (null over none)."""
    def share(numerator: str, denominator: str) -> pl.Expr:
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))
    return by_clinic.with_columns(rate_within_6_weeks=share("within_6_weeks", "waited"),
                                  rate_within_18_weeks=share("within_18_weeks", "waited"),
                                  dropout_rate=share("dropouts", "closed"))


NHS_PAIRED = {  # row label -> (numerator, denominator) of the nhs_paired report (docs/metrics/nhs-paired.md)
    "paired": ("paired", "finished_treatment"),
    "recovery": ("recovery", "paired_at_caseness"),
    "reliable improvement": ("reliable_improvement", "paired"),
    "reliable deterioration": ("reliable_deterioration", "paired"),
    "reliable recovery": ("reliable_recovery", "paired_at_caseness"),
}


def nhs_paired_rates(nhs_paired: pl.DataFrame) -> pl.DataFrame:
    """The nhs_paired report's one row as a table: one row per paired measure (the first, paired,
    out of the episodes that finished a course of treatment), with numerator, denominator and rate."""
    row = nhs_paired.row(0, named=True)
    return with_rate(pl.DataFrame(
        {"measure": list(NHS_PAIRED), "numerator": [int(row[n]) for n, _ in NHS_PAIRED.values()],
         "denominator": [int(row[d]) for _, d in NHS_PAIRED.values()]},
        schema={"measure": pl.String, "numerator": pl.Int64, "denominator": pl.Int64}), "numerator", "denominator")
