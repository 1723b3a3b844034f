"""Honest links (docs/dashboard.md#links): a link's bad values are named in a warning, every page
control is in the link and comes back from it, each page's dates say what they select, and the quick
periods are one click and part of the link."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dashboard_fixtures import (  # noqa: F401
    PAGES, PIXEL_URL, _release_cached_connections, dashboard_on, sample_db)
from hypothesis import given
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard.literal import literal
from pipelines.generate import EXTRACT_DATE

FIRST_SESSION = dt.date(2021, 7, 7)  # the sample's first first session; its last is the extract date


def link_notice(at: AppTest) -> str:
    """The warning at the top of the page about the link's values ("" when there is none)."""
    return next((w.value for w in at.warning if w.value.startswith("Parts of this link")), "")


# --- the sidebar filters' values ----------------------------------------------------------------------


def test_unknown_clinics_therapists_and_types_in_a_link_are_named_and_left_out(sample_db: Path,  # noqa: F811
                                                                               monkeypatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, clinic=["K02", "K77"], therapist=["T0201", "T9999"],
                      type=["assessment", "hypnosis"])
    notice = link_notice(at)
    assert f"clinic {literal('K77')}: unknown here, left out." in notice
    assert f"therapist {literal('T9999')}: unknown here, left out." in notice
    assert f"type {literal('hypnosis')}: unknown here, left out." in notice
    assert "K02" not in notice and "T0201" not in notice and "assessment" not in notice
    assert at.multiselect(key="filter_clinics").value == ["K02"]
    assert at.multiselect(key="filter_therapists").value == ["T0201"]
    assert at.query_params == {"clinic": "K02", "therapist": "T0201", "type": "assessment"}


def test_a_link_date_that_is_not_a_date_is_named_and_not_applied(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2025-13-01"})
    assert f"from {literal('2025-13-01')} is not a date (write it as YYYY-MM-DD): not applied." in link_notice(at)
    assert at.date_input(key="filter_from").value is None


@pytest.mark.parametrize(("name", "day"), [("from", "2030-01-01"), ("to", "2019-12-31")])
def test_a_link_date_outside_the_data_is_named_and_not_applied(sample_db: Path, monkeypatch,  # noqa: F811
                                                               name: str, day: str) -> None:
    at = dashboard_on(sample_db, monkeypatch, **{name: day})
    assert (f"{name} {literal(day)} is outside the data, which runs from {FIRST_SESSION} to {EXTRACT_DATE}: "
            "not applied.") in link_notice(at)
    assert at.date_input(key=f"filter_{name}").value is None
    assert at.query_params == {}


def test_a_backwards_range_in_a_link_is_swapped_and_said(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2025-06-30", "to": "2025-01-01"})
    assert "from 2025-06-30 is after to 2025-01-01: the two dates are swapped." in link_notice(at)
    assert (at.date_input(key="filter_from").value, at.date_input(key="filter_to").value) == (
        dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert at.query_params == {"from": "2025-01-01", "to": "2025-06-30"}
    assert at.subheader[0].value.startswith("Episodes starting 01 Jan 2025 – 30 Jun 2025")


def test_dates_picked_backwards_in_the_sidebar_say_nothing_can_match(sample_db: Path,  # noqa: F811
                                                                    monkeypatch) -> None:
    at = dashboard_on(sample_db, monkeypatch)
    at.date_input(key="filter_from").set_value(dt.date(2025, 6, 30))
    at.run()
    at.date_input(key="filter_to").set_value(dt.date(2025, 1, 1))
    at.run()
    assert ("First session from 2025-06-30 is after first session to 2025-01-01, so nothing can match: swap the "
            "dates or clear one.") in [w.value for w in at.warning]


def test_a_link_parameter_the_page_does_not_use_is_named(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, caseload="20", clinc="K01")  # the Therapists page's, and a typo
    assert f"{literal('caseload')}, {literal('clinc')}: not a setting this page shows now, left out." in link_notice(at)
    assert at.query_params == {}


def test_a_link_value_is_shown_as_plain_text(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    hostile = f"![c]({PIXEL_URL})"
    at = dashboard_on(sample_db, monkeypatch, clinic=hostile, caseload=hostile)
    assert f"clinic {literal(hostile)}: unknown here" in link_notice(at)
    assert f"](http" not in link_notice(at).replace(literal(hostile), "")


def test_the_link_notice_goes_once_the_filters_change(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, clinic="K77")
    assert link_notice(at)
    at.multiselect(key="filter_types").select("assessment")
    at.run()
    assert not link_notice(at)


def test_a_good_link_has_no_notice(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, "therapists", clinic="K01", caseload="20", **{"from": "2025-01-01"})
    assert not at.warning


# --- page controls in the link -------------------------------------------------------------------------

# page, parameter, widget type and key, a value in a link, the widget's value from it, another value to set
CONTROLS = [
    ("therapists", "caseload", "slider", "min_caseload", "20", 20, 30),
    ("therapists", "overdispersion", "toggle", "overdispersion", "off", False, True),
    ("therapists", "episodes_of", "selectbox", "funnel_therapist", "T0103", "T0103", "T0201"),
    ("therapists", "explain", "selectbox", "explain_therapist", "T0201", "T0201", "T0305"),
    ("therapists", "cusum_odds", "number_input", "cusum_odds_ratio", "3", 3.0, 4.5),
    ("therapists", "cusum_threshold", "number_input", "cusum_threshold", "7.5", 7.5, 9.0),
    ("therapists", "cusum_therapist", "selectbox", "cusum_therapist", "T0305", "T0305", "T0101"),
    ("attendance", "clinic_variation", "toggle", "widen_clinic_limits", "on", True, False),
    ("endings", "by_clinic", "toggle", "by_clinic", "on", True, False),
    ("endings", "by_end_reason", "toggle", "by_end_reason", "on", True, False),
    ("explore", "episode", "selectbox", "appointments_of", "C0000015:1", "C0000015:1", "C0000002:1"),
    ("safety", "trajectory", "selectbox", "safety_trajectory", "C0001990:1", "C0001990:1", "C0000068:1"),
]
CONTROL_IDS = [f"{page}-{param}" for page, param, *_ in CONTROLS]


@pytest.mark.parametrize(("page", "param", "widget", "key", "text", "value", "other"), CONTROLS, ids=CONTROL_IDS)
def test_a_page_control_comes_back_from_the_link_and_goes_into_it(sample_db: Path, monkeypatch,  # noqa: F811
                                                                  page, param, widget, key, text, value, other):
    at = dashboard_on(sample_db, monkeypatch, page, **{param: text})
    control = getattr(at, widget)(key=key)
    assert control.value == value
    assert at.query_params[param] == text
    assert not at.warning
    control.set_value(other)
    at.run()
    written = at.query_params.get(param)
    assert getattr(at, widget)(key=key).value == other
    assert written is None or written == (f"{other:g}" if isinstance(other, float) else
                                          {True: "on", False: "off"}.get(other, str(other)))


@pytest.mark.parametrize(("page", "param", "widget", "key", "bad"), [
    ("therapists", "caseload", "slider", "min_caseload", "500"),
    ("therapists", "overdispersion", "toggle", "overdispersion", "maybe"),
    ("therapists", "episodes_of", "selectbox", "funnel_therapist", "T9999"),
    ("therapists", "cusum_odds", "number_input", "cusum_odds_ratio", "nan"),
    ("therapists", "cusum_therapist", "selectbox", "cusum_therapist", "K01"),
    ("endings", "by_clinic", "toggle", "by_clinic", "yes"),
    ("explore", "episode", "selectbox", "appointments_of", "C9999999:1"),
    ("explore", "trajectory", "selectbox", "explore_trajectory", "C9999999:1"),
], ids=lambda value: str(value))
def test_a_bad_page_control_value_in_a_link_is_named_and_the_default_kept(sample_db: Path, monkeypatch,  # noqa: F811
                                                                          page, param, widget, key, bad):
    default = getattr(dashboard_on(sample_db, monkeypatch, page), widget)(key=key).value
    at = dashboard_on(sample_db, monkeypatch, page, **{param: bad})
    assert getattr(at, widget)(key=key).value == default
    [warning] = [w.value for w in at.warning]
    assert warning.startswith(f"This link's {param} {literal(bad)} is not ")
    assert param not in at.query_params


def test_one_pages_controls_stay_out_of_another_pages_link(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, "therapists", clinic="K01", caseload="20")
    assert at.query_params == {"clinic": "K01", "caseload": "20"}
    at.switch_page("views/endings.py")
    at.run()
    assert at.query_params == {"clinic": "K01"}
    at.switch_page("views/therapists.py")
    at.run()
    assert at.slider(key="min_caseload").value == 10  # back to the warehouse's setting: a page visit starts afresh


def test_a_picked_point_sets_the_episodes_shown_and_the_link(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, "therapists")
    assert at.selectbox(key="funnel_therapist").value is None and "episodes_of" not in at.query_params
    at.session_state["funnel"] = {"selection": {"therapist": [{"therapist_id": "T0305"}]}}
    at.run()
    assert at.selectbox(key="funnel_therapist").value == "T0305"
    assert at.query_params["episodes_of"] == "T0305"
    at.selectbox(key="funnel_therapist").set_value("T0101")  # the point stays selected, the choice still wins
    at.run()
    assert at.query_params["episodes_of"] == "T0101"
    assert f"Episodes of {literal('T0101')}" in [s.value for s in at.subheader]


def test_a_ticked_row_sets_the_episode_shown_and_the_link(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, "explore")
    first = at.dataframe[0].value.iloc[0]
    at.session_state["episodes"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.query_params["episode"] == f"{first['client_id']}:{first['episode_id']}"
    assert at.subheader[0].value == (f"Appointments of client {literal(first['client_id'])}, "
                                     f"episode {literal(first['episode_id'])}")


# --- what each page's dates select ----------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_each_pages_dates_say_what_they_select(sample_db: Path, monkeypatch, page: str) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, page)
    labels = [d.label for d in at.sidebar.date_input]
    what = "Appointments" if page == "attendance" else "First session"
    assert labels == [f"{what} from", f"{what} to"]
    sentence = at.sidebar.caption[0].value
    assert sentence.startswith("Dates select appointments by their own date" if page == "attendance"
                               else "Dates select episodes by")


# --- quick periods --------------------------------------------------------------------------------------


def test_this_year_is_one_click_and_in_the_link(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch)
    at.button_group(key="filter_period").set_value("this-year")
    at.run()
    assert (at.date_input(key="filter_from").value, at.date_input(key="filter_to").value) == (
        dt.date(EXTRACT_DATE.year, 1, 1), EXTRACT_DATE)
    assert at.query_params == {"period": "this-year"}
    assert at.subheader[0].value.startswith(f"Episodes starting 01 Jan {EXTRACT_DATE.year} – "
                                            f"{EXTRACT_DATE:%d %b %Y}")


def test_a_period_in_a_link_sets_the_dates(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, period="last-quarter")
    assert at.button_group(key="filter_period").value == "last-quarter"
    assert (at.date_input(key="filter_from").value, at.date_input(key="filter_to").value) == (
        dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert not link_notice(at)  # the Overview's own warning says its months are still incomplete


def test_a_period_and_dates_in_one_link_keep_the_period_and_say_so(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, period="this-year", **{"from": "2025-01-01"})
    assert f"the period {literal('this-year')} sets the dates, so from and to are not applied." in link_notice(at)
    assert at.date_input(key="filter_from").value == dt.date(EXTRACT_DATE.year, 1, 1)


def test_an_unknown_period_in_a_link_is_named(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, period="last-week")
    assert f"period {literal('last-week')} is not one of" in link_notice(at)
    assert at.date_input(key="filter_from").value is None


def test_typing_a_date_leaves_the_quick_period(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, period="this-year")
    at.date_input(key="filter_from").set_value(dt.date(2026, 3, 1))
    at.run()
    assert at.button_group(key="filter_period").value is None
    assert at.query_params == {"from": "2026-03-01", "to": EXTRACT_DATE.isoformat()}


def test_all_clears_the_dates(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2025-01-01", "to": "2025-06-30"})
    at.button_group(key="filter_period").set_value("all")
    at.run()
    assert at.date_input(key="filter_from").value is None and at.date_input(key="filter_to").value is None
    assert at.query_params == {}


@given(st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_quick_periods_end_by_the_extract_date_and_cover_what_they_say(extract_date: dt.date) -> None:
    from dashboard.filters import period_dates

    start, end = period_dates("last-12-months", extract_date)
    assert end == extract_date and 365 <= (end - start).days + 1 <= 366
    assert (start - dt.timedelta(days=1)).replace(year=extract_date.year) in (extract_date,
                                                                              extract_date - dt.timedelta(days=1))
    assert period_dates("this-year", extract_date) == (dt.date(extract_date.year, 1, 1), extract_date)
    start, end = period_dates("last-quarter", extract_date)
    after = end + dt.timedelta(days=1)  # the next quarter's first day
    assert start.day == after.day == 1 and start.month in (1, 4, 7, 10) and after.month in (1, 4, 7, 10)
    assert 90 <= (after - start).days <= 92 and end <= extract_date  # one whole quarter, ended by E
    month = after.month + 3
    after_end = dt.date(after.year + month // 13, (month - 1) % 12 + 1, 1) - dt.timedelta(days=1)
    assert after_end > extract_date  # the quarter after it has not ended by E: it is the latest
    assert period_dates("all", extract_date) == (None, None)
