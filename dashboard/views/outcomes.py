"""Outcomes and hope: reliable improvement, recovery and deterioration; early change; the national paired measures."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, empty, explain, frames, layout, shareable_tables, vocabulary

st.title("Outcomes and hope")
st.caption("Closed episodes with two or more scores on a measure, first against last score. Recovery "
           f"counts those that started in the {vocabulary.term('clinical range', 'clinical-range')} (caseness). "
           "Hover a bar for its numerator and denominator.")

# the generic columns of an outcome rate, by what they count
OUTCOME_RATE = {"numerator": "with_outcome", "denominator": "outcome_out_of", "rate": "outcome_rate"}

scope = layout.scope()
if layout.has_episodes():
    outcomes = data.run("outcomes", scope)
    if outcomes.is_empty():
        st.info("No outcome scores were recorded at attended sessions in this selection.")
    else:
        long = frames.outcome_rates(outcomes)
        drawn = frames.outcome_bars_data(long.filter(pl.col("denominator") > 0))
        empty.chart_or_say(drawn, "rate", charts.outcome_bars,
                           "No episode in this selection has ended with two or more scores on a measure, so there "
                           "is no outcome rate to draw.", width="content")

        per_measure_column, paired_column = st.columns(2)
        with per_measure_column:
            st.subheader("Per measure")
            st.caption("Each measure on its own, over the closed episodes scored on it twice or more.")
            per_measure = long.filter(pl.col("is_all_clinics")).select("measure", "outcome", "rate", "numerator",
                                                                       "denominator")
            vocabulary.show_table(per_measure, OUTCOME_RATE)
        with paired_column:
            st.subheader("National paired measures")
            gad7 = data.run("score_coverage", scope).filter(pl.col("measure") == "gad7")["scored"].sum()
            paired = data.run("nhs_paired", scope)
            if not gad7:
                st.info("No GAD-7 scores in this selection (the extract may have no gad7 column): the paired "
                        "measures read PHQ-9 and GAD-7 together, so there are none to show.")
            elif not paired["finished_treatment"][0]:
                st.info("No closed episode in this selection finished a course of treatment (two or more attended "
                        "treatment sessions), so there are no paired measures to show.")
            else:
                rates = frames.nhs_paired_rates(paired)
                st.caption("Episodes that finished a course of treatment, scored on PHQ-9 and GAD-7 both. The red "
                           "tick is the 50% recovery standard for a whole service, never a pass mark for one "
                           "therapist.")
                st.altair_chart(charts.paired_rates(rates.filter(pl.col("denominator") > 0)), width="stretch")
                vocabulary.show_table(rates, {**OUTCOME_RATE, "measure": "outcome"})
                st.markdown(explain.paired_difference_sentence(per_measure, rates))
                layout.downloads(rates, "nhs_paired", shareable_tables.NHS_PAIRED)

        st.subheader("Early change")
        st.caption("Among episodes with two or more scores: the change from the first to the second score "
                   "(negative is better, except ORS), and how many were already a reliable improvement.")
        early = frames.with_rate(outcomes.filter(pl.col("is_all_clinics")), "early_reliable_improvement",
                                 "early_change_episodes").select(
            "measure", pl.col("denominator").alias("episodes"), "mean_early_change",
            pl.col("numerator").alias("early_reliable_improvement"), "rate")
        vocabulary.show_table(early, {"rate": "early_reliable_rate"})

        table = long.sort("measure", "outcome", pl.col("is_all_clinics").not_(), "clinic")
        st.subheader("All rates")
        vocabulary.show_table(frames.outcome_bars_data(table), OUTCOME_RATE)  # the total row's clinic named
        layout.downloads(table, "outcomes", shareable_tables.OUTCOMES)
