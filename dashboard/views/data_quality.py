"""Data quality: the latest load's reconciliation, what was quarantined, and field issues."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import data, frames, layout, vocabulary
from pipelines.errors import AccessDenied

st.title("Data quality")
scope = layout.scope()
try:
    loads = data.run("load_history", scope)
except AccessDenied:
    loads = None
    st.info("The load reports cover every clinic, so they are shown only to users who can see every "
            "clinic. Below: quarantined rows and data issues of your clinics.")
latest_id = data.build()["latest_load_id"] if loads is None else loads["load_id"].max()
if loads is not None:
    latest = loads.filter(pl.col("load_id") == latest_id)
    totals = latest.select(pl.col("rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged").sum()).row(
        0, named=True)
    reconciles = totals["rows_read"] == totals["rows_loaded"] + totals["rows_quarantined"] + totals["duplicates_merged"]
    st.subheader(f"Latest load ({latest_id}, {latest['loaded_at'][0]:%Y-%m-%d %H:%M})")
    st.markdown(f"Rows read **{totals['rows_read']:,}** = loaded **{totals['rows_loaded']:,}** + quarantined "
                f"**{totals['rows_quarantined']:,}** + duplicates merged **{totals['duplicates_merged']:,}** — "
                + ("reconciles, per file and in total." if reconciles and latest["reconciles"].all()
                   else "**does not reconcile**."))
    vocabulary.show_table(latest.drop("load_id"))

st.subheader("Quarantined rows by reason")
reasons = data.run("quarantine_reasons", scope, load_id=latest_id)
if reasons.is_empty():
    st.success("Nothing was quarantined in the latest load.")
else:
    vocabulary.show_table(reasons)

st.subheader("Data issues by field")
issues = data.run("data_issue_summary", scope)
if issues.is_empty():
    st.success("No field problems on the loaded appointments.")
else:
    vocabulary.show_table(issues, {"reason": "issue_reason"})

st.subheader("Score coverage at attended sessions")
coverage = frames.with_rate(data.run("score_coverage", scope), "scored", "sessions")
vocabulary.show_table(coverage, {"numerator": "scored", "denominator": "sessions", "rate": "score_coverage"})

if loads is not None:
    st.subheader("Earlier loads")
    earlier = loads.filter(pl.col("load_id") != latest_id)
    if earlier.is_empty():
        st.caption("This warehouse has had one load so far.")
    else:
        vocabulary.show_table(earlier)
