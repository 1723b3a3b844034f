"""Trends a director can trust (docs/metrics/single-session.md#the-control-band, docs/dashboard.md#overview):
the dropout_trend report's periods and control band, the quarter aggregation, the incomplete months
behind the Overview's tiles, and the same dates a year earlier.

The warehouse is built in code: one-session episodes discharged the same day, as dropout or as planned,
so every count below is worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from conftest import Warehouse, appointment
from hypothesis import given
from hypothesis import strategies as st

from dashboard import charts, frames
from pipelines.queries import MetricsReader, Scope

# (clinic, first session date, dropouts, planned single sessions): each a one-session episode closed that day
CLOSED = [
    ("K1", "2026-01-05", 2, 30),  # January: 2 of 32 in K1 …
    ("K2", "2026-01-12", 0, 8),  # … and 0 of 8 in K2, so 2 of 40
    ("K1", "2026-02-09", 8, 2),  # February: 8 of 10
    ("K1", "2026-04-06", 3, 7),  # April (second quarter): 3 of 10
]
# the long-run rate: (2 + 8 + 3) / (40 + 10 + 10)
P0 = 13 / 60


def rows() -> list[dict[str, object]]:
    log, n = [], 0
    for clinic, date, dropouts, planned in CLOSED:
        for reason in ["dropout"] * dropouts + ["planned"] * planned:
            n += 1
            log.append(appointment(f"A{n}", date, client=f"C{n}", clinic=clinic, therapist=f"T{clinic}",
                                   discharge_date=date, discharge_reason=reason))
    # June: two episodes still open at the extract date (2026-06-30), one closed planned: incomplete
    for k, date in enumerate(("2026-06-01", "2026-06-08")):
        log.append(appointment(f"O{k}", date, client=f"O{k}", clinic="K1", therapist="TK1"))
    log.append(appointment("P1", "2026-06-01", client="P1", clinic="K1", therapist="TK1",
                           discharge_date="2026-06-01", discharge_reason="planned"))
    return log


@pytest.fixture(scope="module")
def trend_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    built = Warehouse(tmp_path_factory.mktemp("trend"))
    built.load(rows())
    return built


def trend(warehouse: Warehouse, scope: Scope = Scope(), **extra: object) -> pl.DataFrame:
    reader = MetricsReader.open(warehouse.path)
    try:
        return reader.run("dropout_trend", scope, **extra)
    finally:
        reader.close()


def band(p0: float, n: int, z: float) -> tuple[float, float]:
    """The control limits by hand: p0 ± z·√(p0(1 − p0)/n), clipped to [0, 1]."""
    spread = z * math.sqrt(p0 * (1 - p0) / n)
    return max(0.0, p0 - spread), min(1.0, p0 + spread)


def test_control_band_is_the_binomial_limits_around_the_long_run_rate(trend_warehouse: Warehouse) -> None:
    months = trend(trend_warehouse, period="month")
    assert months["period"].to_list() == ["2026-01", "2026-02", "2026-04", "2026-06"]
    assert months["closed"].to_list() == [40, 10, 10, 1]
    assert months["dropout"].to_list() == [2, 8, 3, 0]
    assert months["open"].to_list() == [0, 0, 0, 2]
    # p0 counts June's closed planned episode too: 13 of 61
    p0 = 13 / 61
    assert months["p0"].to_list() == pytest.approx([p0] * 4)
    for row in months.iter_rows(named=True):
        n = row["closed"]
        assert (row["lower95"], row["upper95"]) == pytest.approx(band(p0, n, 1.96))
        assert (row["lower998"], row["upper998"]) == pytest.approx(band(p0, n, 3.09))
    # January n = 40: √(0.21311·0.78689/40) = 0.064749, × 3.09 = 0.20007, so [0.01304, 0.41319]
    january = months.row(0, named=True)
    assert (january["lower998"], january["upper998"]) == pytest.approx((0.01304, 0.41319), abs=1e-5)
    # June n = 1: the band is clipped to [0, 1]
    june = months.row(3, named=True)
    assert (june["lower998"], june["upper998"]) == (0.0, 1.0)


def test_a_period_outside_the_998_band_is_a_signal_and_one_inside_is_not(trend_warehouse: Warehouse) -> None:
    months = {row["period"]: row for row in trend(trend_warehouse, period="month").iter_rows(named=True)}
    # February: 8 of 10 = 0.8 against an upper limit of 0.2131 + 3.09·√(0.2131·0.7869/10) = 0.6133
    assert months["2026-02"]["upper998"] == pytest.approx(0.6133, abs=1e-4)
    assert months["2026-02"]["signal"] == "above"
    assert months["2026-01"]["signal"] == "within"  # 0.05, below the 95% band but inside the 99.8% one
    assert months["2026-01"]["rate"] < months["2026-01"]["lower95"]
    assert months["2026-04"]["signal"] == "within"


def test_a_period_below_the_998_band_is_a_signal_too(tmp_path) -> None:
    """The band has two sides: a fall in dropout is worth a look as much as a rise. January: 0 of 60;
    February: 30 of 60; p0 = 30/120 = 0.25, and with n = 60 the 99.8% band is
    0.25 ± 3.09·√(0.25·0.75/60) = [0.0773, 0.4227]."""
    log = [appointment(f"A{month}{n}", f"2026-0{month}-05", client=f"C{month}{n}", discharge_date=f"2026-0{month}-05",
                       discharge_reason="dropout" if month == 2 and n < 30 else "planned")
           for month in (1, 2) for n in range(60)]
    built = Warehouse(tmp_path)
    built.load(log)
    months = trend(built, period="month")
    assert months["signal"].to_list() == ["below", "above"]
    assert months["lower998"].to_list() == pytest.approx([0.0773] * 2, abs=1e-4)
    assert months["upper998"].to_list() == pytest.approx([0.4227] * 2, abs=1e-4)


def test_quarters_add_up_their_months(trend_warehouse: Warehouse) -> None:
    quarters = trend(trend_warehouse, period="quarter")
    assert quarters["period"].to_list() == ["2026 Q1", "2026 Q2"]
    assert quarters["period_start"].to_list() == [dt.date(2026, 1, 1), dt.date(2026, 4, 1)]
    assert quarters["period_end"].to_list() == [dt.date(2026, 3, 31), dt.date(2026, 6, 30)]
    assert quarters["closed"].to_list() == [50, 11]  # 40 + 10; 10 + 1
    assert quarters["dropout"].to_list() == [10, 3]
    assert quarters["open"].to_list() == [0, 2]
    first = quarters.row(0, named=True)
    assert first["rate"] == pytest.approx(10 / 50)
    assert (first["lower998"], first["upper998"]) == pytest.approx(band(13 / 61, 50, 3.09))


def test_trend_keeps_the_whole_history_when_the_date_filter_is_set(trend_warehouse: Warehouse) -> None:
    filtered = trend(trend_warehouse, Scope(from_date=dt.date(2026, 4, 1), to_date=dt.date(2026, 4, 30)),
                     period="month")
    assert filtered.equals(trend(trend_warehouse, period="month"))


def test_trend_follows_the_clinic_filter_and_its_long_run_rate(trend_warehouse: Warehouse) -> None:
    k2 = trend(trend_warehouse, Scope(clinics=("K2",)), period="month")
    assert k2["period"].to_list() == ["2026-01"]
    assert k2["p0"].to_list() == [0.0]  # 0 of 8: K2's own long-run rate, not the service's


def test_clinic_by_quarter_cells_with_too_few_episodes_say_so(trend_warehouse: Warehouse) -> None:
    cells = frames.dropout_heat_cells(trend(trend_warehouse, period="quarter", by_clinic=True))
    by_cell = {(row["clinic_id"], row["period"]): row for row in cells.iter_rows(named=True)}
    assert set(by_cell) == {("K1", "2026 Q1"), ("K1", "2026 Q2"), ("K2", "2026 Q1")}
    assert by_cell[("K1", "2026 Q1")]["label"] == "23.8%\n10 of 42"  # 2 + 8 of 32 + 10
    assert by_cell[("K1", "2026 Q2")]["label"] == "27.3%\n3 of 11"
    # K2 has 8 closed episodes, under the minimum caseload of 10: no rate coloured
    assert by_cell[("K2", "2026 Q1")]["is_too_few"] is True
    assert by_cell[("K2", "2026 Q1")]["label"] == "too few\n0 of 8"
    # every cell's band is still around the whole selection's long-run rate
    assert [row["p0"] for row in by_cell.values()] == pytest.approx([13 / 61] * 3)


def test_incomplete_months_of_the_headline_period(trend_warehouse: Warehouse) -> None:
    months = frames.dropout_control(trend(trend_warehouse, period="month"))
    assert months.filter(pl.col("is_incomplete"))["period"].to_list() == ["2026-06"]  # 2 open of 3
    whole_half = Scope(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 6, 30))
    assert frames.incomplete_months(months, whole_half) == (1, 4)
    # a period that starts mid-month still counts the month it starts in
    assert frames.incomplete_months(months, Scope(from_date=dt.date(2026, 6, 15), to_date=dt.date(2026, 6, 30))) \
        == (1, 1)
    assert frames.incomplete_months(months, Scope(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 3, 31))) \
        == (0, 2)


# --- the same dates a year earlier ----------------------------------------------------------------


def test_headline_compares_with_the_same_dates_last_year() -> None:
    current, previous = frames.headline_periods(Scope(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 6, 30)),
                                                dt.date(2026, 6, 30))
    assert (current.from_date, current.to_date) == (dt.date(2026, 1, 1), dt.date(2026, 6, 30))
    assert (previous.from_date, previous.to_date) == (dt.date(2025, 1, 1), dt.date(2025, 6, 30))


def test_headline_last_year_of_29_february_is_28_february() -> None:
    _, previous = frames.headline_periods(Scope(from_date=dt.date(2024, 2, 29), to_date=dt.date(2024, 2, 29)),
                                          dt.date(2024, 6, 30))
    assert (previous.from_date, previous.to_date) == (dt.date(2023, 2, 28), dt.date(2023, 2, 28))
    # a period from 1 March 2023 to 29 February 2024 against 1 March 2022 – 28 February 2023: no day shared
    _, previous = frames.headline_periods(Scope(from_date=dt.date(2023, 3, 1), to_date=dt.date(2024, 2, 29)),
                                          dt.date(2024, 6, 30))
    assert (previous.from_date, previous.to_date) == (dt.date(2022, 3, 1), dt.date(2023, 2, 28))
    # and a year earlier than 28 February 2025 is 28 February 2024, not the 29th
    assert frames.years_earlier(dt.date(2025, 2, 28)) == dt.date(2024, 2, 28)
    assert frames.years_earlier(dt.date(2028, 2, 29), 4) == dt.date(2024, 2, 29)


def test_headline_default_is_the_last_year_against_the_year_before() -> None:
    current, previous = frames.headline_periods(Scope(), dt.date(2026, 6, 30))
    assert (current.from_date, current.to_date) == (dt.date(2025, 7, 1), dt.date(2026, 6, 30))
    assert (previous.from_date, previous.to_date) == (dt.date(2024, 7, 1), dt.date(2025, 6, 30))


def test_headline_longer_than_a_year_is_set_against_the_same_dates_whole_years_earlier() -> None:
    """01 Jan 2025 – 30 Jun 2026 (546 days) against the same dates two years earlier: one year would overlap."""
    current, previous = frames.headline_periods(Scope(from_date=dt.date(2025, 1, 1)), dt.date(2026, 6, 30))
    assert (previous.from_date, previous.to_date) == (dt.date(2023, 1, 1), dt.date(2024, 6, 30))
    assert frames.years_between(current, previous) == 2


@given(st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_a_year_earlier_keeps_the_month_and_moves_a_year(day: dt.date) -> None:
    earlier = frames.years_earlier(day)
    assert (earlier.year, earlier.month) == (day.year - 1, day.month)
    assert earlier.day == day.day or (day.month, day.day, earlier.day) == (2, 29, 28)


@given(st.dates(min_value=dt.date(1905, 1, 1), max_value=dt.date(2100, 12, 31)),
       st.integers(min_value=0, max_value=3 * 366))
def test_headline_periods_never_overlap_and_keep_the_season(end: dt.date, days: int) -> None:
    current, previous = frames.headline_periods(Scope(from_date=end - dt.timedelta(days=days), to_date=end), end)
    assert previous.to_date < current.from_date
    assert (previous.from_date.month, previous.to_date.month) == (current.from_date.month, current.to_date.month)
    assert frames.years_earlier(current.to_date, frames.years_between(current, previous)) == previous.to_date


# --- the charts -----------------------------------------------------------------------------------


def control_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three months around p0 = 0.2 (one above its band, one incomplete) and the filtered dates, as the pages
    pass them to charts.dropout_control_chart."""
    closed, dropout, open_ = [40, 10, 10], [6, 8, 1], [0, 0, 5]
    limits = [band(0.2, n, z) for n in closed for z in (3.09, 1.96)]
    periods = frames.dropout_control(pl.DataFrame({
        "period": ["2026-01", "2026-02", "2026-03"],
        "period_start": [dt.date(2026, m, 1) for m in (1, 2, 3)],
        "dropout": dropout, "closed": closed, "open": open_, "p0": [0.2] * 3,
        "lower998": [limits[0][0], limits[2][0], limits[4][0]], "upper998": [limits[0][1], limits[2][1], limits[4][1]],
        "lower95": [limits[1][0], limits[3][0], limits[5][0]], "upper95": [limits[1][1], limits[3][1], limits[5][1]],
        "signal": ["within", "above", "within"],
    }))
    filtered = pl.DataFrame({"from_date": [dt.date(2026, 2, 1)], "to_date": [dt.date(2026, 3, 31)]})
    return periods, filtered


def heat_frame() -> pl.DataFrame:
    return frames.dropout_heat_cells(pl.DataFrame({
        "clinic_id": ["K1", "K1", "K2"], "period": ["2026 Q1", "2026 Q2", "2026 Q1"],
        "period_start": [dt.date(2026, 1, 1), dt.date(2026, 4, 1), dt.date(2026, 1, 1)],
        "dropout": [12, 3, 1], "closed": [80, 11, 2], "open": [0, 4, 0], "is_too_few": [False, False, True]}))


def layers(spec: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for layer in spec["layer"]:
        mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        found.setdefault(mark, []).append(layer)
    return found


def test_control_chart_draws_both_bands_the_long_run_rate_and_the_filtered_dates() -> None:
    spec = charts.dropout_control_chart(*control_frames()).to_dict()
    marks = layers(spec)
    assert sorted(marks) == ["area", "line", "point", "rect", "rule"]
    bands = {(a["encoding"]["y"]["field"], a["encoding"]["y2"]["field"]) for a in marks["area"]}
    assert bands == {("lower998", "upper998"), ("lower95", "upper95")}
    assert all(a["mark"]["interpolate"] == "step" for a in marks["area"])  # each period its own limits
    assert marks["rule"][0]["encoding"]["y"]["field"] == "p0"
    [shade] = marks["rect"]
    assert shade["encoding"]["x2"]["field"] == "to_date"
    assert spec["datasets"][shade["data"]["name"]] == [{"from_date": "2026-02-01T00:00:00",
                                                        "to_date": "2026-03-31T00:00:00"}]


def test_control_chart_points_outside_the_band_differ_by_shape_and_colour() -> None:
    [points] = layers(charts.dropout_control_chart(*control_frames()).to_dict())["point"]
    encoding = points["encoding"]
    assert encoding["shape"]["field"] == encoding["stroke"]["field"] == "signal"
    shapes, colours = encoding["shape"]["scale"], encoding["stroke"]["scale"]
    shape_of = dict(zip(shapes["domain"], shapes["range"], strict=True))
    colour_of = dict(zip(colours["domain"], colours["range"], strict=True))
    assert len({shape_of["above"], shape_of["within"], shape_of["below"]}) == 3
    assert len({colour_of["above"], colour_of["within"], colour_of["below"]}) == 3
    assert encoding["size"]["condition"]["value"] < encoding["size"]["value"]  # within is drawn smaller


def test_control_chart_draws_incomplete_periods_hollow() -> None:
    spec = charts.dropout_control_chart(*control_frames()).to_dict()
    [points] = layers(spec)["point"]
    assert points["encoding"]["fill"]["condition"] == {"test": "datum.is_incomplete", "value": "white"}
    rows = spec["datasets"][points["data"]["name"]]
    assert [row["is_incomplete"] for row in rows] == [False, False, True]


def test_heat_table_cells_carry_their_counts_and_grey_out_too_few() -> None:
    spec = charts.dropout_heat_table(heat_frame()).to_dict()
    marks = layers(spec["spec"])
    [rect], [text] = marks["rect"], marks["text"]
    assert rect["encoding"]["color"]["condition"]["test"].startswith("datum.is_too_few")
    assert text["encoding"]["text"]["field"] == "label"
    rows = spec["datasets"][spec["data"]["name"]]
    assert [row["label"] for row in rows] == ["15.0%\n12 of 80", "27.3%\n3 of 11", "too few\n1 of 2"]


def test_heat_table_puts_five_clinics_to_a_panel_one_under_another() -> None:
    """Twelve clinics: three panels of 5, 5 and 2 clinics, each with its own clinics across, so the table never
    grows wider than a phone; one colour scale for all."""
    cells = frames.dropout_heat_cells(pl.DataFrame({
        "clinic_id": [f"K{c:02d}" for c in range(12, 0, -1)], "period": ["2026 Q1"] * 12,
        "period_start": [dt.date(2026, 1, 1)] * 12, "dropout": [3] * 12, "closed": [20] * 12, "open": [0] * 12,
        "is_too_few": [False] * 12}))
    spec = charts.dropout_heat_table(cells).to_dict()
    assert spec["facet"]["row"]["field"] == "panel"
    assert spec["resolve"]["scale"]["x"] == "independent" and "color" not in spec["resolve"]["scale"]
    panels: dict[int, list[str]] = {}
    for row in spec["datasets"][spec["data"]["name"]]:
        panels.setdefault(row["panel"], []).append(row["clinic_id"])
    assert [sorted(panels[p]) for p in sorted(panels)] == [[f"K{c:02d}" for c in range(1, 6)],
                                                            [f"K{c:02d}" for c in range(6, 11)], ["K11", "K12"]]
