"""The Safety page's worklist (docs/dashboard.md#safety): its own risk-date filter, the two lists
with each row's latest follow-up entry, an episode's appointments, and the follow-up log's form.

Rows and entries are chosen on the server: the lists come from reports run through dashboard.data
(narrowed to the signed-in user's clinics), the log shows only those rows' entries, and a new entry
is checked against the warehouse again when it is written (pipelines/followup.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import streamlit as st

from dashboard import data, gate, links, vocabulary
from dashboard.literal import literal
from pipelines.errors import AccessDenied, LoadError
from pipelines.followup import (
    NAME_GIVEN,
    NOTE_LIMIT,
    OUTCOMES,
    VERIFIED,
    WHO_LIMIT,
    Entry,
    FollowupLog,
    log_path,
    with_latest_entry,
)
from pipelines.queries import Scope

EPISODE = "safety_episode"  # session-state key of the episode opened below the lists
RISK_PARAMS = {"risk_from": "safety_risk_from", "risk_to": "safety_risk_to"}  # link parameter -> widget key
RECORDED = "followup_recorded"  # session-state key of the confirmation shown after an entry is added
# The columns of both lists, key columns first (docs/dashboard.md#safety), then the latest follow-up entry;
# labels, help and formats are the dashboard's vocabulary (dashboard/vocabulary.py).
COMMON_COLUMNS = ("client_id", "days_since_risk", "therapist_id", "risk_date", "item9", "episode_id", "clinic_id",
                  "status")
LATEST_COLUMNS = ("needs_action", "latest_outcome", "latest_note", "latest_by", "latest_at")


def followup_log() -> FollowupLog:
    return FollowupLog(log_path(data.warehouse_path()))


def risk_dates(scope: Scope) -> tuple[dt.date | None, dt.date | None]:
    """The page's own filter on the risk session's date, in the link as risk_from and risk_to
    (docs/dashboard.md#links: a date that cannot be read, or is outside the data, is named in a warning)."""
    last = data.build()["extract_date"]
    first = data.run("filter_options", Scope())["first_date"].min() or last
    left, right = st.columns(2)
    risk_from = links.control("risk_from", links.day(first, last), left.date_input, "Risk session from",
                              default=None, key=RISK_PARAMS["risk_from"], value=None, format="YYYY-MM-DD",
                              help="Rows whose risk session is on or after this date")
    risk_to = links.control("risk_to", links.day(first, last), right.date_input, "Risk session to",
                            default=None, key=RISK_PARAMS["risk_to"], value=None, format="YYYY-MM-DD",
                            help="Rows whose risk session is on or before this date")
    if risk_from and risk_to and risk_from > risk_to:
        st.warning(f"Risk session from ({risk_from}) is after risk session to ({risk_to}), so no row can match. "
                   "Swap the dates.")
    sidebar_dates = " to ".join(str(d) if d else "any" for d in (scope.from_date, scope.to_date))
    st.caption("This page selects rows by the date of the **risk session**, with the two dates above (both "
               "included; empty: every date). The sidebar's first-session dates do not narrow it"
               + (f" (they are set to {sidebar_dates} for the other pages)" if scope.from_date or scope.to_date
                  else "")
               + "; its clinic, therapist and first-session-type filters do. The Overview's tile counts only the "
                 "unresolved gaps of episodes that started in its period, so it is usually smaller.")
    return risk_from, risk_to


def undated(scope: Scope) -> Scope:
    """The sidebar's scope without its first-session dates: this page filters by risk date instead."""
    return dataclasses.replace(scope, from_date=None, to_date=None)


def with_followups(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows with their latest follow-up entry and whether they need action. A log that cannot
    be read is named in one line, and the rows are shown as needing action."""
    log = followup_log()
    try:
        entries = log.entries(rows)
    except LoadError as exc:
        st.error(literal(exc))
        entries = log.entries(rows.clear())
    return with_latest_entry(rows, entries)


def worklist_table(rows: pl.DataFrame, key: str, extra: tuple[str, ...]) -> None:
    """A table of worklist rows, key columns first, then `extra`, then the latest follow-up; selecting a
    row opens its episode below."""
    shown = rows.select([name for name in (*COMMON_COLUMNS, *extra, *LATEST_COLUMNS) if name in rows.columns])
    event = vocabulary.show_table(shown, key=key, on_select="rerun", selection_mode="single-row")
    # A newly selected row opens its episode below; comparing with the selection last seen lets the
    # other table or the select box choose another episode meanwhile.
    selected = tuple(event.selection.rows) if event else ()
    if selected != st.session_state.get(f"{key}_seen", ()):
        st.session_state[f"{key}_seen"] = selected
        if selected:
            picked = shown.row(selected[0], named=True)
            st.session_state[EPISODE] = (picked["client_id"], picked["episode_id"])


def episode_choice(rows: pl.DataFrame) -> tuple[str, str] | None:
    """The episode to open: a row selected in a table, or chosen here (by keyboard too)."""
    choices = rows.select("client_id", "episode_id", "risk_date").unique(maintain_order=True)
    keys = [(r["client_id"], r["episode_id"]) for r in choices.iter_rows(named=True)]
    labels = {(r["client_id"], r["episode_id"]): f"client {r['client_id']} · episode {r['episode_id']} · "
              f"risk session {r['risk_date']}" for r in choices.iter_rows(named=True)}
    if st.session_state.get(EPISODE) not in labels:
        st.session_state[EPISODE] = None
    return st.selectbox("Open an episode", keys, key=EPISODE, index=None, format_func=labels.get,
                        placeholder="Select a row above, or choose an episode here")


def episode_detail(scope: Scope, client_id: str, episode_id: str) -> None:
    """The episode's appointments (as Explore shows them), its follow-up entries and the form."""
    st.subheader(f"Client {literal(client_id)}, episode {literal(episode_id)}")
    appointments = data.run("episode_appointments", scope, client_id=client_id, episode_id=episode_id)
    if gate.allowed_clinics() is not None:  # a restricted user (docs/security.md#who-sees-what)
        st.caption("Appointments at clinics outside your access are not shown.")
    vocabulary.show_table(appointments)
    log = followup_log()
    try:
        history = log.history(data.restricted_reader(), client_id, episode_id)
    except (AccessDenied, LoadError) as exc:
        st.error(literal(exc))
        return
    st.markdown("**Follow-up log** (newest last)")
    if history.is_empty():
        st.caption("No entries yet for this episode.")
    else:
        vocabulary.show_table(history.select(
            "recorded_at", pl.col("outcome").replace_strict(OUTCOMES), "note", "recorded_by", "who_kind",
            pl.col("risk_date").alias("about_risk_date")))
    followup_form(log, client_id, episode_id)


def followup_form(log: FollowupLog, client_id: str, episode_id: str) -> None:
    """Add an entry: outcome, a note, and who (the verified sign-in, or a typed name when open)."""
    if recorded := st.session_state.pop(RECORDED, None):
        st.success(recorded)
    access = gate.access_file()
    signed_in = gate.trusted_email(access) if access is not None else None
    with st.form("followup_form", clear_on_submit=True, enter_to_submit=False):
        outcome = st.radio("Outcome", list(OUTCOMES), format_func=OUTCOMES.get, horizontal=True,
                           key="followup_outcome")
        note = st.text_area("Note (what was done; never a name, phone number or other identifier)",
                            max_chars=NOTE_LIMIT, key="followup_note")
        if signed_in is None:
            name = st.text_input("Your name", max_chars=WHO_LIMIT, key="followup_name",
                                 help="This dashboard runs without sign-in, so the entry records the name you "
                                      "type, marked as not verified (docs/security.md#the-follow-up-log)")
        submitted = st.form_submit_button("Add to the follow-up log", icon=":material/add_task:")
    if signed_in is not None:
        st.caption(f"Entries are recorded as {literal(signed_in)}, with the time in UTC.")
    if not submitted:
        return
    who, kind = (signed_in, VERIFIED) if signed_in is not None else (name, NAME_GIVEN)
    try:
        log.record(data.restricted_reader(), Entry(client_id, episode_id, outcome, note, who, kind))
    except (AccessDenied, LoadError) as exc:
        st.error(f"Not recorded: {literal(exc)}")
        return
    st.session_state[RECORDED] = f"Recorded: {OUTCOMES[outcome]}, by {literal(who)}."  # shown after the rerun
    st.rerun()
