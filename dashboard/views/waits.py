"""Waits: referral to first session against the 6- and 18-week standards, the hidden wait to session 2,
and single-session dropout by how far away the next appointment was booked (docs/dashboard.md#waits;
the definitions are docs/metrics/waits.md)."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, frames, key_columns, layout, shareable_tables
from pipelines.queries import Scope

st.title("Waits")
st.caption("Two waits decide whether a client gets help: referral to the first session, and the hidden wait "
           "from the first session to the next. Definitions: docs/metrics/waits.md.")

# the second-session gap marks (docs/metrics/waits.md#hidden-wait)
GAP_MARKS = (28, 90)
PERCENT = st.column_config.NumberColumn(format="percent")
# widths of a row of tiles: two rates with their counts, then a median
TILES = [3, 3, 1]

scope = layout.scope()
if layout.has_episodes():
    waits = data.run("waits", scope).row(0, named=True)

    st.subheader("Referral to first session")
    if waits["waited"] == 0:
        if data.run("waits", Scope()).row(0, named=True)["waited"] == 0:
            st.info("No referral dates in this extract, so there is no wait to the first session to show. Add the "
                    "referral_date column to the export and load it again (docs/loading/input.md).")
        else:
            st.info("No episode in this selection has a referral date on or before its first session. Widen the "
                    "filters in the sidebar to see the waits.")
    else:
        six, eighteen, median = st.columns(TILES)
        six.metric("Seen within 6 weeks (standard 75%)", layout.rate_text(waits["within_6_weeks"], waits["waited"]),
                   border=True)
        eighteen.metric("Seen within 18 weeks (standard 95%)",
                        layout.rate_text(waits["within_18_weeks"], waits["waited"]), border=True)
        median.metric("Median wait", f"{waits['median_wait']:g} days", border=True)
        standards = {standard: target for standard, (_, target) in frames.WAIT_STANDARDS.items()}
        st.altair_chart(charts.standards_trend(frames.waits_by_month(data.run("waits_by_month", scope)), standards),
                        width="stretch")
        st.caption("Dashed lines: the 75% and 95% standards. A wait of exactly 42 days is within 6 weeks, "
                   "126 days within 18 weeks.")

    st.subheader("By clinic")
    by_clinic = key_columns.key_first(frames.waits_by_clinic(data.run("waits_by_clinic", scope)), "waits_by_clinic")
    st.dataframe(by_clinic, hide_index=True, key="waits_by_clinic", column_config={
        "clinic_id": st.column_config.TextColumn("clinic"),
        "waited": st.column_config.NumberColumn("episodes with a wait"),
        "within_6_weeks": st.column_config.NumberColumn("waits ≤ 42 days"),
        "within_18_weeks": st.column_config.NumberColumn("waits ≤ 126 days"),
        "second_sessions": st.column_config.NumberColumn("episodes with a session 2"),
        "over_28_days": st.column_config.NumberColumn("gaps over 28 days"),
        "over_90_days": st.column_config.NumberColumn("gaps over 90 days"),
        "dropouts": st.column_config.NumberColumn("single-session dropouts"),
        "closed": st.column_config.NumberColumn("closed episodes"),
        "rate_within_6_weeks": st.column_config.NumberColumn("within 6 weeks", format="percent"),
        "rate_within_18_weeks": st.column_config.NumberColumn("within 18 weeks", format="percent"),
        "median_second_gap": st.column_config.NumberColumn("median days to session 2"),
        "booked_over_28_days": st.column_config.NumberColumn("closed, next booking over 28 days"),
        "dropout_rate": st.column_config.NumberColumn("single-session dropout", format="percent"),
    })
    layout.downloads(by_clinic, "waits_by_clinic", shareable_tables.WAITS_BY_CLINIC)

    st.subheader("The hidden wait: first to second session")
    if waits["second_sessions"] == 0:
        st.info("No episode in this selection has a second attended session yet, so there is no gap to show.")
    else:
        over_28, over_90, median_gap = st.columns(TILES)
        over_28.metric("Over 28 days", layout.rate_text(waits["over_28_days"], waits["second_sessions"]), border=True)
        over_90.metric("Over 90 days", layout.rate_text(waits["over_90_days"], waits["second_sessions"]), border=True)
        median_gap.metric("Median days to session 2", f"{waits['median_second_gap']:g}", border=True)
        st.altair_chart(charts.gap_histogram(data.run("second_session_gaps", scope), GAP_MARKS), width="stretch")
        st.caption("Dashed lines at 28 and 90 days.")

    st.subheader("Single-session dropout by the next booking after session 1")
    bands = frames.with_rate(data.run("dropout_by_next_booking", scope), "numerator", "denominator")
    if bands["denominator"].sum() == 0:
        st.info("No episode in this selection has closed yet, so there is no dropout to set against the next "
                "booking.")
    else:
        st.altair_chart(charts.rate_bars_with_counts(bands, "band", "Days to the next booking"), width="stretch")
        st.caption("Closed episodes by how many days after session 1 their next appointment was booked, "
                   "whatever became of it. The bands describe, they do not prove: a client may be booked far "
                   "out because they were unsure about coming back.")
        st.dataframe(bands, hide_index=True, key="dropout_by_next_booking",
                     column_config={"numerator": st.column_config.NumberColumn("single-session dropouts"),
                                    "denominator": st.column_config.NumberColumn("closed episodes"),
                                    "rate": PERCENT})
        layout.downloads(bands, "dropout_by_next_booking", shareable_tables.DROPOUT_BY_NEXT_BOOKING)
