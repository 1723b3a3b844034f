"""Endings: how long care lasts (Kaplan–Meier, open episodes censored) and who never ends."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, layout
from pipelines.report import median_days

st.title("Endings")
st.caption("The share of episodes still in care by days since the first session. Open episodes count "
           "as still in care up to the extract date (censored), so long-running care is not hidden.")

scope = layout.scope()
if layout.has_episodes():
    by_clinic = st.toggle("One curve per clinic", value=False)
    curve = data.run("kaplan_meier", scope, by_clinic=by_clinic)
    st.altair_chart(charts.survival_curves(curve), width="stretch")
    medians = [{"clinic": stratum, "median_days": median_days(part)}
               for (stratum,), part in curve.group_by("stratum", maintain_order=True)]
    st.dataframe(pl.DataFrame(medians, schema={"clinic": pl.String, "median_days": pl.Int64}), hide_index=True,
                 column_config={"median_days": st.column_config.NumberColumn("median days to discharge")})

    st.subheader("Sessions at discharge")
    histogram = data.run("sessions_at_discharge", scope)
    st.altair_chart(charts.count_histogram(histogram, "attended_sessions", "Attended sessions"), width="stretch")

    settings = data.build()
    st.subheader("Long engagements")
    st.caption(f"Episodes with {settings['long_engagement_sessions']} or more sessions, or lasting "
               f"{settings['long_engagement_days']} days or more.")
    long = layout.capped(data.run("long_engagement", scope), "long engagements")
    st.dataframe(long, hide_index=True)
    layout.downloads(long, "long_engagements")
