"""Plateaus: sessions that go on while the scores stop moving."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, frames, key_columns, layout, vocabulary

st.title("Plateaus")
settings = data.build()
measure, window = vocabulary.measure_name(settings["plateau_measure"]), settings["plateau_window"]
st.caption(f"A plateau is {window} consecutive {measure} scores, all in the "
           f"{vocabulary.term('clinical range', 'clinical-range')}, that move "
           "less than a reliable change. Sessions delivered after it are the cost of a therapy that "
           "stopped changing.")

scope = layout.scope()
if layout.has_episodes():
    summary = data.run("plateau_summary", scope).row(0, named=True)
    plateaued = data.run("plateau_episodes", scope)
    tiles = st.columns(3)
    tiles[0].metric("Episodes plateaued",
                    f"{summary['plateaued'] / summary['assessed']:.1%}" if summary["assessed"] else vocabulary.MISSING,
                    border=True, help=f"{layout.rate_text(summary['plateaued'], summary['assessed'])} of the "
                    f"episodes with at least {window} {measure} scores.")
    tiles[1].metric("Still open", f"{summary['plateaued_open']:,}", border=True)
    tiles[2].metric("Sessions after a plateau", f"{summary['sessions_after_plateau']:,}", border=True)

    st.subheader("Dose–response")
    curve = frames.dose_response_curve(data.run("dose_response", scope))
    if curve.is_empty():
        st.info(f"No {measure} scores in this selection.")
    else:
        st.altair_chart(charts.dose_response(curve, measure), width="stretch")
        st.caption("Mean score at each session number, over the episodes scored there; the tooltip gives the "
                   "share of those scores that is a reliable improvement on the episode's first.")

    st.subheader("Plateaued episodes, open ones first")
    table = plateaued.sort(pl.col("status") != "open", pl.col("sessions_after_plateau"), descending=[False, True]).select(
        "client_id", "episode_id", "therapist_id", "clinic_id", "status", "attended_sessions", "plateau_session",
        "plateau_end_session", "sessions_after_plateau")
    table = layout.capped(key_columns.key_first(table, "plateaued_episodes"), "plateaued episodes")
    vocabulary.show_table(table)
    layout.downloads(table, "plateaued_episodes")
