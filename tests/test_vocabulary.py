"""One vocabulary (docs/dashboard.md#words-and-numbers): every column a page shows has a label in words and a
help text from its glossary entry, numbers have one format ("69.4%", "19,930", "—", dates without times), the
measures go by their names, and every column and tile shown on any page has an entry in the glossary, which is
docs/metrics/glossary.md itself (docs/dashboard.md#glossary)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import PAGES, dashboard_on, sample_db  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st

from dashboard import frames, glossary, vocabulary

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY_PAGE = ROOT / "docs" / "metrics" / "glossary.md"
SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
GLOSSARY_NOTE = re.compile(r"Glossary: (?P<title>.+)\.$")


# --- one number format -------------------------------------------------------------------------------------------


def test_rate_has_one_decimal() -> None:
    assert vocabulary.cell_text(50 / 72, "rate") == "69.4%"
    assert vocabulary.cell_text(1.0, "rate") == "100.0%"


def test_count_has_thousands_separators() -> None:
    assert vocabulary.cell_text(19930, "count") == "19,930"
    assert vocabulary.cell_text(7, "days") == "7"


@pytest.mark.parametrize("kind", vocabulary.KINDS)
@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_is_a_dash(kind: str, missing: object) -> None:
    assert vocabulary.cell_text(missing, kind) == "—"


def test_dates_have_no_times() -> None:
    assert vocabulary.cell_text(dt.date(2026, 1, 5), "date") == "2026-01-05"
    assert vocabulary.cell_text(dt.datetime(2026, 1, 5), "datetime") == "2026-01-05"
    assert vocabulary.cell_text(dt.datetime(2026, 1, 5, 9, 30), "datetime") == "2026-01-05 09:30"


@given(st.floats(min_value=0, max_value=1))
def test_every_rate_is_a_percentage_with_one_decimal(rate: float) -> None:
    assert re.fullmatch(r"\d{1,3}\.\d%", vocabulary.cell_text(rate, "rate"))


@given(st.integers(min_value=0, max_value=10**12))
def test_every_count_reads_back_from_its_separators(count: int) -> None:
    text = vocabulary.cell_text(count, "count")
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", text) and int(text.replace(",", "")) == count


def test_measures_are_shown_by_their_names() -> None:
    assert [vocabulary.cell_text(m, "measure") for m in ("phq9", "gad7", "core10", "ors", "srs")] == [
        "PHQ-9", "GAD-7", "CORE-10", "ORS", "SRS"]


OUTCOME_RATE = {"numerator": "with_outcome", "denominator": "outcome_out_of", "rate": "outcome_rate"}


def frame_with_a_gap() -> pl.DataFrame:
    return pl.DataFrame({"measure": ["phq9", "gad7"], "numerator": [19930, 3], "denominator": [28700, 0],
                         "rate": [19930 / 28700, None], "median_days": [7.5, None]})


def test_a_missing_number_is_shown_as_a_dash_never_none() -> None:
    shown, _ = vocabulary.displayed(frame_with_a_gap(), OUTCOME_RATE)
    assert shown["rate"].to_list() == ["69.4%", "—"]
    assert shown["median_days"].to_list() == ["7.5", "—"]
    assert shown["measure"].to_list() == ["PHQ-9", "GAD-7"]


def test_a_number_column_without_gaps_stays_a_number_in_its_format() -> None:
    """Sorting by its header then sorts numbers; Streamlit writes them in the format of their kind."""
    shown, config = vocabulary.displayed(frame_with_a_gap().head(1), OUTCOME_RATE)
    assert shown["numerator"].dtype.is_numeric() and config["numerator"]["type_config"]["format"] == "%,d"
    assert shown["rate"].to_list() == [pytest.approx(100 * 19930 / 28700)]
    assert config["rate"]["type_config"]["format"] == "%.1f%%"


def test_the_shown_copy_leaves_the_downloaded_frame_alone() -> None:
    """Downloads keep the exact values and the report's column names (docs/dashboard.md#words-and-numbers)."""
    frame = frame_with_a_gap()
    vocabulary.displayed(frame)
    assert frame.equals(frame_with_a_gap())


def test_every_column_is_labelled_in_words_with_help_from_its_glossary_entry() -> None:
    _, config = vocabulary.displayed(frame_with_a_gap(), OUTCOME_RATE)
    for name, column in config.items():
        assert not SNAKE_CASE.match(column["label"]), name
        assert GLOSSARY_NOTE.search(column["help"]), name
    assert config["numerator"]["label"] == "Episodes with the outcome"


def test_every_vocabulary_entry_points_at_a_glossary_entry() -> None:
    entries = glossary.entries()
    assert {name: c.term for name, c in vocabulary.COLUMNS.items() if c.term not in entries} == {}
    assert {label: term for label, term in vocabulary.METRICS.items() if term not in entries} == {}
    assert {c.kind for c in vocabulary.COLUMNS.values()} <= set(vocabulary.KINDS)


def test_measure_names_in_the_outcome_chart() -> None:
    rates = frames.outcome_rates(pl.DataFrame({
        "measure": ["phq9"], "clinic_id": [None], "is_all_clinics": [True], "reliable_improvement": [1], "paired": [2],
        "recovery": [1], "paired_in_clinical_range": [2], "reliable_recovery": [1], "reliable_deterioration": [0]}))
    assert set(frames.outcome_bars_data(rates)["measure"]) == {"PHQ-9"}


# --- the glossary: one source for the manual and the dashboard ---------------------------------------------------


def test_the_dashboard_reads_the_manuals_glossary() -> None:
    assert glossary.glossary_path().read_text(encoding="utf-8") == GLOSSARY_PAGE.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", GLOSSARY_PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(glossary.entries()) == len(headings)


def test_an_installed_dashboard_reads_the_glossary_it_carries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wheel holds the page as dashboard/glossary.md (pyproject.toml), with no docs/ beside it."""
    installed = tmp_path / "site-packages" / "dashboard"
    installed.mkdir(parents=True)
    (installed / "glossary.md").write_text(GLOSSARY_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(glossary, "__file__", str(installed / "glossary.py"))
    assert glossary.glossary_path() == installed / "glossary.md"


def test_a_missing_glossary_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.errors import LoadError

    monkeypatch.setattr(glossary, "__file__", str(tmp_path / "dashboard" / "glossary.py"))
    with pytest.raises(LoadError, match="glossary"):
        glossary.glossary_path()


@pytest.mark.parametrize("anchor", ["cohort-month", "censored", "kaplan-meier", "caseness", "clinical-range",
                                    "inactive"])
def test_terms_the_issue_names_have_entries(anchor: str) -> None:
    assert glossary.entries()[anchor].body


def test_glossary_links_stay_on_the_glossary_page() -> None:
    body = glossary.entries()["censored"].body
    shown = glossary.for_the_page(body)
    assert "[Kaplan–Meier](#kaplan-meier)" in shown and "time-to-discharge.md" not in shown


def test_glossary_page_shows_every_entry(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    at = dashboard_on(sample_db, monkeypatch, "glossary")
    assert [h.value for h in at.subheader] == [e.title for e in glossary.entries().values()]


# --- the glossary test: every column and tile shown has an entry --------------------------------------------------


def shown_on(at) -> tuple[dict[str, str | None], list[str]]:
    """What an AppTest run shows: each table column's header with its help text, and each tile's label."""
    columns: dict[str, str | None] = {}
    for table in at.dataframe:
        config = json.loads(table.proto.columns) if table.proto.columns else {}
        for name in table.value.columns:
            header = config.get(name, {}).get("label") or name
            columns[header] = config.get(name, {}).get("help")
    return columns, [tile.label for tile in at.metric]


@pytest.fixture(scope="module")
def runs(sample_db: Path) -> list:  # noqa: F811
    """Every page run on the sample warehouse, Endings also with one curve per end reason."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        runs = []
        for page in PAGES:
            at = dashboard_on(sample_db, monkeypatch, page)
            runs.append(at)
            if page == "endings":
                runs.append(at.toggle[1].set_value(True).run())
    return runs


@pytest.fixture(scope="module")
def shown(runs) -> tuple[dict[str, str | None], list[str]]:
    """Every column and tile of every page."""
    columns: dict[str, str | None] = {}
    tiles: list[str] = []
    for run in runs:
        found_columns, found_tiles = shown_on(run)
        columns.update(found_columns)
        tiles += found_tiles
    return columns, tiles


GLOSSARY_LINK = re.compile(r"\]\(glossary#(?P<anchor>[\w-]+)\)")


def test_pages_link_their_terms_to_the_glossary_page(runs) -> None:
    texts = [element.value for run in runs for element in (*run.caption, *run.markdown, *run.info)]
    linked = {link["anchor"] for text in texts for link in GLOSSARY_LINK.finditer(text)}
    assert {"cohort-month", "censored", "kaplan-meier", "clinical-range", "inactive"} <= linked
    assert linked <= set(glossary.entries())


def test_a_link_to_a_missing_entry_fails_at_once() -> None:
    with pytest.raises(KeyError):
        vocabulary.term("fossil", "fossilisation")


def unexplained(columns: dict[str, str | None], tiles: list[str], entries: dict[str, glossary.Entry],
                metrics: dict[str, str]) -> list[str]:
    """The columns and tiles shown with no glossary entry behind them."""
    titles = {entry.title for entry in entries.values()}
    problems = []
    for header, help_text in columns.items():
        note = GLOSSARY_NOTE.search(help_text or "")
        if SNAKE_CASE.match(header) or note is None or note["title"] not in titles:
            problems.append(f"column {header!r}")
    problems += [f"tile {tile!r}" for tile in tiles if metrics.get(tile) not in entries]
    return problems


def test_every_column_and_tile_shown_has_a_glossary_entry(shown) -> None:
    columns, tiles = shown
    assert len(columns) > 50 and len(tiles) > 15  # the pages did show their tables and tiles
    assert unexplained(columns, tiles, glossary.entries(), vocabulary.METRICS) == []


def test_the_glossary_test_fails_when_a_shown_metric_loses_its_entry(shown) -> None:
    columns, tiles = shown
    entries = {anchor: entry for anchor, entry in glossary.entries().items() if anchor != "single-session-dropout"}
    problems = unexplained(columns, tiles, entries, vocabulary.METRICS)
    assert "tile 'Single-session dropout'" in problems
    assert "column 'Single-session dropout'" in problems


def test_the_glossary_test_fails_when_a_tile_is_not_in_the_vocabulary(shown) -> None:
    columns, tiles = shown
    metrics = {label: term for label, term in vocabulary.METRICS.items() if label != "No-show rate"}
    assert unexplained(columns, tiles, glossary.entries(), metrics) == ["tile 'No-show rate'"]


def test_the_glossary_test_fails_on_a_raw_column_name() -> None:
    assert unexplained({"days_since": None}, [], glossary.entries(), vocabulary.METRICS) == ["column 'days_since'"]


def test_a_number_shown_as_text_still_lines_up_on_the_right() -> None:
    _, config = vocabulary.displayed(frame_with_a_gap(), OUTCOME_RATE)
    assert config["rate"]["alignment"] == "right" and config["median_days"]["alignment"] == "right"
    assert config["measure"]["alignment"] is None


def test_funnel_limit_tooltips_name_the_level_not_the_column() -> None:
    """The issue found `limit95` in a tooltip: the curves' tooltip says 95% or 99.8%."""
    from dashboard import charts

    limits = pl.DataFrame({"caseload": [10, 20], "p0": [0.2, 0.2], "limit95": [0.45, 0.38], "limit998": [0.6, 0.5]})
    units = pl.DataFrame({"therapist_id": ["T1"], "numerator": [2], "denominator": [10], "rate": [0.2],
                          "limit95": [0.45], "limit998": [0.6], "flag": ["none"]})
    spec = charts.funnel_plot(units, limits).to_dict()
    curves = spec["layer"][0]
    assert [tip["field"] for tip in curves["encoding"]["tooltip"]] == ["caseload", "level", "value"]
    rows = spec["datasets"][curves["data"]["name"]]
    assert {row["level"] for row in rows} == {"95%", "99.8%"}


# Tables the sample's pages do not show without a click (a row's appointments, a therapist's episodes) or without
# bad rows (quarantine, data issues), with the meanings their pages give: read from their reports.
HIDDEN_TABLES = {"episode_appointments": ({"client_id": "C0000001", "episode_id": "1"}, {}),
                 "episode_list": ({"limit": 10}, {}),
                 "quarantine_reasons": ({"load_id": 1}, {}),
                 "data_issue_summary": ({}, {"reason": "issue_reason"})}


@pytest.mark.parametrize("report", HIDDEN_TABLES)
def test_tables_shown_after_a_click_or_on_bad_rows_are_explained(sample_db: Path, report: str) -> None:  # noqa: F811
    from pipelines.queries import MetricsReader, Scope

    parameters, meaning = HIDDEN_TABLES[report]
    reader = MetricsReader.open(sample_db)
    try:
        frame = reader.run(report, Scope(), **parameters)
    finally:
        reader.close()
    _, config = vocabulary.displayed(frame, meaning)
    columns = {column["label"]: column["help"] for column in config.values()}
    assert len(columns) == frame.width
    assert unexplained(columns, [], glossary.entries(), vocabulary.METRICS) == []
