"""Therapists: a funnel plot of single-session dropout, for quality teams (never a league table)."""

from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from dashboard import charts, cusum_panel, data, layout, shareable_tables
from dashboard.literal import literal

st.title("Therapists")
st.caption("Each point is a therapist: single-session dropout against the number of closed episodes. "
           "Points above the dashed curves are further from the service-wide rate than chance would "
           "explain; small caseloads have wide limits, so they are judged less.")

scope = layout.scope()
if layout.has_episodes():
    default_caseload = int(data.build()["min_caseload"])
    min_caseload = st.slider("Minimum caseload before a therapist is flagged", 1, 50, default_caseload,
                             help=f"Closed episodes; the warehouse's setting is {default_caseload}.")
    funnel = data.run("therapist_funnel", scope, min_caseload=min_caseload)
    limits = data.run("funnel_limits", scope)
    if funnel.is_empty() or limits.is_empty():
        st.info("No therapist has a closed episode in this selection.")
    else:
        event = st.altair_chart(charts.funnel_plot(funnel, limits), width="stretch", on_select="rerun",
                                key="funnel")
        counts = funnel.group_by("flag").len()
        st.caption(" · ".join(f"{row['flag']}: {row['len']}" for row in counts.sort("flag").iter_rows(named=True))
                   + f" · benchmark {funnel['p0'][0]:.1%}")

        st.subheader("Flags")
        table = funnel.select("therapist_id", "numerator", "denominator", "rate", "limit95", "limit998", "flag")
        flagged_first = table.sort(pl.col("flag").replace_strict(
            {"alarm": 0, "alert": 1, "none": 2, "insufficient": 3}), "therapist_id")
        selected_rows = st.dataframe(
            flagged_first, hide_index=True, on_select="rerun", selection_mode="single-row", key="flags",
            column_config={c: st.column_config.NumberColumn(format="percent") for c in ("rate", "limit95", "limit998")},
        )
        # shareable: the control limits are left out, they would give each exact caseload away
        layout.downloads(flagged_first, "therapist_flags", shareable_tables.THERAPIST_FLAGS)

        chosen = None
        points = (event.selection.get("therapist") or []) if event else []
        if points:
            chosen = points[0].get("therapist_id")
        elif selected_rows and selected_rows.selection.rows:
            chosen = flagged_first["therapist_id"][selected_rows.selection.rows[0]]
        if chosen:
            st.subheader(f"Episodes of {literal(chosen)}")
            episodes = data.run("episode_list", dataclasses.replace(scope, therapists=(chosen,)), limit=layout.ROW_LIMIT)
            st.dataframe(episodes, hide_index=True)
            layout.downloads(episodes, f"episodes_{chosen}")
        else:
            st.caption("Select a point or a row to see that therapist's episodes.")

    cusum_panel.show(scope)
