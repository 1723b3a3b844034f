"""Safety: clients who reported thoughts of self-harm and then did not come back."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import data, layout, vocabulary

st.title("Safety: risk follow-up gaps")
days = data.build()["risk_followup_days"]
st.caption(f"Episodes whose latest session with PHQ-9 item 9 of 1 or more was not followed by an attended "
           f"session within {days} days. Unresolved gaps (no return since) come first.")

scope = layout.scope()
if layout.has_episodes():
    gaps = data.run("risk_followup_gaps", scope)
    unresolved = gaps.filter(~pl.col("returned_later"))
    left, right = st.columns(2)
    left.metric("Unresolved gaps", f"{unresolved.height:,}", border=True)
    right.metric("Gaps where the client returned later", f"{gaps.height - unresolved.height:,}", border=True)
    table = gaps.sort("returned_later", "days_since_risk", descending=[False, False]).select(
        "client_id", "episode_id", "therapist_id", "clinic_id", "status", "risk_date", "item9",
        "next_contact_date", "next_contact_status", "returned_later",
        pl.col("days_since_risk").alias("days_since"))
    if table.is_empty():
        st.success("No risk follow-up gaps in this selection.")
    else:
        table = layout.capped(table, "gaps")
        vocabulary.show_table(table)
        layout.downloads(table, "risk_followup_gaps")
