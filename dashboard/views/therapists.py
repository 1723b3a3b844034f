"""Therapists: funnel plots of single-session dropout, raw and case-mix adjusted, for quality teams
(never a league table), and the case mix that explains a flag (docs/dashboard.md#therapists)."""

from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from dashboard import charts, cusum_panel, data, explain, frames, funnel_points, layout, links, shareable_tables, vocabulary
from dashboard.literal import literal

st.title("Therapists")
st.caption("Each point is a therapist. Left, the adjusted funnel: observed single-session dropouts ÷ the "
           "number expected from their clients' case mix, against that expected number. Right, the raw "
           "funnel: their dropout rate against the service's. Points beyond the dashed curves are further "
           "from what is expected than chance would explain; small caseloads have wide limits.")

# the therapist chosen by a point, a row of the flags table or the select box (docs/dashboard.md#accessibility)
CHOICE = "funnel_therapist"

scope = layout.scope()
if layout.has_episodes():
    default_caseload = int(data.build()["min_caseload"])
    min_caseload = links.control("caseload", links.whole(1, 50), st.slider,
                                 "Minimum caseload before a therapist is flagged", 1, 50, default=default_caseload,
                                 key="min_caseload",
                                 help=f"Closed episodes; the warehouse's setting is {default_caseload}.")
    allowance = links.control("overdispersion", links.SWITCH, st.toggle,
                              "Allow for differences between therapists (overdispersion)", default=True,
                              key="overdispersion",
                              help="On: the adjusted limits and flags are widened by τ², the variation between "
                               "therapists beyond chance. Off: they allow for chance and case mix only.")
    funnel = data.run("therapist_funnel", scope, min_caseload=min_caseload, allow_overdispersion=allowance)
    # the estimate itself, whatever the toggle: the sentence says what switching it off leaves out
    estimate = funnel if allowance else data.run("therapist_funnel", scope, min_caseload=min_caseload)
    limits = data.run("funnel_limits", scope)
    if funnel.is_empty() or limits.is_empty():
        st.info("No therapist has a closed episode in this selection.")
    else:
        first = estimate.row(0, named=True)
        st.caption(explain.variation_sentence("therapists", "have enough closed episodes", int(first["eligible"]),
                                              first["phi"], float(first["tau2"]), applied=allowance,
                                              allowed_for="chance and case mix"))
        flagged_first = frames.therapist_flags(funnel)
        guides = data.run("adjusted_funnel_limits", scope, tau_squared=float(funnel["tau2"][0]),
                          largest_expected=float(funnel["expected"].max()))
        adjusted_side, raw_side = st.columns(2)
        with adjusted_side:
            st.markdown("**Adjusted for case mix** (O/E against E)")
            if guides.is_empty():
                adjusted_event = None
                st.info("No therapist listed has a dropout expected from their case mix, so there is no "
                        "adjusted funnel to draw.")
            else:
                adjusted_event = st.altair_chart(
                    charts.adjusted_funnel_plot(funnel, guides), width="stretch", key="adjusted_funnel",
                    on_select=funnel_points.choice_from_chart("adjusted_funnel", "therapist", CHOICE))
        with raw_side:
            st.markdown("**Raw** (rate against closed episodes)")
            raw_event = st.altair_chart(charts.funnel_plot(funnel, limits), width="stretch", key="funnel",
                                        on_select=funnel_points.choice_from_chart("funnel", "therapist", CHOICE))
        # the point a click picked, or the row ticked in the flags table below (its state is there before it is
        # drawn again), read here as well as by their callbacks (a script run by a test sets a selection without
        # them): a new pick sets the select box
        ticked = st.session_state.get("flags") or {}
        rows = [row for row in ticked.get("selection", {}).get("rows", []) if row < flagged_first.height]
        links.follow(CHOICE, next((points[0].get("therapist_id") for event in (adjusted_event, raw_event)
                                   if event and (points := event["selection"].get("therapist"))),
                                  flagged_first["therapist_id"][rows[0]] if rows else None))
        picked = funnel_points.pick("Therapist on the funnels", flagged_first["therapist_id"].to_list(), CHOICE,
                                    "The same as a click on their point or their row below: their numbers and "
                                    "their episodes. Flagged therapists first.", "episodes_of", "therapist")
        by_flag = {flag: ((funnel["flag"] == flag).sum(), (funnel["adjusted_flag"] == flag).sum())
                   for flag in frames.FLAG_ORDER}
        counts = " · ".join(f"{flag}: {raw} raw, {adjusted} adjusted" for flag, (raw, adjusted) in by_flag.items()
                            if raw or adjusted)
        st.caption(f"{counts} · benchmark {funnel['p0'][0]:.1%}")

        st.subheader("Flags")
        vocabulary.show_table(
            flagged_first, {"numerator": "dropouts", "denominator": "closed", "rate": "dropout_rate"},
            selection_mode="single-row", key="flags",
            on_select=funnel_points.choice_from_table("flags", flagged_first["therapist_id"].to_list(), CHOICE))
        # shareable: counts, rate and both flags only (docs/dashboard.md#therapists)
        layout.downloads(flagged_first, "therapist_flags", shareable_tables.THERAPIST_FLAGS)

        # a click on a point, a ticked row and the select box are one choice, kept in the link (episodes_of)
        chosen = picked
        if chosen:
            st.subheader(f"Episodes of {literal(chosen)}")
            point = funnel_points.row_of(funnel, "therapist", chosen)
            st.markdown(funnel_points.point_sentence(point, "therapist", "Single-session dropout",
                                                     "closed episodes", widened=False))
            st.markdown(funnel_points.adjusted_sentence(point))
            episodes = data.run("episode_list", dataclasses.replace(scope, therapists=(chosen,)),
                                limit=layout.ROW_LIMIT)
            vocabulary.show_table(episodes)
            layout.downloads(episodes, f"episodes_{chosen}")
        else:
            st.caption("Select a point, a row or a therapist above to see that therapist's episodes.")

        st.subheader("Explain a therapist's flag: case mix")
        # flagged first, so the first option is the first flagged therapist, else the first listed
        listed = flagged_first["therapist_id"].to_list()
        explained = links.control("explain", links.one_of(listed, "a therapist listed here"), st.selectbox,
                                  "Explain a therapist's flag", listed, default=listed[0], key="explain_therapist")
        row = funnel.filter(pl.col("therapist_id") == explained).row(0, named=True)
        case_mix = data.run("therapist_case_mix", scope, therapist=explained)
        st.markdown(explain.case_mix_sentence(explained, int(row["denominator"]), float(case_mix["expected"].sum()),
                                              int(row["numerator"])))
        st.caption(f"Raw flag {row['flag']}, adjusted flag {row['adjusted_flag']}. Each stratum's dropout rate "
                   "is the service's for that kind of client (every filter but the therapist filter); the "
                   "expected count is the therapist's closed episodes in the stratum times that rate.")
        st.altair_chart(charts.case_mix_bars(case_mix), width="stretch")
        vocabulary.show_table(
            case_mix.select("stratum", "closed", "share", "dropouts", "service_share", "p_s", "expected"),
            {"closed": "therapist_closed", "dropouts": "therapist_dropouts", "expected": "expected_in_stratum"},
            key="case_mix")

        cusum_panel.show(scope)
