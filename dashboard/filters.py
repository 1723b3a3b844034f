"""Sidebar filters, kept in st.query_params so a filtered view is a link someone can send."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from pipelines.queries import Scope

# query parameter -> session-state key of its widget
PARAMS = {"clinic": "filter_clinics", "therapist": "filter_therapists", "type": "filter_types",
          "from": "filter_from", "to": "filter_to"}


def _restore_from_link(options: pl.DataFrame) -> None:
    """First run of a session: take the filters from the link, dropping unknown values."""
    if st.session_state.get("filters_restored"):
        return
    params = st.query_params
    known = {"clinic": set(options["clinic_id"].drop_nulls()), "therapist": set(options["therapist_id"].drop_nulls()),
             "type": set(options["first_session_type"].drop_nulls())}
    for name in ("clinic", "therapist", "type"):
        st.session_state[PARAMS[name]] = [v for v in params.get_all(name) if v in known[name]]
    for name in ("from", "to"):
        try:
            st.session_state[PARAMS[name]] = dt.date.fromisoformat(params[name]) if name in params else None
        except ValueError:
            st.session_state[PARAMS[name]] = None
    st.session_state["filters_restored"] = True


def _write_link(values: dict[str, list[str] | dt.date | None]) -> None:
    # The sidebar's own parameters only: a page's (the Safety page's risk_from and risk_to) are the
    # page's to write, and a parameter bound to a widget may not be set from here at all.
    for name, value in values.items():
        if value:
            st.query_params[name] = value.isoformat() if isinstance(value, dt.date) else value
        elif name in st.query_params:
            del st.query_params[name]


def sidebar_filters(options: pl.DataFrame) -> Scope:
    """Draw the filters; return the scope every page applies."""
    _restore_from_link(options)
    sidebar = st.sidebar
    sidebar.header("Filters")
    first, last = options["first_date"].min(), options["last_date"].max()
    sidebar.date_input("First session from", key=PARAMS["from"], min_value=first, max_value=last, value=None)
    sidebar.date_input("First session to", key=PARAMS["to"], min_value=first, max_value=last, value=None)
    clinics = sidebar.multiselect("Clinics", sorted(options["clinic_id"].drop_nulls().unique()),
                                  key=PARAMS["clinic"], placeholder="All clinics")
    therapist_rows = options.filter(pl.col("clinic_id").is_in(clinics)) if clinics else options
    therapist_choices = sorted(set(therapist_rows["therapist_id"].drop_nulls())
                               | set(st.session_state.get(PARAMS["therapist"], [])))
    therapists = sidebar.multiselect("Therapists", therapist_choices, key=PARAMS["therapist"],
                                     placeholder="All therapists")
    types = sidebar.multiselect("First session type", sorted(options["first_session_type"].drop_nulls().unique()),
                                key=PARAMS["type"], placeholder="All types")
    date_from, date_to = st.session_state[PARAMS["from"]], st.session_state[PARAMS["to"]]
    _write_link({"clinic": clinics, "therapist": therapists, "type": types, "from": date_from, "to": date_to})
    return Scope(
        clinics=tuple(clinics) or None,
        therapists=tuple(therapists) or None,
        from_date=date_from,
        to_date=date_to,
        session_types=tuple(types) or None,
    )
