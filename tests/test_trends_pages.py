"""The trends on the Overview and First sessions pages (docs/dashboard.md#overview,
docs/dashboard.md#first-sessions), through AppTest on the sample warehouse: the control chart keeps the
whole history with the filtered dates shaded, the month/quarter toggle, the tiles beside the same dates a
year earlier with the incomplete months named, and the clinic × quarter heat table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import APP, _release_cached_connections, dashboard_on, sample_db  # noqa: F401

from dashboard import empty, frames
from pipelines.queries import MetricsReader, Scope


def specs(at) -> list[tuple[dict, dict[str, pl.DataFrame]]]:
    """Each chart's spec with its datasets (Streamlit sends them beside the spec, as Arrow)."""
    return [(json.loads(chart.proto.spec), {d.name: pl.read_ipc_stream(d.data.data) for d in chart.proto.datasets})
            for chart in at.get("vega_lite_chart")]


def layer_rows(chart: tuple[dict, dict[str, pl.DataFrame]], mark: str) -> list[dict]:
    """The rows the layer of this mark draws (in every panel of a facet)."""
    spec, datasets = chart
    view = spec.get("spec", spec)  # a facet's panel, or the chart itself
    [layer] = [la for la in view["layer"]
               if (la["mark"]["type"] if isinstance(la["mark"], dict) else la["mark"]) == mark]
    return datasets[(layer.get("data") or spec["data"])["name"]].to_dicts()


def sample_months(db: Path, scope: Scope = Scope()) -> pl.DataFrame:
    reader = MetricsReader.open(db)
    try:
        return frames.dropout_control(reader.run("dropout_trend", scope, period="month"))
    finally:
        reader.close()


def test_trend_keeps_the_whole_history_when_the_date_filter_is_set(sample_db: Path,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    every_month = sample_months(sample_db)["period"].to_list()
    for page in ("overview", "first_sessions"):
        at = dashboard_on(sample_db, monkeypatch, page, **{"from": "2026-01-01", "to": "2026-03-31"})
        control = specs(at)[0]
        assert [row["period"] for row in layer_rows(control, "point")] == every_month
        assert layer_rows(control, "rect") == [{"from_date": dt.date(2026, 1, 1), "to_date": dt.date(2026, 3, 31)}]


def test_first_sessions_shades_nothing_without_a_date_filter(sample_db: Path,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, "first_sessions")
    assert layer_rows(specs(at)[0], "rect") == []


def test_overview_shades_the_dates_its_tiles_cover(sample_db: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch)
    assert layer_rows(specs(at)[0], "rect") == [{"from_date": dt.date(2025, 7, 1), "to_date": dt.date(2026, 6, 30)}]


def test_month_quarter_toggle_redraws_the_trend_by_quarter(sample_db: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, "first_sessions")
    assert layer_rows(specs(at)[0], "point")[-1]["period"] == "2026-06"
    at.button_group(key="trend_period_first_sessions").set_value("quarter").run()
    assert not at.exception
    quarters = [row["period"] for row in layer_rows(specs(at)[0], "point")]
    assert quarters[-2:] == ["2026 Q1", "2026 Q2"]


def test_overview_tiles_say_how_many_months_are_incomplete(sample_db: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2026-01-01", "to": "2026-06-30"})
    months = sample_months(sample_db)
    incomplete = months.filter(pl.col("is_incomplete") & (pl.col("period") >= "2026-01"))["period"].to_list()
    assert len(incomplete) == 5  # the example: 5 of 6 months of this year still incomplete
    assert [w.value for w in at.warning] == [
        "5 of 6 months of this period are still incomplete (at least 10% of their episodes open): these rates "
        "will move as those episodes end."]


def test_overview_tiles_of_one_incomplete_month_say_so_in_the_singular(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clients first seen in June 2026, both still open at the extract date: one month, incomplete. With no
    closed episode the trend and the heat table have no rate to draw and say so."""
    from conftest import Warehouse, appointment

    built = Warehouse(tmp_path)
    built.load([appointment("A1", "2026-06-01"), appointment("A2", "2026-06-08", client="C2", clinic="K2")])
    at = dashboard_on(built.path, monkeypatch)
    assert [w.value for w in at.warning] == [
        "The one month of this period is still incomplete (at least 10% of its episodes open): these rates will "
        "move as those episodes end."]
    first_sessions = dashboard_on(built.path, monkeypatch, "first_sessions")
    assert not specs(first_sessions)  # no rate to draw anywhere (trend, heat table, bars), no SRS recorded
    assert {empty.NO_ENDED_MONTH, empty.NO_ENDED} <= {info.value for info in first_sessions.info}


def test_overview_tiles_of_complete_months_carry_no_warning(sample_db: Path,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2024-01-01", "to": "2024-06-30"})
    assert not at.warning


def test_overview_tiles_beside_the_same_dates_last_year(sample_db: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, **{"from": "2026-01-01", "to": "2026-06-30"})
    assert at.subheader[0].value == ("Episodes starting 01 Jan 2026 – 30 Jun 2026, against the same dates a year "
                                     "earlier (01 Jan 2025 – 30 Jun 2025)")
    reader = MetricsReader.open(sample_db)
    try:
        def dropout(scope: Scope) -> float:
            row = reader.run("single_session", scope).filter(pl.col("breakdown") == "overall").row(0, named=True)
            return row["dropout"] / row["closed"]
        now = dropout(Scope(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 6, 30)))
        before = dropout(Scope(from_date=dt.date(2025, 1, 1), to_date=dt.date(2025, 6, 30)))
    finally:
        reader.close()
    tile = next(m for m in at.metric if m.label == "Single-session dropout")
    assert tile.value == f"{now:.1%}"
    assert tile.delta == f"{(now - before) * 100:+.1f} pts on {before:.1%} a year earlier"


def test_first_sessions_heat_table_of_clinics_by_quarter(sample_db: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = dashboard_on(sample_db, monkeypatch, "first_sessions")
    heat = specs(at)[1]
    cells = layer_rows(heat, "rect")
    assert {row["clinic_id"] for row in cells} == {"K01", "K02", "K03", "K04", "K05"}
    too_few = [row for row in cells if row["is_too_few"]]
    assert too_few and all(row["label"].startswith("too few\n") for row in too_few)
    assert all(row["label"].endswith(f"{row['numerator']} of {row['denominator']}") for row in cells)
    assert "As a table" in [e.label for e in at.expander]


def test_restricted_user_sees_only_their_clinics_in_the_trends(sample_db: Path, tmp_path: Path,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The trend, its long-run rate and the heat table of a user who may see K01 only are K01's
    (docs/security.md#the-access-file)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.data import DB_ENV
    from dashboard.gate import ACCESS_ENV

    access = tmp_path / "access.toml"
    access.write_text('[users]\n"north@clinic.example" = ["K01"]\n', encoding="utf-8")
    monkeypatch.setenv(DB_ENV, str(sample_db))
    monkeypatch.setenv(ACCESS_ENV, str(access))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.user = {"is_logged_in": True, "email_verified": True, "email": "north@clinic.example"}
    at.switch_page("views/first_sessions.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    control, heat = specs(at)[:2]
    k01 = sample_months(sample_db, Scope(clinics=("K01",)))
    assert [row["numerator"] for row in layer_rows(control, "point")] == k01["numerator"].to_list()
    assert layer_rows(control, "point")[0]["p0"] == pytest.approx(k01["p0"][0])
    assert k01["p0"][0] != pytest.approx(sample_months(sample_db)["p0"][0])
    assert {row["clinic_id"] for row in layer_rows(heat, "rect")} == {"K01"}
