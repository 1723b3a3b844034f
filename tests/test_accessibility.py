"""Access without a mouse and without colour vision (docs/dashboard.md#accessibility): the rules that hold in
the chart specs and the page scripts. The browser checks (axe, focus, keyboard) are in
tests/test_accessibility_browser.py."""

from __future__ import annotations

import pytest
from test_charts import adjusted_funnel_frames, funnel_frames, units, widened_funnel_frames

from dashboard import charts

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
    [points] = [unit for unit in units(build().to_dict()) if "shape" in unit.get("encoding", {})]
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
