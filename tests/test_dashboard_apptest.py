"""The dashboard run headless with Streamlit's AppTest, on the sample warehouse: every page renders,
the sidebar filters change the numbers, a link restores a view, and the empty states hold."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import (  # noqa: F401
    APP, CHARTS, HOSTILE_CLIENTS, HOSTILE_CLINICS, HOSTILE_THERAPISTS, HOSTILE_VALUES, NO_EPISODES, PAGES,
    SCOPED_PAGES, _release_cached_connections, hostile_db, sample_db)
from streamlit.testing.v1 import AppTest

from dashboard.data import DB_ENV
from dashboard.gate import ACCESS_ENV
from dashboard.literal import literal
from pipelines.generate import EXTRACT_DATE
from conftest import EXTRACT, Warehouse, appointment
from pipelines.queries import MetricsReader
from pipelines.warehouse import connect


@pytest.fixture
def on_sample(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv(DB_ENV, str(sample_db))
    return sample_db


def app(page: str | None = None, **query: str | list[str]) -> AppTest:
    """The app, not yet run, opened on a page, with a link's query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    if page is not None and page != "overview":
        at.switch_page(f"views/{page}.py")
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py")
    return run(at)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def infos(at: AppTest) -> list[str]:
    return [info.value for info in at.info]


# --- every page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_sample(on_sample: Path, page: str) -> None:
    at = run(app())
    if page != "overview":
        go(at, page)
    assert at.title[0].value == PAGES[page][1]
    assert not at.error, [e.value for e in at.error]
    assert not any(NO_EPISODES in text for text in infos(at))
    assert len(charts(at)) == CHARTS[page]
    # the filters are drawn on every page
    assert [w.key for w in at.sidebar.multiselect] == ["filter_clinics", "filter_therapists", "filter_types"]
    assert [w.key for w in at.sidebar.date_input] == ["filter_from", "filter_to"]


def test_pages_show_their_numbers(on_sample: Path) -> None:
    at = run(app())
    overview = metrics(at)
    assert list(overview) == ["Single-session dropout", "Reliable improvement (PHQ-9)", "Recovery (PHQ-9)",
                              "Median days to discharge", "Open plateaued episodes", "Unresolved risk follow-up gaps"]
    assert all(value.endswith("%") for label, value in overview.items() if "(PHQ-9)" in label or "dropout" in label)
    assert at.caption[0].value.startswith(f"Data as of **{EXTRACT_DATE}** (extract date, given)")

    reader = MetricsReader.open(on_sample)
    try:
        overall = reader.run("single_session").filter(pl.col("breakdown") == "overall").row(0, named=True)
        therapists = reader.run("therapist_funnel").height
    finally:
        reader.close()
    first = metrics(go(at, "first_sessions"))
    assert first["Single-session dropout"] == (f"{overall['dropout'] / overall['closed']:.1%} "
                                               f"({overall['dropout']:,} of {overall['closed']:,})")

    go(at, "therapists")
    assert at.dataframe[0].value.shape[0] == therapists > 0
    assert {"numerator", "denominator", "rate", "flag"} <= set(at.dataframe[0].value.columns)

    safety = metrics(go(at, "safety"))
    assert int(safety["Unresolved gaps"].replace(",", "")) > 0

    go(at, "data_quality")
    assert "reconciles, per file and in total" in at.markdown[0].value


def test_chart_specs_reach_the_page(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    adjusted, funnel, case_mix, cusum = charts(at)
    assert [layer["mark"]["type"] for layer in funnel["layer"]] == ["line", "rule", "point"]
    assert funnel["resolve"]["scale"]["color"] == "independent"
    assert [layer["mark"]["type"] for layer in adjusted["layer"]] == ["line", "rule", "point"]
    assert case_mix["mark"]["type"] == "bar"

    go(at, "endings")
    survival = charts(at)[0]
    assert survival["mark"]["interpolate"] == "step-after"


# --- filters -------------------------------------------------------------------------------------


def test_clinic_filter_changes_the_overview(on_sample: Path) -> None:
    at = run(app())
    everyone = metrics(at)
    assert at.query_params == {}

    at.multiselect(key="filter_clinics").select("K01")
    run(at)
    k01 = metrics(at)
    assert set(k01) == set(everyone)
    assert k01 != everyone
    assert k01["Single-session dropout"] != everyone["Single-session dropout"]
    # the view is now a link, and the therapist list only offers K01's therapists
    assert at.query_params == {"clinic": "K01"}
    therapists = at.multiselect(key="filter_therapists").options
    assert therapists and all(t.startswith("T01") for t in therapists)


def test_clinic_filter_changes_first_sessions(on_sample: Path) -> None:
    at = go(run(app()), "first_sessions")
    everyone = metrics(at)["Single-session dropout"]
    at.multiselect(key="filter_clinics").select("K01")
    run(at)
    assert at.title[0].value == "First sessions"  # the filter keeps the page
    k01 = metrics(at)["Single-session dropout"]
    assert k01 != everyone
    def closed(text: str) -> int:
        return int(text.split(" of ")[1].rstrip(")").replace(",", ""))

    assert 0 < closed(k01) < closed(everyone)


def test_session_type_and_dates_narrow_the_episodes(on_sample: Path) -> None:
    at = go(run(app()), "first_sessions")
    everyone = metrics(at)["Single-session dropout"]
    at.multiselect(key="filter_types").select("assessment")
    run(at)
    assessment = metrics(at)["Single-session dropout"]
    assert assessment != everyone
    at.date_input(key="filter_from").set_value(dt.date(2025, 1, 1))
    run(at)
    assert metrics(at)["Single-session dropout"] != assessment
    assert at.query_params == {"type": "assessment", "from": "2025-01-01"}


def test_therapists_minimum_caseload_changes_the_flags(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    flags = at.dataframe[0].value["flag"]
    before = (flags == "insufficient").sum()
    at.slider[0].set_value(50)
    run(at)
    after = (at.dataframe[0].value["flag"] == "insufficient").sum()
    assert after > before


def test_endings_one_curve_per_clinic(on_sample: Path) -> None:
    at = go(run(app()), "endings")
    assert at.dataframe[0].value["clinic"].tolist() == ["all"]
    at.toggle[0].set_value(True)
    run(at)
    assert at.dataframe[0].value["clinic"].tolist() == ["K01", "K02", "K03", "K04", "K05"]
    assert at.dataframe[0].value["median_days"].notna().all()



def test_endings_one_curve_per_end_reason_over_closed_episodes(on_sample: Path) -> None:
    at = go(run(app()), "endings")
    at.toggle[1].set_value(True)
    run(at)
    table = at.dataframe[0].value
    assert table["how it ended"].tolist() == ["planned", "dropout", "other"]
    assert table["median_days"].notna().all()
    # open episodes are in no group: the groups together are the closed episodes
    reader = MetricsReader.open(on_sample)
    try:
        closed = reader.con.sql("SELECT count(*) FROM episodes WHERE status = 'closed'").fetchall()[0][0]
    finally:
        reader.close()
    assert table["episodes"].sum() == closed
    planned, dropout = table["median_days"].iloc[0], table["median_days"].iloc[1]
    assert dropout < planned

# --- links ---------------------------------------------------------------------------------------


def test_query_params_restore_a_view(on_sample: Path) -> None:
    linked = run(app(clinic="K01"))
    assert linked.multiselect(key="filter_clinics").value == ["K01"]

    clicked = run(app())
    clicked.multiselect(key="filter_clinics").select("K01")
    run(clicked)
    assert metrics(linked) == metrics(clicked)
    assert metrics(linked) != metrics(run(app()))


def test_query_params_restore_a_view_on_another_page(on_sample: Path) -> None:
    linked = run(app("first_sessions", clinic="K01", type="treatment"))
    assert linked.title[0].value == "First sessions"
    assert linked.multiselect(key="filter_clinics").value == ["K01"]
    assert linked.multiselect(key="filter_types").value == ["treatment"]

    clicked = go(run(app()), "first_sessions")
    clicked.multiselect(key="filter_clinics").select("K01")
    clicked.multiselect(key="filter_types").select("treatment")
    run(clicked)
    assert metrics(linked) == metrics(clicked)


def test_query_params_restore_dates(on_sample: Path) -> None:
    at = run(app(**{"from": "2025-01-01", "to": "2025-06-30"}))
    assert at.date_input(key="filter_from").value == dt.date(2025, 1, 1)
    assert at.date_input(key="filter_to").value == dt.date(2025, 6, 30)
    assert at.subheader[0].value.startswith("Episodes starting 01 Jan 2025 – 30 Jun 2025")


def test_unknown_values_in_a_link_are_dropped(on_sample: Path) -> None:
    at = run(app(clinic=["K02", "NOPE"], therapist="T9999", **{"from": "not a date"}))
    assert at.multiselect(key="filter_clinics").value == ["K02"]
    assert at.multiselect(key="filter_therapists").value == []
    assert at.date_input(key="filter_from").value is None
    assert at.query_params == {"clinic": "K02"}


# --- empty states --------------------------------------------------------------------------------


def a_day_without_first_sessions(db: Path) -> dt.date:
    con = connect(db)  # the dashboard's configuration: DuckDB refuses two in one process
    try:
        started = {row[0] for row in con.sql("SELECT DISTINCT first_attended_date FROM episodes").fetchall()}
        first = min(d for d in started if d is not None)
    finally:
        con.close()
    return next(first + dt.timedelta(days=n) for n in range(1, 400) if first + dt.timedelta(days=n) not in started)


def test_empty_selection_shows_a_message_on_every_page(on_sample: Path) -> None:
    day = a_day_without_first_sessions(on_sample)
    at = run(app())
    at.date_input(key="filter_from").set_value(day)
    run(at)
    at.date_input(key="filter_to").set_value(day)
    run(at)
    assert at.query_params == {"from": day.isoformat(), "to": day.isoformat()}
    for page in SCOPED_PAGES:
        if page != "overview":
            go(at, page)
        assert at.title[0].value == PAGES[page][1]
        assert any(NO_EPISODES in text for text in infos(at)), f"{page}: {infos(at)}"
        assert not at.metric, page
        assert not charts(at), page
        assert not at.dataframe, page
    go(at, "data_quality")  # not scoped: still reports the loads
    assert at.dataframe


def test_empty_selection_from_a_link(on_sample: Path) -> None:
    day = a_day_without_first_sessions(on_sample).isoformat()
    at = run(app("therapists", **{"from": day, "to": day}))
    assert at.title[0].value == "Therapists"
    assert any(NO_EPISODES in text for text in infos(at))


def test_without_a_warehouse_the_app_explains_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nothing_here.duckdb"
    monkeypatch.setenv(DB_ENV, str(missing))
    at = run(app())
    assert at.title[0].value == "Clinic outcomes"
    assert "not a clinical decision tool" in at.caption[0].value
    assert str(missing) in at.warning[0].value
    [how] = at.code  # a code block, not Markdown: the path is shown as it is
    assert how.value == f"clinic-outcomes ingest YOUR_EXPORT.csv --db {missing}"
    [button] = at.button
    assert button.label == "Load the sample data"
    assert not at.sidebar.multiselect  # no filters without data
    assert not missing.exists()

    button.click()
    run(at)  # loads the sample into the missing path, then reruns on it
    assert missing.exists()
    assert at.title[0].value == "Overview"
    assert len(metrics(at)) == 6
    assert [w.key for w in at.sidebar.multiselect] == ["filter_clinics", "filter_therapists", "filter_types"]


# --- the Overview's one-query headline ------------------------------------------------------------


@pytest.mark.parametrize("clinics", [None, ("K02",)])
def test_overview_headline_counts_equal_the_reports_that_define_them(sample_db: Path, clinics):  # noqa: F811
    from pipelines.queries import Scope

    reader = MetricsReader.open(sample_db)
    try:
        periods = {"current": Scope(clinics=clinics, from_date=dt.date(2025, 7, 1), to_date=EXTRACT_DATE),
                   "previous": Scope(clinics=clinics, from_date=dt.date(2024, 7, 1), to_date=dt.date(2025, 6, 30))}
        rows = reader.run("overview_headline", periods["current"], previous_from=periods["previous"].from_date,
                          previous_to=periods["previous"].to_date)
        assert rows["period"].to_list() == ["current", "previous"]
        for row in rows.iter_rows(named=True):
            scope = periods[row["period"]]
            single = reader.run("single_session", scope).filter(pl.col("breakdown") == "overall").row(0, named=True)
            phq9 = reader.run("outcomes", scope).filter(pl.col("is_all_clinics") & (pl.col("measure") == "phq9"))
            plateaus = reader.run("plateau_summary", scope).row(0, named=True)
            gaps = reader.run("risk_followup_gaps", scope)
            assert (row["closed"], row["dropout"]) == (single["closed"], single["dropout"])
            assert row["has_phq9"] == (phq9.height == 1)
            assert tuple(row[c] for c in ("paired", "reliable_improvement", "paired_in_clinical_range", "recovery")) == \
                phq9.select("paired", "reliable_improvement", "paired_in_clinical_range", "recovery").row(0)
            assert row["plateaued_open"] == plateaus["plateaued_open"]
            assert row["unresolved_gaps"] == gaps.filter(~pl.col("returned_later")).height
            assert row["closed"] > 0
    finally:
        reader.close()


# --- values from the data are text (docs/security.md#values-from-the-data-are-text) -----------------

# Elements whose value Streamlit renders as Markdown; every element's label and help are Markdown too.
MARKDOWN_ELEMENTS = {"title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success"}


def markdown_sources(at: AppTest) -> list[str]:
    """The Markdown source of every text, alert, label and help on the page and in the sidebar."""
    sources: list[str] = []

    def walk(node) -> None:
        if getattr(node, "type", None) in MARKDOWN_ELEMENTS:
            sources.append(node.value)
        sources.extend(text for name in ("label", "help")
                       if isinstance(text := getattr(node, name, None), str) and text)
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return sources


def select_row(at: AppTest, table: str, row: int = 0) -> AppTest:
    """A click on a table's row (a dataframe with on_select)."""
    at.session_state[table] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return run(at)


def test_literal_shows_the_value_in_a_code_span_that_nothing_can_end_early():
    assert literal("C0001") == "` C0001 `"
    assert literal("a``b`") == "``` a``b` ```"
    assert literal("x\n![c](u)") == "` x\\x0a![c](u) `"
    assert ":material/" not in literal(":material/home:")


@pytest.mark.parametrize("restricted", [False, True], ids=["open", "restricted"])
@pytest.mark.parametrize("page", PAGES)
def test_hostile_ids_reach_markdown_only_escaped_on_every_page(hostile_db: Path, tmp_path: Path, monkeypatch,
                                                               page: str, restricted: bool) -> None:
    monkeypatch.setenv(DB_ENV, str(hostile_db))
    if restricted:  # the sidebar then names the user's clinics
        access = tmp_path / "access.toml"
        access.write_text(f'[users]\n"lead@example.org" = {json.dumps(list(HOSTILE_CLINICS))}\n')
        monkeypatch.setenv(ACCESS_ENV, str(access))
    at = app(page)
    if restricted:
        at.user = {"is_logged_in": True, "email_verified": True, "email": "lead@example.org"}
    run(at)
    if page == "explore":
        select_row(at, "episodes")
    if page == "therapists":
        select_row(at, "flags")
    sources = markdown_sources(at)
    for source in sources:
        for value in HOSTILE_VALUES:
            assert value not in source.replace(literal(value), ""), f"{value!r} unescaped in {source!r}"
    shown = "\n".join(sources)
    # The values do reach these pages' Markdown (the row clicked, the user's clinics in the sidebar),
    # so the check above has work to do.
    reached = {"explore": HOSTILE_CLIENTS, "therapists": HOSTILE_THERAPISTS}.get(page, ())
    assert not reached or any(literal(value) in shown for value in reached), page
    assert not restricted or all(literal(clinic) in shown for clinic in HOSTILE_CLINICS), page


# --- the Therapists page: both funnels, both flags, the case mix (docs/dashboard.md#therapists) ----------


def curve_values(at: AppTest, chart: int, curve: str) -> list[float]:
    """The values of one guide curve in the data a chart sent to the page (Arrow, beside its spec)."""
    datasets = [pl.read_ipc_stream(dataset.data.data) for dataset in at.get("vega_lite_chart")[chart].proto.datasets]
    return [value for frame in datasets if "curve" in frame.columns
            for value in frame.filter(pl.col("curve") == curve)["value"]]


def test_therapists_adjusted_funnel_draws_upper_and_lower_limits(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    adjusted = charts(at)[0]
    assert adjusted["layer"][2]["encoding"]["y"]["field"] == "ratio"
    assert adjusted["layer"][2]["encoding"]["x"]["field"] == "expected"
    for curve in ("lower998", "lower95", "upper95", "upper998"):
        assert curve_values(at, 0, curve), curve
    # beyond E of a few dropouts the lower limits are above 0: an exemplary therapist can be below them
    assert max(curve_values(at, 0, "lower95")) > 0


def test_therapists_overdispersion_toggle_takes_tau2_out_of_the_adjusted_z(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    on = at.dataframe[0].value
    assert "limits widened by τ² = 0.044" in at.caption[1].value
    assert (on["adjusted_z"] - on["z"]).abs().max() > 0.1
    at.toggle(key="overdispersion").set_value(False)
    run(at)
    off = at.dataframe[0].value
    assert "the allowance is off" in at.caption[1].value
    assert (off["adjusted_z"] - off["z"]).abs().max() < 1e-9
    narrower = curve_values(at, 0, "upper95")
    at.toggle(key="overdispersion").set_value(True)
    wider = curve_values(run(at), 0, "upper95")
    assert all(narrow < wide for narrow, wide in zip(narrower, wider, strict=True))


def test_therapists_flags_table_shows_both_flags_flagged_first(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    table = at.dataframe[0].value
    assert list(table.columns) == ["therapist_id", "flag", "adjusted_flag", "numerator", "denominator", "rate",
                                   "expected", "ratio", "z", "adjusted_z"]
    worst = [min(order[f], order[a]) for order in [{"alarm": 0, "alert": 1, "none": 2, "insufficient": 3}]
             for f, a in zip(table["flag"], table["adjusted_flag"], strict=True)]
    assert worst == sorted(worst) and worst[0] == 0  # the sample has alarms
    select_row(at, "flags")  # a row still lists that therapist's episodes
    assert at.subheader[1].value == f"Episodes of {literal(table['therapist_id'][0])}"


def case_mix_sentence(at: AppTest) -> str:
    """The case-mix panel's sentence: what the therapist's clients would have been expected to do."""
    return next(m.value for m in at.markdown if "would have dropped out after one session" in m.value)


def test_therapists_case_mix_panel_explains_the_first_flagged_therapist(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    table = at.dataframe[0].value
    explained = at.selectbox(key="explain_therapist")
    assert explained.label == "Explain a therapist's flag"
    assert explained.value == table["therapist_id"][0] and table["flag"][0] == "alarm"
    first = table.iloc[0]
    [case_mix] = [frame.value for frame in at.dataframe if "service_share" in frame.value.columns]
    assert case_mix["expected"].sum() == pytest.approx(first["expected"], rel=1e-12)
    assert (f"{literal(first['therapist_id'])}'s {first['denominator']:,} closed episodes" in case_mix_sentence(at)
            and f"about {first['expected']:.1f} would have dropped out after one session; {first['numerator']:,} did"
            in case_mix_sentence(at))
    last = table["therapist_id"].iloc[-1]
    explained.set_value(last)
    run(at)
    assert literal(last) in case_mix_sentence(at)


def test_therapists_page_without_a_closed_episode_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = Warehouse(tmp_path)  # one session each, a month before the extract: nothing has ended
    warehouse.load([appointment(f"A{k}", "2026-06-01", client=f"C{k}") for k in range(3)])
    monkeypatch.setenv(DB_ENV, str(warehouse.path))
    at = run(app("therapists"))
    assert "No therapist has a closed episode in this selection." in infos(at)
    assert not charts(at) and not at.dataframe and not at.error
    # said once: flags over time follow the same closed episodes, so that section is not drawn either
    assert "Flags over time" not in [h.value for h in at.subheader]
    assert not any("no score to follow" in text for text in infos(at))


def test_therapists_page_with_one_therapist_gives_no_overdispersion_estimate(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [appointment(f"A{k}", "2026-01-05", client=f"C{k}", therapist="T1", episode_id="1",
                        discharge_date="2026-01-05", discharge_reason="dropout" if k < 4 else "planned")
            for k in range(12)]
    warehouse = Warehouse(tmp_path)
    warehouse.load(rows, extract_date=EXTRACT)
    monkeypatch.setenv(DB_ENV, str(warehouse.path))
    at = run(app("therapists"))
    assert at.caption[1].value == ("Fewer than 10 therapists have enough closed episodes to judge how much "
                                   "therapists differ (1 here): no estimate, limits not widened.")
    assert len(charts(at)) == CHARTS["therapists"] and not at.error
    assert at.selectbox(key="explain_therapist").value == "T1"
    assert "about 4.0 would have dropped out after one session; 4 did." in case_mix_sentence(at)


def test_therapists_point_on_the_adjusted_funnel_lists_that_therapists_episodes(on_sample: Path) -> None:
    at = go(run(app()), "therapists")
    last = at.dataframe[0].value["therapist_id"].iloc[-1]
    at.session_state["adjusted_funnel"] = {"selection": {"therapist": [{"therapist_id": last}]}}
    run(at)
    assert at.subheader[1].value == f"Episodes of {literal(last)}"
