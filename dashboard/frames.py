"""Report frames shaped for the chart builders and tables: pure Polars, no Streamlit.

The dashboard pages and the board report (dashboard/board_report.py) both draw from these, so
the report shows exactly what the pages show. They rename and divide what the SQL counted; they
define no metric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from pipelines.measures import BUILT_IN
from pipelines.queries import Scope


def with_rate(frame: pl.DataFrame, numerator: str, denominator: str) -> pl.DataFrame:
    """Rename a report's counts to numerator / denominator and add the rate the SQL defined
    as their quotient (null when the denominator is 0), for charts and tables."""
    return frame.rename({numerator: "numerator", denominator: "denominator"}).with_columns(
        pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator")).alias("rate"))


# A cohort month is still incomplete while at least this share of its episodes is open: its
# dropout rate will still move as those episodes end.
INCOMPLETE_OPEN_SHARE = 0.10


def is_incomplete() -> pl.Expr:
    """A period (month or quarter) is incomplete while INCOMPLETE_OPEN_SHARE of its episodes are open
    (docs/metrics/single-session.md#breakdowns); over columns open and denominator (its closed episodes)."""
    return (pl.col("open") >= INCOMPLETE_OPEN_SHARE * (pl.col("open") + pl.col("denominator"))).alias("is_incomplete")


def dropout_by_month(single_session: pl.DataFrame) -> pl.DataFrame:
    """The month rows of the single_session report, ready for charts.dropout_trend."""
    months = with_rate(single_session.filter(pl.col("breakdown") == "month").rename({"key": "month"}),
                       "dropout", "closed")
    return months.with_columns(is_incomplete())


def dropout_control(trend: pl.DataFrame) -> pl.DataFrame:
    """The dropout_trend report (periods with their control band) for charts.dropout_control_chart and
    charts.dropout_heat_table: dropout as numerator over closed as denominator, each period marked incomplete or not."""
    return with_rate(trend, "dropout", "closed").with_columns(is_incomplete())


def _whole(frame: pl.DataFrame, column: str) -> pl.Series:
    """A count column as text with thousands separators ("1,204"), written in Python on the calling
    thread: no Python function (map_elements) may run inside a Polars query here. Polars runs such a
    function on its own worker threads, which must take the GIL from the dashboard's other sessions,
    and ten concurrent sessions deadlocked the server that way (tests/test_concurrency_browser.py)."""
    return pl.Series(f"{column}_text", [f"{n:,}" for n in frame[column].to_list()], dtype=pl.String)


def dropout_heat_cells(by_clinic: pl.DataFrame) -> pl.DataFrame:
    """The dropout_trend report by clinic and quarter for charts.dropout_heat_table: each cell labelled
    with its rate and counts ("15.0%" over "12 of 80"), or "too few" over its counts when it has fewer
    closed episodes than the minimum caseload (or none), so that no cell colours a rate of 1 of 2."""
    cells = dropout_control(by_clinic)
    cells = cells.with_columns(_whole(cells, "numerator"), _whole(cells, "denominator"))
    counts = pl.format("{} of {}", pl.col("numerator_text"), pl.col("denominator_text"))
    rate = pl.format("{}%", (pl.col("rate") * 100).round(1))
    return cells.with_columns(label=pl.when(pl.col("is_too_few") | pl.col("rate").is_null())
                              .then(pl.format("too few\n{}", counts)).otherwise(pl.format("{}\n{}", rate, counts))
                              ).drop("numerator_text", "denominator_text")


def incomplete_months(months: pl.DataFrame, period: Scope) -> tuple[int, int]:
    """How many of the months (rows of dropout_control by month) that overlap the period's dates are
    incomplete, and how many overlap it: the Overview's warning that its tiles will still move."""
    overlapping = months.filter((pl.col("period_end") >= period.from_date) & (pl.col("period_start") <= period.to_date))
    return overlapping.filter(pl.col("is_incomplete")).height, overlapping.height


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
# The built-in measures by the names clinicians know them (the warehouse's are phq9, gad7, ...): for the eye
# only, downloads keep the warehouse's names (docs/dashboard.md#words-and-numbers). A measure a config file
# adds is shown by its name.
MEASURE_NAMES = {m.name: m.label for m in BUILT_IN.values()}


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


# The Overview shows a period of this many days (or the filtered dates) beside the same dates a year earlier.
HEADLINE_DAYS = 365


def years_earlier(day: dt.date, years: int = 1) -> dt.date:
    """The same day and month `years` earlier; 29 February becomes 28 February (docs/dashboard.md#overview)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February, and that year has none
        return day.replace(year=day.year - years, day=28)


def headline_periods(scope: Scope, extract_date: dt.date) -> tuple[Scope, Scope]:
    """The Overview's two periods: the filtered first-session dates (by default the last year up to the
    extract date), and the same dates a year earlier: the same season, so a January rise is set against
    last January's. A period longer than a year is set against the same dates as many whole years earlier
    as keep the two apart (docs/dashboard.md#overview)."""
    end = scope.to_date or extract_date
    start = scope.from_date or end - dt.timedelta(days=HEADLINE_DAYS - 1)
    years = 1
    while years_earlier(end, years) >= start:
        years += 1
    current = dataclasses.replace(scope, from_date=start, to_date=end)
    previous = dataclasses.replace(scope, from_date=years_earlier(start, years), to_date=years_earlier(end, years))
    return current, previous


def years_between(current: Scope, previous: Scope) -> int:
    """How many years earlier the comparison period of headline_periods is."""
    return current.to_date.year - previous.to_date.year


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
