"""Attendance: appointment-level no-shows and single-appointment clients, by clinic.

It needs no episode to have ended, so it reads a log of a few weeks (where every episode is
still open and the episode-based pages have nothing closed to count) as well as a long one."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, explain, funnel_points, key_columns, layout, links, shareable_tables, vocabulary

st.title("Attendance")
st.caption("Every appointment dated on or before the extract date. No-show rate: did not attend, as a "
           "share of appointments attended or missed (cancellations aside). Here the sidebar filters "
           "select appointments by their own clinic, therapist, session type and date, not by the "
           "episode's first session.")

scope = layout.scope()
summary = data.run("attendance_summary", scope).row(0, named=True)
if not summary["appointments"]:
    st.info("No appointments dated on or before the extract date match these filters. Widen the date "
            "range or clear a filter in the sidebar.")
else:
    # Two rates with their counts, then two counts: a rate's "(n of m)" needs half the width.
    rates, counts = st.columns(2), st.columns(2)
    rates[0].metric("No-show rate", layout.rate_text(summary["numerator"], summary["denominator"]), border=True,
                    help="Did not attend ÷ (attended + did not attend).")
    rates[1].metric("Clients with a single appointment",
                    layout.rate_text(summary["single_appointment_clients"], summary["clients"]), border=True,
                    help=f"Of {summary['clients']:,} clients; {summary['single_attended_clients']:,} of them "
                         "attended that one appointment.")
    counts[0].metric("Appointments", f"{summary['appointments']:,}", border=True,
                     help=f"{summary['first_date']} to {summary['last_date']}")
    cancelled = summary["cancelled_client"] + summary["cancelled_clinic"]
    counts[1].metric("Cancelled", f"{cancelled:,}", border=True,
                     help=f"By the client {summary['cancelled_client']:,}, by the clinic {summary['cancelled_clinic']:,}.")
    aside = []
    if summary["unrecorded"]:
        aside.append(f"{summary['unrecorded']:,} past appointments are still marked scheduled (no outcome "
                     "recorded) and are counted as neither attended nor missed")
    if summary["booked_ahead"]:
        aside.append(f"{summary['booked_ahead']:,} appointments are booked after the extract date")
    if aside:
        st.caption("; ".join(aside) + ".")

    st.subheader("No-shows by clinic")
    default_caseload = int(data.build()["min_caseload"])
    clinics = data.run("attendance_by_clinic", scope)
    limits = data.run("attendance_funnel_limits", scope)
    estimate = clinics.select("eligible", "phi", "tau2").row(0, named=True) if clinics.height else None
    widen = links.control("clinic_variation", links.SWITCH, st.toggle, "Allow for variation between clinics",
                          default=bool(estimate and estimate["phi"] is not None), key="widen_clinic_limits",
                          help="Widens the limits by how much more the clinics' no-show rates differ than chance "
                           "alone would make them (docs/metrics/attendance.md#overdispersion).")
    if estimate is not None:
        st.caption(explain.variation_sentence(
            "clinics", f"have {default_caseload} or more attended or missed appointments", estimate["eligible"],
            estimate["phi"], estimate["tau2"], applied=widen))
    if limits.is_empty():
        st.info("No appointment in this selection was attended or missed, so there is no no-show rate.")
    else:
        draw = charts.widened_funnel_plot if widen else charts.funnel_plot
        drawn = clinics.filter(pl.col("denominator") > 0)
        st.altair_chart(draw(drawn, limits, unit="clinic",
                             caseload_title="Appointments attended or missed", rate_title="No-show rate"),
                        width="stretch", key="clinic_funnel",
                        on_select=funnel_points.choice_from_chart("clinic_funnel", "clinic", "funnel_clinic"))
        # a keyboard path to each point: the same choice as a click (docs/dashboard.md#accessibility)
        picked = funnel_points.pick("Clinic on the funnel", drawn["clinic_id"].to_list(), "funnel_clinic",
                                    "The same as a click on its point: its no-show rate, limits and flag.",
                                    "clinic_point", "clinic")
        if picked is not None:
            st.markdown(funnel_points.point_sentence(funnel_points.row_of(drawn, "clinic", picked), "clinic",
                                                     "No-show rate", "attended or missed", widened=widen))
        st.caption("Each point is a clinic. A small clinic's rate swings by chance, so it is judged against "
                   "wide limits, never ranked on its rate alone; clinics with fewer than "
                   f"{default_caseload} attended or missed appointments are not flagged (insufficient).")
    table = clinics.select("clinic_id", "appointments", "attended", "dna", "cancelled_client", "cancelled_clinic",
                           "numerator", "denominator", "rate", "flag", "adjusted_flag")
    severity = {"alarm": 0, "alert": 1, "none": 2, "insufficient": 3}
    flagged_first = table.sort(pl.col("adjusted_flag" if widen else "flag").replace_strict(severity),
                               pl.col("flag").replace_strict(severity), "clinic_id")
    flagged_first = key_columns.key_first(flagged_first, "attendance_by_clinic")
    vocabulary.show_table(layout.capped(flagged_first, "clinics"), {
        "rate": "no_show_rate", "numerator": "no_shows", "denominator": "attended_or_missed"})
    layout.downloads(flagged_first, "attendance_by_clinic", shareable_tables.ATTENDANCE_BY_CLINIC)
