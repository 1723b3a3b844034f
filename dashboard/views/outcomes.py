"""Outcomes and hope: reliable improvement, recovery and deterioration; early change."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, frames, layout, shareable_tables

st.title("Outcomes and hope")
st.caption("Closed episodes with two or more scores on a measure, first against last score. Recovery "
           "counts those that started in the clinical range. Hover a bar for its numerator and denominator.")

scope = layout.scope()
if layout.has_episodes():
    outcomes = data.run("outcomes", scope)
    if outcomes.is_empty():
        st.info("No outcome scores were recorded at attended sessions in this selection.")
    else:
        long = frames.outcome_rates(outcomes)
        st.altair_chart(charts.outcome_bars(frames.outcome_bars_data(long.filter(pl.col("denominator") > 0))),
                        width="content")

        st.subheader("Early change")
        st.caption("Among episodes with two or more scores: the change from the first to the second score "
                   "(negative is better, except ORS), and how many were already a reliable improvement.")
        early = frames.with_rate(outcomes.filter(pl.col("is_all_clinics")), "early_reliable_improvement",
                                 "early_change_episodes").select(
            "measure", pl.col("denominator").alias("episodes"), "mean_early_change",
            pl.col("numerator").alias("early_reliable_improvement"), "rate")
        st.dataframe(early, hide_index=True, column_config={
            "mean_early_change": st.column_config.NumberColumn(format="%.2f"),
            "rate": st.column_config.NumberColumn("share reliable after two scores", format="percent")})

        table = long.sort("measure", "outcome", pl.col("is_all_clinics").not_(), "clinic")
        st.subheader("All rates")
        st.dataframe(table, hide_index=True, column_config={"rate": st.column_config.NumberColumn(format="percent")})
        layout.downloads(table, "outcomes", shareable_tables.OUTCOMES)
