"""Safety: the worklist of clients who reported thoughts of self-harm (docs/dashboard.md#safety)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import data, early_warning, layout, safety_worklist

st.title("Safety: risk follow-up gaps")
days = data.build()["risk_followup_days"]
st.caption(f"Clients whose latest session with PHQ-9 item 9 of 1 or more has nothing after it, and episodes where "
           f"no attended session followed it within {days} days. A prompt to check, not a risk assessment.")

scope = safety_worklist.undated(layout.scope())
risk_from, risk_to = safety_worklist.risk_dates(layout.scope())
dates = {"risk_from": risk_from, "risk_to": risk_to}

st.subheader("At risk, nothing ahead")
st.caption("Latest risk session followed by no attended session and by no booking after the extract date: listed "
           "from the day of the disclosure, most recent first.")
ahead = safety_worklist.with_followups(data.run("at_risk_nothing_ahead", scope, **dates))
if ahead.is_empty():
    st.success("Nobody in this selection disclosed thoughts of self-harm with nothing after it.")
else:
    safety_worklist.worklist_table(layout.capped(ahead, "clients at risk"), "nothing_ahead", ())

st.subheader(f"Risk follow-up gaps ({days} days)")
gaps = safety_worklist.with_followups(data.run("risk_followup_gaps", scope, **dates)).sort(
    "returned_later", "needs_action", "days_since_risk", descending=[False, True, False])
unresolved = gaps.filter(~pl.col("returned_later"))
tiles = st.columns(3)
tiles[0].metric("Unresolved gaps", f"{unresolved.height:,}", border=True,
                help="Not seen within the window, and not attended since")
tiles[1].metric("Unresolved, needing action", f"{unresolved['needs_action'].sum():,}", border=True,
                help="No follow-up entry for the risk session yet, or the latest is \"could not reach\"")
tiles[2].metric("Gaps where the client returned later", f"{gaps.height - unresolved.height:,}", border=True)
if gaps.is_empty():
    st.success("No risk follow-up gaps in this selection.")
else:
    table = layout.capped(gaps, "gaps")
    safety_worklist.worklist_table(table, "gaps", ("returned_later", "next_contact_date", "next_contact_status"))
    layout.downloads(table, "risk_followup_gaps")

chosen = safety_worklist.episode_choice(pl.concat([ahead.select("client_id", "episode_id", "risk_date"),
                                                   gaps.select("client_id", "episode_id", "risk_date")]))
if chosen is not None:
    safety_worklist.episode_detail(scope, *chosen)

# Early warnings while there is still time (docs/dashboard.md#early-warnings), below the risk worklist
early_warning.low_alliance(scope, "safety")
early_warning.not_on_track(scope, "safety")
