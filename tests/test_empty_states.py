"""Empty states never draw a broken axis (docs/dashboard.md#common-to-every-page): on a warehouse where nothing
has ended yet, or where nothing was scored, every page runs, no chart is drawn without a value to draw, and the
page says what is missing instead."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import EXTRACT, Warehouse, appointment
from dashboard_fixtures import PAGES, _release_cached_connections, dashboard_on  # noqa: F401

from dashboard import empty

# the columns a chart draws its values from; a chart whose data has rows but none of these values draws
# only axes (a dropout rate of months where nothing has ended is null)
VALUE_COLUMNS = ("rate", "value", "mean_score", "survival", "cusum", "episodes", "ratio")


def weekly(client: str, first: dt.date, sessions: int, **scores: object) -> list[dict[str, object]]:
    return [appointment(f"{client}-{n}", (first + dt.timedelta(days=7 * n)).isoformat(), client=client,
                        therapist=f"T{n % 2}", **scores) for n in range(sessions)]


@pytest.fixture(scope="module")
def nothing_ended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve clients who started in the last five weeks before the extract date: every episode open."""
    warehouse = Warehouse(tmp_path_factory.mktemp("nothing_ended"))
    rows = [row for c in range(12) for row in weekly(f"C{c}", EXTRACT - dt.timedelta(days=35 - c), 1 + c % 4,
                                                    phq9=15)]
    warehouse.load(rows)
    return warehouse.path


@pytest.fixture(scope="module")
def nothing_scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve clients whose episodes ended long before the extract date, with no score at any session."""
    warehouse = Warehouse(tmp_path_factory.mktemp("nothing_scored"))
    rows = [row for c in range(12) for row in weekly(f"C{c}", dt.date(2025, 1, 6) + dt.timedelta(days=c),
                                                    1 + c % 4)]
    warehouse.load(rows)
    return warehouse.path


@pytest.fixture(scope="module")
def nothing_paired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve clients who came once, long before the extract date, each scored at that one session: ended,
    and nobody scored twice."""
    warehouse = Warehouse(tmp_path_factory.mktemp("nothing_paired"))
    warehouse.load([row for c in range(12) for row in weekly(f"C{c}", dt.date(2025, 1, 6) + dt.timedelta(days=c), 1,
                                                             phq9=15)])
    return warehouse.path


def drawn_without_values(at) -> list[str]:
    """The charts of a run whose every dataset lacks a value to draw."""
    broken = []
    for number, chart in enumerate(at.get("vega_lite_chart")):
        tables = [pa.ipc.open_stream(d.data.data).read_all() for d in chart.proto.datasets]
        drawable = [t for t in tables if t.num_rows and any(
            t.column(c).null_count < t.num_rows for c in VALUE_COLUMNS if c in t.column_names)]
        if not drawable:
            broken.append(f"chart {number}")
    return broken


@pytest.mark.parametrize("page", PAGES)
def test_no_chart_is_drawn_when_nothing_has_ended(nothing_ended: Path, page: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_ended, monkeypatch, page)
    assert drawn_without_values(at) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_chart_is_drawn_when_nothing_was_scored(nothing_scored: Path, page: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_scored, monkeypatch, page)
    assert drawn_without_values(at) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_chart_is_drawn_when_nobody_was_scored_twice(nothing_paired: Path, page: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_paired, monkeypatch, page)
    assert drawn_without_values(at) == []


@pytest.mark.parametrize("page", ["overview", "first_sessions"])
def test_a_trend_with_no_ended_month_says_so(nothing_ended: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_ended, monkeypatch, page)
    assert empty.NO_ENDED_MONTH in [info.value for info in at.info]


def test_outcomes_with_nobody_scored_twice_say_so(nothing_paired: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_paired, monkeypatch, "outcomes")
    assert any("no outcome rate to draw" in info.value for info in at.info), [info.value for info in at.info]
    assert not at.get("vega_lite_chart")


def test_endings_with_nothing_ended_say_so(nothing_ended: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(nothing_ended, monkeypatch, "endings")
    assert any("no sessions at discharge" in info.value for info in at.info)


def test_a_tile_with_nothing_to_count_shows_a_dash(nothing_ended: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rate over no closed episode is missing: "—", the one sign for missing
    (docs/dashboard.md#words-and-numbers)."""
    at = dashboard_on(nothing_ended, monkeypatch, "overview")
    tiles = {tile.label: tile.value for tile in at.metric}
    assert tiles["Single-session dropout"] == "—"
