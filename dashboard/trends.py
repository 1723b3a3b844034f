"""Trends a director can trust, shared by the Overview and First sessions pages: single-session dropout by
month or quarter over the whole history in its control band (docs/metrics/single-session.md#the-control-band),
the filtered dates shaded, and the warning that a period's tiles rest on incomplete months."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import charts, data, empty, frames, layout, links, shareable_tables, vocabulary
from pipelines.queries import Scope

PERIODS = {"month": "Month", "quarter": "Quarter"}


def periods(scope: Scope, period: str) -> pl.DataFrame:
    """The dropout_trend report (every period of the clinic, therapist and type selection; the date filter
    shades, it does not cut) ready for the chart."""
    return frames.dropout_control(data.run("dropout_trend", scope, period=period))


def shaded_dates(from_date: dt.date | None, to_date: dt.date | None) -> pl.DataFrame:
    """The one row of dates the control chart shades, or none."""
    rows = [{"from_date": from_date, "to_date": to_date}] if from_date and to_date else []
    return pl.DataFrame(rows, schema={"from_date": pl.Date, "to_date": pl.Date})


def control_chart(page: str, scope: Scope, months: pl.DataFrame, shaded: pl.DataFrame) -> None:
    """The month/quarter toggle and the control chart; `months` is the month report the page already has."""
    period = links.control("trend", links.one_of(list(PERIODS), "month or quarter"), st.segmented_control,
                           "Each point is a", list(PERIODS), format_func=PERIODS.get, required=True,
                           default="month", key=f"trend_period_{page}")
    shown = months if period == "month" else periods(scope, period)
    if not empty.has_values(shown, "rate"):  # nothing has ended: say so rather than draw empty axes
        st.info(empty.NO_ENDED_MONTH if period == "month" else empty.NO_ENDED)
        return
    st.altair_chart(charts.dropout_control_chart(shown, shaded), width="stretch")
    st.caption(f"The shaded bands are the 95% (darker) and 99.8% limits around the "
               f"{vocabulary.term('long-run rate', 'long-run-rate')} (dashed), each period's own from its number of "
               f"closed episodes: a point outside the 99.8% band (a triangle, a "
               f"{vocabulary.term('signal', 'signal')}) is worth a look, a point inside it is not news. Each point is "
               f"a {vocabulary.term('cohort month', 'cohort-month')} or quarter; hollow points are "
               f"{vocabulary.term('incomplete periods', 'incomplete-period')} (at least "
               f"{frames.INCOMPLETE_OPEN_SHARE:.0%} of their episodes open); the grey area is the dates selected. "
               f"See the {vocabulary.term('control band', 'control-band')}.")


def incomplete_warning(months: pl.DataFrame, period: Scope) -> None:
    """Say when the tiles' period holds incomplete months: their rates over closed episodes will still move."""
    incomplete, overlapping = frames.incomplete_months(months, period)
    if incomplete:
        share = f"{frames.INCOMPLETE_OPEN_SHARE:.0%}"
        if overlapping == 1:
            text = f"The one month of this period is still incomplete (at least {share} of its episodes open)"
        else:
            text = (f"{incomplete} of {overlapping} months of this period are still incomplete (at least {share} "
                    "of their episodes open)")
        st.warning(f"{text}: these rates will move as those episodes end.", icon=":material/schedule:")


def clinic_quarters(scope: Scope) -> None:
    """Single-session dropout by clinic and quarter as a heat table with counts, and its downloads."""
    cells = frames.dropout_heat_cells(data.run("dropout_trend", scope, period="quarter", by_clinic=True))
    if cells.is_empty():
        st.info("No started episodes in this selection, so there is no clinic and quarter to show.")
        return
    if not cells["denominator"].sum():  # every cell would read "0 of 0": say why instead
        st.info(empty.NO_ENDED)
        return
    st.altair_chart(charts.dropout_heat_table(cells), width="content")
    st.caption(f"Every quarter of the selection's history, whatever the dates chosen. A grey cell has fewer closed "
               f"episodes than the minimum caseload ({data.build()['min_caseload']}): too few to read a rate from.")
    table = cells.select("clinic_id", "period", "numerator", "denominator", "rate", "open")
    with st.expander("As a table"):
        vocabulary.show_table(table, {"period": "quarter", "numerator": "dropouts", "denominator": "closed",
                                      "rate": "dropout_rate"})
    layout.downloads(table, "single_session_by_clinic_and_quarter", shareable_tables.CLINIC_QUARTERS)
