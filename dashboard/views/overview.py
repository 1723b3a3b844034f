"""Overview: the headline of each warning sign, this period against the one before."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import data, frames, layout, trends, vocabulary
from pipelines.report import median_days

st.title("Overview")
settings = data.build()
st.caption(f"Data as of **{settings['extract_date']}** (extract date, {settings['extract_date_source']}) · "
           f"warehouse built {settings['built_at']:%Y-%m-%d %H:%M} · {layout.DISCLAIMER}")

scope = layout.scope()
if layout.has_episodes():
    extract_date: dt.date = settings["extract_date"]
    current, previous = frames.headline_periods(scope, extract_date)
    start, end = current.from_date, current.to_date

    # Both periods' counts in one query: this page redraws on every filter change.
    counts = data.run("overview_headline", current, previous_from=previous.from_date,
                      previous_to=previous.to_date)

    def headline(name: str, period) -> dict[str, float | int | None]:
        row = counts.filter(pl.col("period") == name).row(0, named=True)
        phq9 = row["has_phq9"]
        return {
            "dropout": row["dropout"] / row["closed"] if row["closed"] else None,
            "dropout_text": layout.rate_text(row["dropout"], row["closed"]),
            "improvement": row["reliable_improvement"] / row["paired"] if phq9 and row["paired"] else None,
            "improvement_text": layout.rate_text(row["reliable_improvement"], row["paired"]) if phq9 else "no PHQ-9",
            "recovery": row["recovery"] / row["paired_in_clinical_range"]
            if phq9 and row["paired_in_clinical_range"] else None,
            "recovery_text": layout.rate_text(row["recovery"], row["paired_in_clinical_range"]) if phq9
            else "no PHQ-9",
            "median": median_days(data.run("kaplan_meier", period, by_clinic=False)),
            "plateaued_open": row["plateaued_open"],
            "unresolved_gaps": row["unresolved_gaps"],
        }

    now, before = headline("current", current), headline("previous", previous)

    def change(key: str, percent: bool = False) -> str | None:
        if now[key] is None or before[key] is None:
            return None
        delta = now[key] - before[key]
        # the same dates a year earlier, and the change from them (docs/dashboard.md#overview)
        return (f"{delta * 100:+.1f} pts on {before[key]:.1%} {earlier}" if percent
                else f"{delta:+,} on {before[key]:,} {earlier}")

    years = frames.years_between(current, previous)
    earlier = "a year earlier" if years == 1 else f"{years} years earlier"
    st.subheader(f"Episodes starting {start:%d %b %Y} – {end:%d %b %Y}, against the same dates {earlier} "
                 f"({previous.from_date:%d %b %Y} – {previous.to_date:%d %b %Y})")
    months = trends.periods(scope, "month")
    trends.incomplete_warning(months, current)
    tiles = [*st.columns(3), *st.columns(3)]
    tiles[0].metric("Single-session dropout",
                    f"{now['dropout']:.1%}" if now["dropout"] is not None else vocabulary.MISSING,
                    change("dropout", True), delta_color="inverse", help=now["dropout_text"], border=True)
    tiles[1].metric("Reliable improvement (PHQ-9)", f"{now['improvement']:.1%}" if now["improvement"] is not None
                    else vocabulary.MISSING, change("improvement", True), help=now["improvement_text"], border=True)
    tiles[2].metric("Recovery (PHQ-9)", f"{now['recovery']:.1%}" if now["recovery"] is not None else vocabulary.MISSING,
                    change("recovery", True), help=now["recovery_text"], border=True)
    tiles[3].metric("Median days to discharge", now["median"] if now["median"] is not None else "not reached",
                    change("median"), delta_color="off", border=True)
    tiles[4].metric("Open plateaued episodes", now["plateaued_open"], change("plateaued_open"),
                    delta_color="inverse", border=True)
    tiles[5].metric("Unresolved risk follow-up gaps", now["unresolved_gaps"], change("unresolved_gaps"),
                    delta_color="inverse", border=True,
                    help="Episodes that started in this period (by first-session date) with an unresolved gap. The "
                         "Safety page selects gaps by the date of the risk session, every date unless its own filter "
                         "is set, so it usually shows more.")

    st.subheader("Single-session dropout over time")
    trends.control_chart("overview", scope, months, trends.shaded_dates(start, end))

st.subheader("The four warning signs")
st.markdown("""
**The first session is wasted.** Many clients come once and never again. When the first hour is
spent on forms and history-taking, the client leaves without a reason to return. We count closed
episodes that ended after one session without a planned ending or an onward referral.

**No hope is given.** Clients stay when they sense early that things can change and that their
therapist is with them. We look at change between the first two scores, the first-session
alliance rating, and how many clients improve reliably or recover.

**Therapy fossilizes.** Sometimes sessions carry on while the scores have stopped moving. We find
runs of scores that stay in the clinical range without reliable change, and count the sessions
delivered after such a plateau.

**Therapy replaces real life.** Therapy should end. We show how long episodes last, counting open
ones as still running, and list the episodes with very many sessions or lasting a year or more.

**Safety.** A client who reported thoughts of self-harm and then did not come back within two
weeks is listed on the Safety page until the gap is followed up.
""")
