"""The chart builders of dashboard/charts.py, through the Vega-Lite spec they produce.

Each builder is a pure function of a report frame; these tests read `chart.to_dict()` (which also
validates the spec against the Vega-Lite schema) for marks, encodings, layers and the data behind
them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dashboard import charts
from test_trends import control_frames, heat_frame

# --- small report frames, shaped as the pages pass them ------------------------------------------


def months_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "month": ["2026-01", "2026-02", "2026-03"],
        "numerator": [5, 3, 1],
        "denominator": [20, 15, 4],
        "rate": [0.25, 0.2, 0.25],
        "open": [0, 1, 6],
        "is_incomplete": [False, False, True],
    })


def bars_frame() -> pl.DataFrame:
    return pl.DataFrame({"clinic": ["K02", "K01"], "numerator": [4, 9], "denominator": [40, 30],
                         "rate": [0.1, 0.3]})


def paired_frame() -> pl.DataFrame:
    return pl.DataFrame({"measure": ["paired", "recovery"], "numerator": [9, 4], "denominator": [10, 8],
                         "rate": [0.9, 0.5]})


def funnel_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    p0 = 0.2
    therapists = pl.DataFrame({
        "therapist_id": ["T1", "T2", "T3", "T4"],
        "numerator": [2, 12, 30, 1],
        "denominator": [20, 30, 40, 3],
        "rate": [0.1, 0.4, 0.75, 1 / 3],
        "p0": [p0] * 4,
        "flag": ["none", "alert", "alarm", "insufficient"],
    }).with_columns(
        (pl.col("p0") + 1.96 * (pl.col("p0") * (1 - pl.col("p0")) / pl.col("denominator")).sqrt()).alias("limit95"),
        (pl.col("p0") + 3.09 * (pl.col("p0") * (1 - pl.col("p0")) / pl.col("denominator")).sqrt()).alias("limit998"),
    )
    limits = pl.DataFrame({"caseload": list(range(1, 41))}).with_columns(pl.lit(p0).alias("p0")).with_columns(
        (pl.col("p0") + 1.96 * (pl.col("p0") * (1 - pl.col("p0")) / pl.col("caseload")).sqrt()).alias("limit95"),
        (pl.col("p0") + 3.09 * (pl.col("p0") * (1 - pl.col("p0")) / pl.col("caseload")).sqrt()).alias("limit998"),
    )
    return therapists, limits


def widened_funnel_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The funnel frames with limits widened by τ² = 0.01 and the flags they give."""
    units, limits = funnel_frames()

    def widened(frame: pl.DataFrame, size: str) -> pl.DataFrame:
        spread = (pl.col("p0") * (1 - pl.col("p0")) / pl.col(size) + 0.01).sqrt()
        return frame.with_columns((pl.col("p0") + 1.96 * spread).alias("adjusted_limit95"),
                                  (pl.col("p0") + 3.09 * spread).alias("adjusted_limit998"))

    return (widened(units, "denominator").with_columns(
        adjusted_flag=pl.Series(["none", "alert", "alert", "insufficient"])), widened(limits, "caseload"))


def adjusted_funnel_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Four therapists' O/E against E, and the guide curves at p0 = 0.2 with no widening."""
    units = pl.DataFrame({
        "therapist_id": ["T1", "T2", "T3", "T4"], "numerator": [2, 12, 30, 1], "denominator": [20, 30, 40, 3],
        "expected": [4.0, 6.0, 8.0, 0.6], "adjusted_flag": ["none", "alert", "alarm", "insufficient"],
    }).with_columns(ratio=pl.col("numerator") / pl.col("expected"),
                    adjusted_z=(pl.col("numerator") - pl.col("expected")) / (0.8 * pl.col("expected")).sqrt())
    spread = (0.8 / pl.col("expected")).sqrt()
    limits = pl.DataFrame({"expected": [0.5 * k for k in range(1, 21)]}).with_columns(
        lower998=1 - 3.09 * spread, lower95=1 - 1.96 * spread, upper95=1 + 1.96 * spread, upper998=1 + 3.09 * spread)
    return units, limits


def case_mix_frame() -> pl.DataFrame:
    """A therapist's two strata against the service's."""
    return pl.DataFrame({"stratum": ["assessment · severe · new", "treatment · minimal · new"], "closed": [8, 2],
                         "share": [0.8, 0.2], "service_closed": [50, 50], "service_share": [0.5, 0.5],
                         "p_s": [0.5, 0.1], "expected": [4.0, 0.2]})


def cusum_frame() -> pl.DataFrame:
    """One therapist's CUSUM over six episodes, crossing a threshold of 1 at the fourth."""
    scores = [0.3, 0.6, 0.2, 1.1, 1.4, 0.9]
    return pl.DataFrame({
        "episode_number": list(range(1, 7)),
        "first_attended_date": [dt.date(2025, 1, d) for d in range(1, 7)],
        "client_id": [f"C{k}" for k in range(6)], "episode_id": ["1"] * 6,
        "is_single_session_dropout": [True, True, False, True, True, False],
        "expected": [0.2] * 6, "cusum": scores, "threshold": [1.0] * 6,
        "crossed": [False, False, False, True, False, False],
    })


def outcomes_frame() -> pl.DataFrame:
    rows = []
    for measure in ("phq9", "gad7"):
        for clinic in ("K01", "all clinics"):
            for outcome, numerator, denominator in (("recovery", 5, 10), ("reliable improvement", 7, 14)):
                rows.append({"measure": measure, "clinic": clinic, "outcome": outcome, "numerator": numerator,
                             "denominator": denominator, "rate": numerator / denominator})
    return pl.DataFrame(rows)


def dose_frame() -> pl.DataFrame:
    return pl.DataFrame({"session_number": [1, 2, 3], "episodes": [100, 80, 50], "mean_score": [15.0, 13.2, 11.9],
                         "numerator": [0, 12, 15], "denominator": [100, 80, 50], "rate": [0.0, 0.15, 0.3]})


def survival_frame() -> pl.DataFrame:
    return pl.DataFrame({"stratum": ["K01", "K01", "K01", "K02", "K02"], "day": [0, 10, 30, 0, 5],
                         "survival": [1.0, 0.8, 0.5, 0.9, 0.6], "events": [0, 2, 3, 1, 3],
                         "at_risk": [10, 10, 6, 10, 9]})


def end_reason_frame() -> pl.DataFrame:
    return survival_frame().with_columns(pl.col("stratum").replace_strict({"K01": "planned", "K02": "dropout"}))


STANDARDS = {"6 weeks": 0.75, "18 weeks": 0.95}


def standards_frame() -> pl.DataFrame:
    """Two months of waits within each standard."""
    return pl.DataFrame({"month": [dt.date(2025, 1, 1), dt.date(2025, 2, 1)] * 2,
                         "standard": ["6 weeks", "6 weeks", "18 weeks", "18 weeks"],
                         "numerator": [6, 7, 9, 10], "denominator": [10, 10, 10, 10],
                         "rate": [0.6, 0.7, 0.9, 1.0]})


def gaps_frame() -> pl.DataFrame:
    return pl.DataFrame({"days": [7, 14, 35, 95], "episodes": [40, 12, 5, 1]})


def histogram_frame() -> pl.DataFrame:
    return pl.DataFrame({"attended_sessions": [1, 2, 5], "episodes": [50, 10, 3]})


# --- reading a spec -------------------------------------------------------------------------------


def units(spec: dict) -> list[dict]:
    """The unit views of a spec (the layers of a layer chart, the inner spec of a facet, the panels of a vconcat)."""
    if "vconcat" in spec:
        return [unit for view in spec["vconcat"] for unit in units(view)]
    if "layer" in spec:
        return [unit for layer in spec["layer"] for unit in units(layer)]
    if "spec" in spec:
        return units(spec["spec"])
    return [spec]


def mark_type(unit: dict) -> str:
    mark = unit["mark"]
    return mark if isinstance(mark, str) else mark["type"]


def mark_of(unit: dict) -> dict:
    mark = unit["mark"]
    return {"type": mark} if isinstance(mark, str) else mark


def the_unit(spec: dict, mark: str) -> dict:
    found = [unit for unit in units(spec) if mark_type(unit) == mark]
    assert len(found) == 1, f"expected one {mark} layer, found {[mark_type(u) for u in units(spec)]}"
    return found[0]


def channel(spec: dict, unit: dict, name: str) -> dict:
    """An encoding channel of a unit, or of the chart when the layers share it."""
    return unit.get("encoding", {}).get(name) or spec["encoding"][name]


def tooltip_fields(unit: dict) -> dict[str, dict]:
    tooltip = unit["encoding"].get("tooltip", [])
    return {t["field"]: t for t in (tooltip if isinstance(tooltip, list) else [tooltip])}


def rows_of(spec: dict, unit: dict) -> list[dict]:
    """The data rows a unit draws (inline datasets are stored once, by name, at the top)."""
    data = unit.get("data") or spec.get("data")
    return spec["datasets"][data["name"]]


def assert_rate_tooltip(unit: dict) -> None:
    fields = tooltip_fields(unit)
    assert {"rate", "numerator", "denominator"} <= set(fields), f"tooltip fields: {sorted(fields)}"
    assert fields["rate"]["format"] == ".1%"
    assert fields["numerator"]["type"] == fields["denominator"]["type"] == "quantitative"


# --- dropout_trend -------------------------------------------------------------------------------


def test_dropout_trend_is_a_line_with_points_by_month() -> None:
    spec = charts.dropout_trend(months_frame()).to_dict()
    assert sorted(mark_type(u) for u in units(spec)) == ["line", "point"]
    line, points = the_unit(spec, "line"), the_unit(spec, "point")
    for unit in (line, points):
        assert unit["encoding"]["y"]["field"] == "rate"
    for unit in (line, points):
        x = channel(spec, unit, "x")
        assert (x["field"], x["type"]) == ("month", "ordinal")
    assert line["encoding"]["y"]["axis"]["format"] == "%"
    assert spec["height"] == 280


def test_dropout_trend_draws_incomplete_months_hollow() -> None:
    spec = charts.dropout_trend(months_frame()).to_dict()
    points = the_unit(spec, "point")
    assert mark_of(points)["filled"] is True
    fill = points["encoding"]["fill"]
    assert fill["condition"]["test"] == "datum.is_incomplete"
    incomplete_fill, complete_fill = fill["condition"]["value"], fill["value"]
    assert incomplete_fill == "white"
    assert complete_fill != incomplete_fill
    assert points["encoding"]["stroke"]["value"] == complete_fill  # a hollow point keeps its outline
    flags = {row["month"]: row["is_incomplete"] for row in rows_of(spec, points)}
    assert flags == {"2026-01": False, "2026-02": False, "2026-03": True}


def test_dropout_trend_tooltip_carries_numerator_and_denominator() -> None:
    points = the_unit(charts.dropout_trend(months_frame()).to_dict(), "point")
    assert_rate_tooltip(points)
    assert {"month", "open", "is_incomplete"} <= set(tooltip_fields(points))


# --- rate_bars -----------------------------------------------------------------------------------


def test_rate_bars_one_bar_per_category_in_the_given_order() -> None:
    spec = charts.rate_bars(bars_frame(), "clinic", "Clinic").to_dict()
    bar = the_unit(spec, "bar")
    y, x = bar["encoding"]["y"], bar["encoding"]["x"]
    assert (y["field"], y["type"], y["title"]) == ("clinic", "nominal", "Clinic")
    assert y["sort"] is None  # the report's order, not alphabetical
    assert (x["field"], x["type"], x["axis"]["format"]) == ("rate", "quantitative", "%")
    assert_rate_tooltip(bar)
    assert "clinic" in tooltip_fields(bar)
    assert [row["clinic"] for row in rows_of(spec, bar)] == ["K02", "K01"]
    assert spec["height"] == {"step": 22}


# --- funnel_plot ---------------------------------------------------------------------------------


def test_funnel_plot_layers_limit_curves_benchmark_and_points() -> None:
    therapists, limits = funnel_frames()
    spec = charts.funnel_plot(therapists, limits).to_dict()
    assert [mark_type(u) for u in units(spec)] == ["line", "rule", "point"]
    curves, rule, points = units(spec)

    # two dashed limit curves, one per limit, over every caseload
    assert mark_of(curves)["strokeDash"] == [4, 3]
    assert (curves["encoding"]["x"]["field"], curves["encoding"]["y"]["field"]) == ("caseload", "value")
    colour = curves["encoding"]["color"]
    assert colour["field"] == "limit"
    assert colour["scale"]["domain"] == ["limit95", "limit998"]
    curve_rows = rows_of(spec, curves)
    assert {row["limit"] for row in curve_rows} == {"limit95", "limit998"}
    assert len(curve_rows) == 2 * limits.height
    for row in curve_rows:
        expected = limits.filter(pl.col("caseload") == row["caseload"])[row["limit"]][0]
        assert row["value"] == pytest.approx(expected)

    # the benchmark: one horizontal rule at p0
    assert rule["encoding"]["y"]["field"] == "p0"
    assert "x" not in rule["encoding"]
    assert [row["p0"] for row in rows_of(spec, rule)] == [0.2]
    assert "p0" in tooltip_fields(rule)

    # one point per therapist: caseload against rate, coloured by flag
    assert (points["encoding"]["x"]["field"], points["encoding"]["y"]["field"]) == ("denominator", "rate")
    assert len(rows_of(spec, points)) == therapists.height
    assert spec["height"] == 380


def test_funnel_plot_points_keep_their_flag_colours() -> None:
    spec = charts.funnel_plot(*funnel_frames()).to_dict()
    points = the_unit(spec, "point")
    colour = points["encoding"]["color"]
    assert colour["field"] == "flag"
    assert dict(zip(colour["scale"]["domain"], colour["scale"]["range"], strict=True)) == {
        "none": "#4c78a8", "alert": "#f2a541", "alarm": "#d62728", "insufficient": "#b0b0b0"}
    # The limit curves have a colour scale of their own. In a layer, Vega-Lite merges the layers'
    # scales unless told otherwise, and a merged scale paints the points in the curves' two colours.
    assert spec.get("resolve", {}).get("scale", {}).get("color") == "independent"


def test_funnel_plot_limit_curves_stop_at_100_percent() -> None:
    # at caseload 1 the limits are far above 100%; a rate can never reach them
    therapists, limits = funnel_frames()
    assert limits["limit998"].max() > 1
    curves = the_unit(charts.funnel_plot(therapists, limits).to_dict(), "line")
    assert curves.get("transform") == [{"filter": "(datum.value <= 1)"}]


def test_funnel_plot_tooltip_and_click_selection() -> None:
    spec = charts.funnel_plot(*funnel_frames()).to_dict()
    points = the_unit(spec, "point")
    assert_rate_tooltip(points)
    assert {"therapist_id", "flag", "limit95", "limit998"} <= set(tooltip_fields(points))
    # the page reads event.selection["therapist"][0]["therapist_id"]
    [param] = spec["params"]
    assert param["name"] == "therapist"
    assert param["select"] == {"type": "point", "fields": ["therapist_id"], "on": "click"}
    assert param["views"] == [points["name"]]


# --- outcome_bars --------------------------------------------------------------------------------


def test_outcome_bars_facets_outcome_by_measure() -> None:
    spec = charts.outcome_bars(outcomes_frame()).to_dict()
    bar = the_unit(spec, "bar")
    encoding = bar["encoding"]
    assert (encoding["row"]["field"], encoding["column"]["field"]) == ("outcome", "measure")
    assert (encoding["x"]["field"], encoding["x"]["axis"]["format"]) == ("rate", "%")
    assert encoding["y"]["field"] == encoding["color"]["field"] == "clinic"
    assert_rate_tooltip(bar)
    assert {"measure", "outcome", "clinic"} <= set(tooltip_fields(bar))
    assert len(rows_of(spec, bar)) == outcomes_frame().height


# --- dose_response -------------------------------------------------------------------------------


def test_dose_response_mean_score_by_session_number() -> None:
    spec = charts.dose_response(dose_frame(), "phq9").to_dict()
    line = the_unit(spec, "line")
    assert mark_of(line)["point"] is True
    x = channel(spec, line, "x")
    assert (x["field"], x["type"]) == ("session_number", "quantitative")
    assert line["encoding"]["y"]["field"] == "mean_score"
    assert line["encoding"]["y"]["title"] == "Mean phq9"
    assert_rate_tooltip(line)
    assert {"session_number", "episodes", "mean_score"} <= set(tooltip_fields(line))


# --- survival_curves -----------------------------------------------------------------------------


def test_survival_curves_are_step_functions() -> None:
    spec = charts.survival_curves(survival_frame()).to_dict()
    line = the_unit(spec, "line")
    assert mark_of(line)["interpolate"] == "step-after"
    encoding = line["encoding"]
    fields = (encoding["x"]["field"], encoding["y"]["field"], encoding["color"]["field"])
    assert fields == ("day", "survival", "stratum")
    assert encoding["y"]["scale"]["domain"] == [0, 1]
    assert encoding["y"]["axis"]["format"] == "%"
    fields = tooltip_fields(line)
    assert {"stratum", "day", "survival", "events", "at_risk"} <= set(fields)
    assert fields["survival"]["format"] == ".1%"
    assert {row["stratum"] for row in rows_of(spec, line)} == {"K01", "K02"}


# --- count_histogram -----------------------------------------------------------------------------


def test_count_histogram_bars_per_value() -> None:
    spec = charts.count_histogram(histogram_frame(), "attended_sessions", "Attended sessions").to_dict()
    bar = the_unit(spec, "bar")
    encoding = bar["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"], encoding["x"]["title"]) == (
        "attended_sessions", "ordinal", "Attended sessions")
    assert (encoding["y"]["field"], encoding["y"]["type"]) == ("episodes", "quantitative")
    assert set(tooltip_fields(bar)) == {"attended_sessions", "episodes"}


def test_count_histogram_other_count_column() -> None:
    frame = pl.DataFrame({"srs": [30, 38], "clients": [4, 9]})
    bar = the_unit(charts.count_histogram(frame, "srs", "SRS", count="clients").to_dict(), "bar")
    assert bar["encoding"]["y"]["field"] == "clients"


# --- every builder -------------------------------------------------------------------------------

def trajectory_frame() -> pl.DataFrame:
    """An episode scored at sessions 1 and 3, its band's lines at sessions 1, 3 and 4 (too few at 2)."""
    return pl.DataFrame({"session_number": [1, 2, 3, 4], "change": [0.0, None, -1.0, None],
                         "expected_median": [0.0, None, 7.0, 8.0], "expected_75th": [0.0, None, 2.0, 3.0],
                         "expected_90th": [0.0, None, 0.0, 1.0]})


def test_not_on_track_trajectory_draws_the_episode_against_its_bands_three_dashed_lines() -> None:
    spec = charts.not_on_track_trajectory(trajectory_frame(), "PHQ-9").to_dict()
    expected, line, points = spec["layer"]
    assert mark_type(expected) == "line" and mark_of(expected)["strokeDash"]
    assert (mark_type(line), mark_type(points)) == ("line", "point")
    assert spec["layer"][0]["transform"][0]["fold"] == ["median", "75th percentile", "90th percentile"]
    # the one colour scale names the episode and the three lines, in that legend order
    assert expected["encoding"]["color"]["scale"]["domain"] == [
        "median", "75th percentile", "90th percentile", "this episode"]
    rows = rows_of(spec, points)
    assert [r["session_number"] for r in rows if r["change"] is not None] == [1, 3]


BUILDERS = {
    "dropout_trend": lambda: charts.dropout_trend(months_frame()),
    "rate_bars": lambda: charts.rate_bars(bars_frame(), "clinic", "Clinic"),
    "funnel_plot": lambda: charts.funnel_plot(*funnel_frames()),
    "widened_funnel_plot": lambda: charts.widened_funnel_plot(*widened_funnel_frames()),
    "cusum_chart": lambda: charts.cusum_chart(cusum_frame()),
    "survival_curves_by_end_reason": lambda: charts.survival_curves_by_end_reason(end_reason_frame()),
    "standards_trend": lambda: charts.standards_trend(standards_frame(), STANDARDS),
    "gap_histogram": lambda: charts.gap_histogram(gaps_frame(), (28, 90)),
    "rate_bars_with_counts": lambda: charts.rate_bars_with_counts(bars_frame(), "clinic", "Clinic"),
    "adjusted_funnel_plot": lambda: charts.adjusted_funnel_plot(*adjusted_funnel_frames()),
    "case_mix_bars": lambda: charts.case_mix_bars(case_mix_frame()),
    "outcome_bars": lambda: charts.outcome_bars(outcomes_frame()),
    "dose_response": lambda: charts.dose_response(dose_frame(), "phq9"),
    "survival_curves": lambda: charts.survival_curves(survival_frame()),
    "count_histogram": lambda: charts.count_histogram(histogram_frame(), "attended_sessions", "Attended sessions"),
    "paired_rates": lambda: charts.paired_rates(paired_frame()),
    "dropout_control_chart": lambda: charts.dropout_control_chart(*control_frames()),
    "dropout_heat_table": lambda: charts.dropout_heat_table(heat_frame()),
    "not_on_track_trajectory": lambda: charts.not_on_track_trajectory(trajectory_frame(), "PHQ-9"),
}


def test_every_builder_is_covered() -> None:
    public = {name for name, value in vars(charts).items()
              if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == charts.__name__}
    assert public == set(BUILDERS)


@pytest.mark.parametrize("name", BUILDERS)
def test_every_mark_can_be_hovered(name: str) -> None:
    """Every mark has a tooltip, except a line drawn through points that carry it."""
    spec = BUILDERS[name]().to_dict()
    for unit in units(spec):
        mark = mark_of(unit)
        has_tooltip = "tooltip" in unit.get("encoding", {}) or "tooltip" in spec.get("encoding", {})
        through_points = mark["type"] == "line" and any(mark_type(u) == "point" and "tooltip" in u["encoding"]
                                                          for u in units(spec))
        assert has_tooltip or through_points, f"{name}: a {mark['type']} mark without a tooltip"


@pytest.mark.parametrize("name", BUILDERS)
def test_layers_do_not_share_a_conflicting_colour_scale(name: str) -> None:
    spec = BUILDERS[name]().to_dict()
    domains = {tuple(unit["encoding"]["color"]["scale"]["domain"]) for unit in units(spec)
               if "domain" in unit.get("encoding", {}).get("color", {}).get("scale", {})}
    if len(domains) > 1:
        assert spec.get("resolve", {}).get("scale", {}).get("color") == "independent"


@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_accepts_an_empty_frame(name: str) -> None:
    """A filter can select no rows for one chart while the page still has episodes."""
    empty = {
        "dropout_trend": lambda: charts.dropout_trend(months_frame().clear()),
        "rate_bars": lambda: charts.rate_bars(bars_frame().clear(), "clinic", "Clinic"),
        "funnel_plot": lambda: charts.funnel_plot(funnel_frames()[0].clear(), funnel_frames()[1].clear()),
        "widened_funnel_plot": lambda: charts.widened_funnel_plot(*(f.clear() for f in widened_funnel_frames())),
        "cusum_chart": lambda: charts.cusum_chart(cusum_frame().clear()),
        "survival_curves_by_end_reason": lambda: charts.survival_curves_by_end_reason(end_reason_frame().clear()),
        "standards_trend": lambda: charts.standards_trend(standards_frame().clear(), STANDARDS),
        "gap_histogram": lambda: charts.gap_histogram(gaps_frame().clear(), (28, 90)),
        "rate_bars_with_counts": lambda: charts.rate_bars_with_counts(bars_frame().clear(), "clinic", "Clinic"),
        "adjusted_funnel_plot": lambda: charts.adjusted_funnel_plot(*(f.clear() for f in adjusted_funnel_frames())),
        "case_mix_bars": lambda: charts.case_mix_bars(case_mix_frame().clear()),
        "outcome_bars": lambda: charts.outcome_bars(outcomes_frame().clear()),
        "dose_response": lambda: charts.dose_response(dose_frame().clear(), "phq9"),
        "survival_curves": lambda: charts.survival_curves(survival_frame().clear()),
        "count_histogram": lambda: charts.count_histogram(histogram_frame().clear(), "attended_sessions", "n"),
        "paired_rates": lambda: charts.paired_rates(paired_frame().clear()),
        "dropout_control_chart": lambda: charts.dropout_control_chart(*(f.clear() for f in control_frames())),
        "dropout_heat_table": lambda: charts.dropout_heat_table(heat_frame().clear()),
        "not_on_track_trajectory": lambda: charts.not_on_track_trajectory(trajectory_frame().clear(), "PHQ-9"),
    }[name]()
    spec = empty.to_dict()
    assert all(rows_of(spec, unit) == [] for unit in units(spec) if (unit.get("data") or spec.get("data")))


def test_dates_in_a_frame_serialise() -> None:
    """Report frames carry dates (e.g. a month as a date); the spec must still build."""
    frame = months_frame().with_columns(pl.Series("month", [dt.date(2026, m, 1) for m in (1, 2, 3)]))
    spec = charts.dropout_trend(frame).to_dict()
    assert [row["month"] for row in rows_of(spec, the_unit(spec, "point"))][0].startswith("2026-01-01")


def test_cusum_chart_marks_and_dates_each_crossing_only() -> None:
    spec = charts.cusum_chart(cusum_frame()).to_dict()
    triangles = [u for u in units(spec) if mark_of(u).get("shape") == "triangle-up"]
    labels = [u for u in units(spec) if mark_type(u) == "text"]
    assert [row["episode_number"] for row in rows_of(spec, triangles[0])] == [4]
    assert [row["first_attended_date"][:10] for row in rows_of(spec, labels[0])] == ["2025-01-04"]
    rule = next(u for u in units(spec) if mark_type(u) == "rule")
    assert rule["encoding"]["y"]["field"] == "threshold"
