"""Access without a mouse and without colour vision (docs/dashboard.md#accessibility): the rules that hold in
the chart specs and the page scripts. The browser checks (axe, focus, keyboard) are in
tests/test_accessibility_browser.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from dashboard_fixtures import _release_cached_connections, dashboard_on, sample_db  # noqa: F401
from test_charts import adjusted_funnel_frames, funnel_frames, units, widened_funnel_frames

from dashboard import charts, funnel_points
from dashboard.literal import literal
from pipelines.queries import MetricsReader, Scope

FLAGGED = ("none", "alert", "alarm")

FUNNELS = {
    "funnel_plot": (lambda: charts.funnel_plot(*funnel_frames()), "flag"),
    "widened_funnel_plot": (lambda: charts.widened_funnel_plot(*widened_funnel_frames()), "flag"),
    "adjusted_funnel_plot": (lambda: charts.adjusted_funnel_plot(*adjusted_funnel_frames()), "adjusted_flag"),
}


@pytest.mark.parametrize("name", FUNNELS)
def test_funnel_flags_differ_in_shape_as_well_as_colour(name: str) -> None:
    """Each flag (none, alert, alarm, and insufficient) is drawn in a shape of its own as well as a colour of
    its own, and colour and shape share one legend that names the flag."""
    build, field = FUNNELS[name]
    spec = build().to_dict()
    [points] = [unit for unit in units(spec) if "shape" in unit.get("encoding", {})]
    assert points["mark"]["type"] == "point"  # a circle mark has one shape whatever the encoding says
    colour, shape = points["encoding"]["color"], points["encoding"]["shape"]
    assert colour["field"] == shape["field"] == field
    shapes = dict(zip(shape["scale"]["domain"], shape["scale"]["range"], strict=True))
    colours = dict(zip(colour["scale"]["domain"], colour["scale"]["range"], strict=True))
    assert len({shapes[flag] for flag in shapes}) == len(shapes) >= len(FLAGGED)
    assert len({colours[flag] for flag in colours}) == len(colours)
    assert set(FLAGGED) <= set(shapes)
    # one legend: the same title on both channels, and neither legend switched off
    assert shape.get("legend", {}) is not None and colour.get("legend", {}) is not None
    assert shape["title"] == colour["title"]
    # the points' colour scale is their own (the limit curves have another), and a shape scale shared with
    # the layers that have none would draw its legend apart, in black
    assert spec["resolve"]["scale"] == {"color": "independent", "shape": "independent"}


# --- a keyboard path to every funnel point: the select boxes beside the funnels ------------------------------


def test_choosing_a_therapist_in_the_select_box_shows_what_a_click_on_their_point_shows(
        sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The select box beside the funnels opens the same panel as a click on a point: the therapist's
    episodes, headed with their id, and their point's numbers in words."""
    at = dashboard_on(sample_db, monkeypatch, "therapists")
    therapists = at.selectbox(key="funnel_therapist")
    assert therapists.value is None and therapists.options[0] == at.dataframe[0].value["therapist_id"].iloc[0]
    chosen = therapists.options[-1]
    therapists.select(chosen).run()
    by_keyboard = panel(at)

    clicked = dashboard_on(sample_db, monkeypatch, "therapists")
    clicked.session_state["funnel"] = {"selection": {"therapist": [{"therapist_id": chosen}]}}
    clicked.run()
    assert panel(clicked) == by_keyboard
    heading, sentences, episodes = by_keyboard
    assert heading == f"Episodes of {literal(chosen)}"
    row = MetricsReader.open(sample_db).run("therapist_funnel", Scope(), allow_overdispersion=True).filter(
        pl.col("therapist_id") == chosen).row(0, named=True)
    assert f"{row['rate']:.1%} ({row['numerator']:,} of {row['denominator']:,} closed episodes)" in sentences[0]
    assert f"flag **{row['flag']}**" in sentences[0] and f"adjusted flag **{row['adjusted_flag']}**" in sentences[1]
    assert set(episodes) == {chosen}


def panel(at) -> tuple[str, list[str], list[str]]:
    """The Therapists page's panel of the chosen therapist: its heading, the sentences under it, and the
    therapist of each episode listed."""
    heading = next(h.value for h in at.subheader if h.value.startswith("Episodes of"))
    sentences = [m.value for m in at.markdown if "flag **" in m.value]
    listed = [frame.value for frame in at.dataframe if "episode_id" in frame.value.columns][0]
    return heading, sentences, sorted(set(listed["therapist_id"]))


def test_choosing_a_clinic_in_the_select_box_tells_its_funnel_point(sample_db: Path,  # noqa: F811
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Attendance: the select box beside the no-show funnel tells the chosen clinic's point as its tooltip
    does: the rate with its counts, the limits at its size and its flag."""
    at = dashboard_on(sample_db, monkeypatch, "attendance")
    clinics = at.selectbox(key="funnel_clinic")
    assert clinics.value is None
    clinics.select("K03").run()
    row = MetricsReader.open(sample_db).run("attendance_by_clinic", Scope()).filter(
        pl.col("clinic_id") == "K03").row(0, named=True)
    [sentence] = [m.value for m in at.markdown if "flag **" in m.value]
    flag = "adjusted_flag" if at.toggle(key="widen_clinic_limits").value else "flag"
    assert sentence.startswith(f"Clinic {literal('K03')}: no-show rate {row['rate']:.1%} "
                               f"({row['numerator']:,} of {row['denominator']:,} attended or missed)")
    assert sentence.endswith(f"flag **{row[flag]}**.")


def test_a_click_on_a_point_or_a_row_sets_the_select_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """The select box is bound to the same choice: the callbacks of the funnel plot and of the table write
    the clicked point's or the ticked row's id into it, and clearing the click or the row clears it."""
    state: dict[str, object] = {}
    monkeypatch.setattr(funnel_points.st, "session_state", state)
    state["funnel"] = {"selection": {"therapist": [{"therapist_id": "T0203"}]}}
    funnel_points.choice_from_chart("funnel", "therapist", "choice")()
    assert state["choice"] == "T0203"
    state["funnel"] = {"selection": {"therapist": []}}
    funnel_points.choice_from_chart("funnel", "therapist", "choice")()
    assert state["choice"] is None
    state["flags"] = SimpleNamespace(selection=SimpleNamespace(rows=[1]))
    funnel_points.choice_from_table("flags", ["T0101", "T0102"], "choice")()
    assert state["choice"] == "T0102"


# --- key columns first: a phone shows a table's first three or four columns ------------------------------

LEADING = {  # page -> the columns its main table starts with, in order
    "safety": ["client_id", "days_since_risk", "therapist_id", "risk_date"],
    "attendance": ["clinic_id", "rate", "flag", "adjusted_flag"],
    "plateaus": ["client_id", "sessions_after_plateau", "therapist_id", "status"],
    "endings": ["client_id", "attended_sessions", "duration_days", "therapist_id"],
    "explore": ["client_id", "episode_id", "status", "therapist_id"],
    "waits": ["clinic_id", "rate_within_6_weeks", "rate_within_18_weeks", "dropout_rate"],
}


@pytest.mark.parametrize("page", LEADING)
def test_tables_lead_with_the_columns_that_identify_and_act(page: str, sample_db: Path,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Safety leads with the client, the days since the risk session and the therapist; each other
    row-level or per-clinic table with who or what the row is and the number that asks for action."""
    at = dashboard_on(sample_db, monkeypatch, page)
    leading = LEADING[page]
    tables = [frame.value for frame in at.dataframe if set(leading) <= set(frame.value.columns)]
    assert tables  # Safety has two lists with these columns: each leads with them
    for table in tables:
        assert list(table.columns[:len(leading)]) == leading
