"""First sessions: is the golden hour wasted? Single-session dropout by month, clinic and type."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, empty, frames, layout, shareable_tables, trends, vocabulary

st.title("First sessions")
st.caption("Closed episodes that ended after one attended session, without a planned ending or an "
           "onward referral, as a share of all closed episodes.")

scope = layout.scope()
if layout.has_episodes():
    single = data.run("single_session", scope)

    overall = single.filter(pl.col("breakdown") == "overall").row(0, named=True)
    left, right = st.columns(2)
    left.metric("Single-session dropout", layout.rate_text(overall["dropout"], overall["closed"]), border=True)
    right.metric("Ended after one session (any reason)", layout.rate_text(overall["ended_after_one"], overall["closed"]),
                 border=True)

    st.subheader("Over time")
    trends.control_chart("first_sessions", scope, trends.periods(scope, "month"),
                         trends.shaded_dates(scope.from_date, scope.to_date))
    st.subheader("By clinic and quarter")
    trends.clinic_quarters(scope)

    by_clinic, by_type = st.columns(2)
    with by_clinic:
        st.subheader("By clinic")
        clinics = frames.single_session_breakdown(single, "clinic", "clinic")
        empty.chart_or_say(clinics, "rate", lambda frame: charts.rate_bars(frame, "clinic", "Clinic"), empty.NO_ENDED,
                           width="stretch")
    with by_type:
        st.subheader("By first session type")
        types = frames.single_session_breakdown(single, "first_session_type", "first_session_type").with_columns(
            pl.col("first_session_type").fill_null("not recorded"))
        empty.chart_or_say(types, "rate",
                           lambda frame: charts.rate_bars(frame, "first_session_type", "First session"),
                           empty.NO_ENDED, width="stretch")
        st.caption("An assessment-only first session against one that starts treatment.")

    st.subheader("First-session alliance (SRS)")
    alliance = data.run("first_session_alliance", scope)
    if alliance.is_empty():
        st.info("No Session Rating Scale scores were recorded at first sessions in this selection.")
    else:
        st.altair_chart(charts.count_histogram(alliance.with_columns(pl.col("srs").cast(pl.Int64)), "srs",
                                               "SRS at session 1 (0–40; under 36 suggests a strained alliance)"),
                        width="stretch")
        st.caption(f"{alliance['episodes'].sum():,} episodes rated their first session.")

    table = frames.single_session_breakdown(single, "month", "month").select(
        "month", "numerator", "denominator", "rate", "open")
    vocabulary.show_table(table, {"numerator": "dropouts", "denominator": "closed", "rate": "dropout_rate"})
    layout.downloads(table, "single_session_by_month", shareable_tables.SINGLE_SESSION_BY_MONTH)
