"""Endings: how long care lasts (Kaplan–Meier, open episodes censored) and who never ends."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, empty, key_columns, layout, links, vocabulary
from pipelines.report import median_days

# the end groups of docs/metrics/time-to-discharge.md#split-by-end-reason, in the order they are listed
END_GROUPS = ["planned", "dropout", "other"]

st.title("Endings")
st.caption("The share of episodes still in care by days since the first session, a "
           f"{vocabulary.term('Kaplan–Meier', 'kaplan-meier')} estimate. Open episodes count as still in care "
           f"up to the extract date ({vocabulary.term('censored', 'censored')}), so long-running care is not hidden.")

scope = layout.scope()
if layout.has_episodes():
    by_clinic = links.control("by_clinic", links.SWITCH, st.toggle, "One curve per clinic", default=False,
                              key="by_clinic")
    by_end_reason = links.control("by_end_reason", links.SWITCH, st.toggle, "One curve per end reason", default=False,
                                  key="by_end_reason", disabled=by_clinic) and not by_clinic
    curve = data.run("kaplan_meier", scope, by_clinic=by_clinic, by_end_reason=by_end_reason)
    if by_end_reason:
        st.caption("Each curve is over the closed episodes that ended that way (planned; dropout, including "
                   f"closed as {vocabulary.term('inactive', 'inactive')}; other: referred on, other or unknown). "
                   "Open episodes are in none of them: how they will end is not known yet. The single curve stays "
                   "the measure of how long care lasts (docs: time to discharge, split by end reason).")
        st.altair_chart(charts.survival_curves_by_end_reason(curve), width="stretch")
    else:
        st.altair_chart(charts.survival_curves(curve), width="stretch")
    label = "how it ended" if by_end_reason else "clinic"
    medians = [{label: stratum, "episodes": int(part["at_risk"].max()), "median_days": median_days(part)}
               for (stratum,), part in curve.group_by("stratum", maintain_order=True)]
    if by_end_reason:
        medians.sort(key=lambda row: END_GROUPS.index(row[label]))
    vocabulary.show_table(pl.DataFrame(medians, schema={label: pl.String, "episodes": pl.Int64,
                                                        "median_days": pl.Int64}))

    st.subheader("Sessions at discharge")
    histogram = data.run("sessions_at_discharge", scope)
    empty.chart_or_say(histogram, "episodes",
                       lambda frame: charts.count_histogram(frame, "attended_sessions", "Attended sessions"),
                       "No episode in this selection has ended yet, so there are no sessions at discharge to count.",
                       width="stretch")

    settings = data.build()
    st.subheader("Long engagements")
    st.caption(f"Episodes with {settings['long_engagement_sessions']} or more sessions, or lasting "
               f"{settings['long_engagement_days']} days or more.")
    long = layout.capped(key_columns.key_first(data.run("long_engagement", scope), "long_engagements"),
                         "long engagements")
    vocabulary.show_table(long)
    layout.downloads(long, "long_engagements")
