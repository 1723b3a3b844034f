"""The Safety page as people use it (docs/dashboard.md#safety): its own risk-date filter, unresolved
first, a row opening the episode, the follow-up log's form, and the Overview's tile saying which date
it counts by. AppTest on the sample warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import _release_cached_connections, dashboard_on, sample_db  # noqa: F401
from streamlit.testing.v1 import AppTest

from dashboard.gate import ACCESS_ENV
from dashboard.vocabulary import MISSING
from pipelines.followup import LOG_ENV, NAME_GIVEN, VERIFIED, FollowupLog
from pipelines.queries import MetricsReader, Scope

HOSTILE_NOTE = "**x** <b>y</b> [z](http://a)"
MARKDOWN_KINDS = ("markdown", "caption", "subheader", "title", "info", "warning", "success", "error")


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "followup.sqlite"
    monkeypatch.setenv(LOG_ENV, str(path))
    monkeypatch.delenv(ACCESS_ENV, raising=False)
    return path


@pytest.fixture(scope="module")
def db(sample_db: Path) -> Path:  # noqa: F811
    return sample_db


@pytest.fixture(scope="module")
def truth(db: Path):
    reader = MetricsReader.open(db)
    yield reader
    reader.close()


def tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def open_row(at: AppTest, table: str, row: int) -> AppTest:
    """Select a row of a worklist table, as a click (or Space on a focused row) does."""
    at.session_state[table] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_safety_page_is_not_narrowed_by_the_sidebar_first_session_dates(db, truth, log, monkeypatch):
    at = dashboard_on(db, monkeypatch, "safety", **{"from": "2026-06-01", "to": "2026-06-30"})
    gaps = truth.run("risk_followup_gaps", Scope())
    unresolved = gaps.filter(~gaps["returned_later"]).height
    assert unresolved > 0
    assert tiles(at)["Unresolved gaps"] == f"{unresolved:,}"
    assert any("first-session dates do not narrow it" in c.value and "2026-06-01 to 2026-06-30" in c.value
               for c in at.caption)


def test_risk_date_filter_in_the_link_selects_rows_by_their_risk_session(db, truth, log, monkeypatch):
    at = dashboard_on(db, monkeypatch, "safety", risk_from="2026-04-01", risk_to="2026-06-30")
    assert at.date_input(key="safety_risk_from").value == dt.date(2026, 4, 1)
    expected = truth.run("risk_followup_gaps", Scope(), risk_from=dt.date(2026, 4, 1), risk_to=dt.date(2026, 6, 30))
    shown = at.dataframe(key="gaps").value
    assert len(shown) == expected.height > 0
    assert shown["risk_date"].min().date() >= dt.date(2026, 4, 1)
    ahead = at.dataframe(key="nothing_ahead").value
    assert ahead["risk_date"].min().date() >= dt.date(2026, 4, 1)


def test_backwards_risk_dates_say_so(db, log, monkeypatch):
    at = dashboard_on(db, monkeypatch, "safety", risk_from="2026-06-01", risk_to="2026-01-01")
    assert any("is after risk session to" in w.value for w in at.warning)


def test_unresolved_gaps_come_first_and_needing_action_before_the_rest(db, log, monkeypatch):
    shown = dashboard_on(db, monkeypatch, "safety").dataframe(key="gaps").value
    returned = shown["returned_later"].tolist()
    assert returned == sorted(returned) and True in returned and False in returned


def test_at_risk_nothing_ahead_is_listed_above_the_gaps_with_days_since_and_therapist(db, truth, log,
                                                                                     monkeypatch):
    at = dashboard_on(db, monkeypatch, "safety")
    assert [s.value for s in at.subheader][:2] == ["At risk, nothing ahead", "Risk follow-up gaps (14 days)"]
    ahead = at.dataframe(key="nothing_ahead").value
    assert list(ahead.columns[:6]) == ["client_id", "days_since_risk", "therapist_id", "risk_date", "item9",
                                       "episode_id"]
    assert ahead["client_id"].tolist() == truth.run("at_risk_nothing_ahead", Scope())["client_id"].to_list()


def test_a_worklist_row_opens_the_episodes_appointments(db, truth, log, monkeypatch):
    at = open_row(dashboard_on(db, monkeypatch, "safety"), "gaps", 0)
    assert at.text_area(key="followup_note")  # the form opens with the episode
    row = at.dataframe(key="gaps").value.iloc[0]
    assert at.selectbox(key="safety_episode").value == (row["client_id"], row["episode_id"])
    appointments = truth.run("episode_appointments", Scope(), client_id=row["client_id"], episode_id=row["episode_id"])
    assert at.dataframe[2].value["appointment_id"].tolist() == appointments["appointment_id"].to_list()


def test_followup_entry_in_open_access_records_the_typed_name_and_shows_on_the_row(db, log, monkeypatch):
    at = open_row(dashboard_on(db, monkeypatch, "safety"), "nothing_ahead", 0)
    first = at.dataframe(key="nothing_ahead").value.iloc[0]
    client, episode = first["client_id"], first["episode_id"]
    at.radio(key="followup_outcome").set_value("could_not_reach")
    at.text_area(key="followup_note").input(HOSTILE_NOTE)
    at.text_input(key="followup_name").input("John Smith")
    at.button(key="FormSubmitter:followup_form-Add to the follow-up log").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Recorded: could not reach" in s.value for s in at.success)
    entry = FollowupLog(log).entries(pl.DataFrame({"client_id": [client], "episode_id": [episode]})).row(0, named=True)
    assert (entry["client_id"], entry["recorded_by"], entry["who_kind"]) == (client, "John Smith", NAME_GIVEN)
    row = at.dataframe(key="nothing_ahead").value.iloc[0]
    assert (row["latest_outcome"], row["latest_by"], bool(row["needs_action"])) == ("could not reach", "John Smith",
                                                                                    True)


def test_followup_note_and_name_are_shown_as_plain_text(db, log, monkeypatch):
    at = open_row(dashboard_on(db, monkeypatch, "safety"), "nothing_ahead", 0)
    at.text_area(key="followup_note").input(HOSTILE_NOTE)
    at.text_input(key="followup_name").input("John <b>Smith</b>")
    at.button(key="FormSubmitter:followup_form-Add to the follow-up log").click().run()
    assert any("by ` John <b>Smith</b> `" in s.value for s in at.success)  # a code span: shown as typed
    assert at.dataframe(key="nothing_ahead").value.iloc[0]["latest_note"] == HOSTILE_NOTE
    episode_log = next(t.value for t in at.dataframe if "note" in t.value.columns)  # the early warnings follow it
    assert HOSTILE_NOTE in episode_log["note"].tolist()  # the episode's log, a table: plain text cells
    for kind in MARKDOWN_KINDS:  # never in Markdown, where it would be drawn as bold, HTML or a link
        assert not any("<b>y" in str(element.value) or "](http" in str(element.value) for element in at.get(kind)), kind


def test_a_followup_entry_without_a_name_is_refused_in_open_access(db, log, monkeypatch):
    at = open_row(dashboard_on(db, monkeypatch, "safety"), "gaps", 0)
    at.button(key="FormSubmitter:followup_form-Add to the follow-up log").click().run()
    assert any("say who made this entry" in e.value for e in at.error)
    assert not log.exists()


def test_signed_in_entry_records_the_verified_email_and_asks_no_name(db, log, tmp_path, monkeypatch):
    access = tmp_path / "access.toml"
    access.write_text('[users]\n"director@clinic.example" = "*"\n')
    monkeypatch.setenv(ACCESS_ENV, str(access))
    monkeypatch.setenv("CLINIC_OUTCOMES_DB", str(db))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=60)
    at.user = {"is_logged_in": True, "email_verified": True, "email": "director@clinic.example"}
    at.switch_page("views/safety.py")
    at.run()
    at = open_row(at, "gaps", 0)
    assert not [t for t in at.text_input if t.key == "followup_name"]
    at.radio(key="followup_outcome").set_value("followed_up")
    at.button(key="FormSubmitter:followup_form-Add to the follow-up log").click().run()
    row = at.dataframe(key="gaps").value
    logged = row[row["latest_by"] != MISSING]  # a missing value is shown as "—"
    assert logged["latest_by"].tolist() == ["director@clinic.example"]
    assert not bool(logged["needs_action"].iloc[0])
    entry = FollowupLog(log).entries(pl.from_pandas(logged[["client_id", "episode_id"]])).row(0, named=True)
    assert entry["who_kind"] == VERIFIED


def test_overview_risk_tile_says_which_date_it_counts_by(db, log, monkeypatch):
    at = dashboard_on(db, monkeypatch)
    tile = next(m for m in at.metric if m.label == "Unresolved risk follow-up gaps")
    assert "first-session date" in tile.help and "date of the risk session" in tile.help


def test_a_risk_date_in_the_link_that_is_not_a_date_is_named_in_a_warning(db, log, monkeypatch):
    at = dashboard_on(db, monkeypatch, "safety", risk_from="2026-13-45")
    assert any("This link's risk_from ` 2026-13-45 ` is not a date" in w.value for w in at.warning)
    assert at.date_input(key="safety_risk_from").value is None


def test_restricted_user_cannot_open_or_log_another_clinics_episode_from_the_page(db, truth, log, tmp_path,
                                                                                 monkeypatch):
    access = tmp_path / "access.toml"
    access.write_text('[users]\n"north@clinic.example" = ["K01"]\n')
    monkeypatch.setenv(ACCESS_ENV, str(access))
    monkeypatch.setenv("CLINIC_OUTCOMES_DB", str(db))
    other = truth.run("risk_followup_gaps", Scope(clinics=("K02",))).row(0, named=True)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=60)
    at.user = {"is_logged_in": True, "email_verified": True, "email": "north@clinic.example"}
    at.switch_page("views/safety.py")
    at.session_state["safety_episode"] = (other["client_id"], other["episode_id"])  # as a forged request would
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="safety_episode").value is None
    assert not at.text_area and not log.exists()  # no form: its note box is the only text area
    assert set(at.dataframe(key="gaps").value["clinic_id"]) == {"K01"}


def test_a_followup_log_that_cannot_be_read_is_one_line_and_the_lists_still_show(db, log, monkeypatch):
    log.write_text("not a follow-up log\n" * 100)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=60)
    monkeypatch.setenv("CLINIC_OUTCOMES_DB", str(db))
    at.switch_page("views/safety.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("the follow-up log could not be read" in e.value and "\n" not in e.value for e in at.error)
    assert at.dataframe(key="gaps").value["needs_action"].all()
