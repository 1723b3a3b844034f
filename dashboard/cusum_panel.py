"""Flags over time on the Therapists page: the risk-adjusted CUSUM of each therapist
(docs/metrics/therapist-cusum.md), so a quality lead sees whether a flag is new, old or over."""

from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from dashboard import charts, data, layout, links, vocabulary
from dashboard.literal import literal
from pipelines.queries import Scope

STATUS_ORDER = {"signalling": 0, "signalled before": 1, "no signal": 2}


def status_sentence(row: dict[str, object]) -> str:
    """One therapist's CUSUM summary in plain words (the id is the caller's to make literal)."""
    episodes = f"{row['episodes']:,} closed episode{'s' if row['episodes'] != 1 else ''}"
    if row["status"] == "signalling":
        since = (f"first on {row['first_signal_date']}, most recently on {row['last_signal_date']}"
                 if row["signals"] > 1 else f"on {row['last_signal_date']}")
        return (f"crossed the threshold {since}, and is still above it after {episodes}: "
                "the excess goes on.")
    if row["status"] == "signalled before":
        return (f"crossed the threshold on {row['last_signal_date']} and has since fallen back below it "
                f"(latest {row['latest_cusum']:.2f} of {row['threshold']:g}, after {episodes}): that excess is over.")
    return (f"has never reached the threshold over {episodes} (highest {row['peak']:.2f} of "
            f"{row['threshold']:g}): no run of dropout beyond what the case mix explains.")


def show(scope: Scope) -> None:
    st.subheader("Flags over time")
    st.caption("A running score per therapist over their closed episodes in order of first session: each "
               "one-session dropout adds to it, weighted by how unlikely it was for that kind of client, "
               "and every other ending takes a little away. It signals when the score reaches the "
               "threshold, and is not reset, so it shows whether an excess is new, old or over "
               "(docs/metrics/therapist-cusum.md).")
    build = data.build()
    left, right = st.columns(2)
    odds_ratio = links.control(
        "cusum_odds", links.number(1.1, 100.0), left.number_input, "Rise in the odds of dropout to watch for",
        min_value=1.1, max_value=100.0, default=float(build["cusum_odds_ratio"]), step=0.25, key="cusum_odds_ratio",
        help=f"2 means the odds have doubled. The warehouse's setting is {build['cusum_odds_ratio']:g}.")
    threshold = links.control(
        "cusum_threshold", links.number(0.5, 1000.0), right.number_input, "Signal threshold", min_value=0.5,
        max_value=1000.0, default=float(build["cusum_threshold"]), step=0.5, key="cusum_threshold",
        help=f"Lower signals sooner and more often by chance. The warehouse's setting is {build['cusum_threshold']:g}.")
    summary = data.run("therapist_cusum", scope, latest_only=True, odds_ratio=odds_ratio, threshold=threshold)
    if summary.is_empty():
        st.info("No therapist has a closed episode in this selection, so there is no score to follow.")
        return
    table = summary.select("therapist_id", "status", "signals", "first_signal_date", "last_signal_date",
                           "episodes", pl.col("latest_cusum").round(2), pl.col("peak").round(2)).sort(
        pl.col("status").replace_strict(STATUS_ORDER), pl.col("last_signal_date").is_null(),
        pl.col("last_signal_date"), "therapist_id", descending=[False, False, True, False])
    counts = table.group_by("status").len()
    st.caption(" · ".join(f"{row['status']}: {row['len']}" for row in counts.sort(
        pl.col("status").replace_strict(STATUS_ORDER)).iter_rows(named=True)))
    vocabulary.show_table(table, {"status": "cusum_status", "episodes": "closed"}, key="cusum_table")
    # the score moves episode by episode on exact outcomes, as a survival curve does: no shareable version
    layout.downloads(table, "therapist_cusum", internal_only="Scores follow each episode: internal only.")

    listed = table["therapist_id"].to_list()
    chosen = links.control("cusum_therapist", links.one_of(listed, "a therapist listed here"), st.selectbox,
                           "Therapist", listed, default=listed[0], key="cusum_therapist",
                           help="Signalling therapists first, then those who signalled before.")
    path = data.run("therapist_cusum", dataclasses.replace(scope, therapists=(chosen,)), odds_ratio=odds_ratio,
                    threshold=threshold)
    row = summary.filter(pl.col("therapist_id") == chosen).row(0, named=True)
    st.markdown(f"{literal(chosen)}'s score {status_sentence(row)}")
    st.altair_chart(charts.cusum_chart(path), width="stretch")
