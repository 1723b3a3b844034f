"""Waits: referral to first session against the 6- and 18-week standards, the hidden wait to session 2,
and single-session dropout by how far away the next appointment was booked (docs/dashboard.md#waits;
the definitions are docs/metrics/waits.md)."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, frames, key_columns, layout, shareable_tables, vocabulary
from pipelines.queries import Scope

st.title("Waits")
st.caption("Two waits decide whether a client gets help: referral to the first session, and the hidden wait "
           "from the first session to the next. Definitions: docs/metrics/waits.md.")

# the second-session gap marks (docs/metrics/waits.md#hidden-wait)
GAP_MARKS = (28, 90)
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
    vocabulary.show_table(by_clinic, key="waits_by_clinic")
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
        vocabulary.show_table(bands, {"numerator": "dropouts", "denominator": "closed", "rate": "dropout_rate"},
                              key="dropout_by_next_booking")
        layout.downloads(bands, "dropout_by_next_booking", shareable_tables.DROPOUT_BY_NEXT_BOOKING)
