"""Therapists: funnel plots of single-session dropout, raw and case-mix adjusted, for quality teams
(never a league table), and the case mix that explains a flag (docs/dashboard.md#therapists)."""

from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from dashboard import charts, cusum_panel, data, explain, frames, layout, links, shareable_tables
from dashboard.literal import literal

st.title("Therapists")
st.caption("Each point is a therapist. Left, the adjusted funnel: observed single-session dropouts ÷ the "
           "number expected from their clients' case mix, against that expected number. Right, the raw "
           "funnel: their dropout rate against the service's. Points beyond the dashed curves are further "
           "from what is expected than chance would explain; small caseloads have wide limits.")

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
                adjusted_event = st.altair_chart(charts.adjusted_funnel_plot(funnel, guides), width="stretch",
                                                 on_select="rerun", key="adjusted_funnel")
        with raw_side:
            st.markdown("**Raw** (rate against closed episodes)")
            raw_event = st.altair_chart(charts.funnel_plot(funnel, limits), width="stretch", on_select="rerun",
                                        key="funnel")
        by_flag = {flag: ((funnel["flag"] == flag).sum(), (funnel["adjusted_flag"] == flag).sum())
                   for flag in frames.FLAG_ORDER}
        counts = " · ".join(f"{flag}: {raw} raw, {adjusted} adjusted" for flag, (raw, adjusted) in by_flag.items()
                            if raw or adjusted)
        st.caption(f"{counts} · benchmark {funnel['p0'][0]:.1%}")

        st.subheader("Flags")
        flagged_first = frames.therapist_flags(funnel)
        selected_rows = st.dataframe(
            flagged_first, hide_index=True, on_select="rerun", selection_mode="single-row", key="flags",
            column_config={
                "flag": st.column_config.TextColumn("raw flag"),
                "adjusted_flag": st.column_config.TextColumn("adjusted flag"),
                "numerator": st.column_config.NumberColumn("dropouts (O)"),
                "denominator": st.column_config.NumberColumn("closed episodes"),
                "rate": st.column_config.NumberColumn("rate", format="percent"),
                "expected": st.column_config.NumberColumn("expected (E)", format="%.1f"),
                "ratio": st.column_config.NumberColumn("O/E", format="%.2f"),
                "z": st.column_config.NumberColumn("z", format="%.2f"),
                "adjusted_z": st.column_config.NumberColumn("adjusted z", format="%.2f"),
            },
        )
        # shareable: counts, rate and both flags only (docs/dashboard.md#therapists)
        layout.downloads(flagged_first, "therapist_flags", shareable_tables.THERAPIST_FLAGS)

        picked = None
        for event in (adjusted_event, raw_event):
            points = (event["selection"].get("therapist") or []) if event else []
            if points and picked is None:
                picked = points[0].get("therapist_id")
        if picked is None and selected_rows and selected_rows.selection.rows:
            picked = flagged_first["therapist_id"][selected_rows.selection.rows[0]]
        listed = flagged_first["therapist_id"].to_list()
        links.follow("episodes_of", picked)  # a point or row picks the therapist; the link keeps it
        chosen = links.control("episodes_of", links.one_of(listed, "a therapist listed here"), st.selectbox,
                               "Show the episodes of", listed, default=None, key="episodes_of",
                               placeholder="Select a point, a row or a therapist")
        if chosen:
            st.subheader(f"Episodes of {literal(chosen)}")
            episodes = data.run("episode_list", dataclasses.replace(scope, therapists=(chosen,)),
                                limit=layout.ROW_LIMIT)
            st.dataframe(episodes, hide_index=True)
            layout.downloads(episodes, f"episodes_{chosen}")
        else:
            st.caption("Select a point or a row to see that therapist's episodes.")

        st.subheader("Explain a therapist's flag: case mix")
        # flagged first, so the first option is the first flagged therapist, else the first listed
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
        st.dataframe(
            case_mix.select("stratum", "closed", "share", "dropouts", "service_share", "p_s", "expected"),
            hide_index=True, key="case_mix",
            column_config={
                "closed": st.column_config.NumberColumn("therapist's closed episodes"),
                "share": st.column_config.NumberColumn("therapist's share", format="percent"),
                "dropouts": st.column_config.NumberColumn("therapist's dropouts"),
                "service_share": st.column_config.NumberColumn("service's share", format="percent"),
                "p_s": st.column_config.NumberColumn("service dropout rate (p_s)", format="percent"),
                "expected": st.column_config.NumberColumn("expected dropouts (n × p_s)", format="%.2f"),
            },
        )

        cusum_panel.show(scope)
