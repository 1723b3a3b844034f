"""Chart builders: pure functions from a report frame to an Altair chart.

They draw what the SQL computed (rates, limits, survival) and add nothing but encodings;
every mark has a tooltip, and every rate's tooltip carries its numerator and denominator.
"""

from __future__ import annotations

import altair as alt
import polars as pl

FLAG_COLOURS = alt.Scale(domain=["none", "alert", "alarm", "insufficient"],
                         range=["#4c78a8", "#f2a541", "#d62728", "#b0b0b0"])
PERCENT = ".1%"


def _rate_tooltip(*extra: alt.Tooltip) -> list[alt.Tooltip]:
    return [*extra, alt.Tooltip("rate:Q", format=PERCENT, title="rate"),
            alt.Tooltip("numerator:Q", title="numerator"), alt.Tooltip("denominator:Q", title="denominator")]


def dropout_trend(by_month: pl.DataFrame) -> alt.Chart:
    """Single-session dropout by cohort month; months still incomplete drawn hollow.

    Input: month, numerator, denominator, rate, open, is_incomplete."""
    base = alt.Chart(by_month).encode(
        x=alt.X("month:O", title="Cohort month (first session)"),
    )
    line = base.mark_line(color="#4c78a8").encode(y=alt.Y("rate:Q", title="Single-session dropout",
                                                          axis=alt.Axis(format="%")))
    points = base.mark_point(size=60, filled=True).encode(
        y="rate:Q",
        fill=alt.condition("datum.is_incomplete", alt.value("white"), alt.value("#4c78a8")),
        stroke=alt.value("#4c78a8"),
        tooltip=_rate_tooltip(alt.Tooltip("month:O", title="month"), alt.Tooltip("open:Q", title="still open"),
                              alt.Tooltip("is_incomplete:N", title="incomplete")),
    )
    return (line + points).properties(height=280)


# A period against its 99.8% band (docs/metrics/single-session.md#the-control-band): told apart by shape as well
# as colour, for readers who cannot tell the colours apart.
SIGNALS = ["within", "above", "below"]
SIGNAL_COLOURS = alt.Scale(domain=SIGNALS, range=["#4c78a8", "#d62728", "#7b4fa0"])
SIGNAL_SHAPES = alt.Scale(domain=SIGNALS, range=["circle", "triangle-up", "triangle-down"])
SIGNAL_LEGEND = "Against the 99.8% band"


def dropout_control_chart(periods: pl.DataFrame, filtered: pl.DataFrame) -> alt.LayerChart:
    """Single-session dropout by period (month or quarter) over the whole history, in its control band:
    the 99.8% and 95% limits around the long-run rate, stepped because each period's limits rest on its
    own closed episodes. Points outside the 99.8% band stand out by shape, colour and size; incomplete
    periods are hollow; the filtered dates are shaded.

    Inputs: periods (period, period_start, numerator, denominator, rate, open, is_incomplete, p0, lower998,
    lower95, upper95, upper998, signal); filtered (from_date, to_date), one row, or none when no date filter."""
    x = alt.X("period_start:T", title="First session")
    shade = alt.Chart(filtered).mark_rect(color="#9e9e9e", opacity=0.18, aria=False).encode(
        x=x, x2="to_date:T", tooltip=[alt.Tooltip("from_date:T", title="filtered from"),
                                      alt.Tooltip("to_date:T", title="filtered to")],
    ).transform_calculate(period_start="datum.from_date")

    def band(low: str, high: str, opacity: float, level: str) -> alt.Chart:
        return alt.Chart(periods).mark_area(interpolate="step", color="#9ecae1", opacity=opacity).encode(
            x=x, y=alt.Y(f"{low}:Q"), y2=f"{high}:Q",
            tooltip=[alt.Tooltip("period:N", title="period"),
                     alt.Tooltip(f"{low}:Q", format=PERCENT, title=f"{level} lower limit"),
                     alt.Tooltip(f"{high}:Q", format=PERCENT, title=f"{level} upper limit")])

    long_run = alt.Chart(periods.head(1)).mark_rule(color="#555", strokeDash=[4, 3]).encode(
        y="p0:Q", tooltip=[alt.Tooltip("p0:Q", format=PERCENT, title="long-run rate")])
    line = alt.Chart(periods).mark_line(color="#4c78a8").encode(
        x=x, y=alt.Y("rate:Q", title="Single-session dropout", axis=alt.Axis(format="%")))
    points = alt.Chart(periods).mark_point(filled=True, strokeWidth=2).encode(
        x=x, y="rate:Q",
        stroke=alt.Stroke("signal:N", scale=SIGNAL_COLOURS, title=SIGNAL_LEGEND),
        shape=alt.Shape("signal:N", scale=SIGNAL_SHAPES, title=SIGNAL_LEGEND),
        fill=alt.condition("datum.is_incomplete", alt.value("white"),
                           alt.Fill("signal:N", scale=SIGNAL_COLOURS, legend=None)),
        size=alt.condition(alt.datum.signal == "within", alt.value(50), alt.value(140)),
        tooltip=_rate_tooltip(alt.Tooltip("period:N", title="period"), alt.Tooltip("open:Q", title="still open"),
                              alt.Tooltip("is_incomplete:N", title="incomplete"),
                              alt.Tooltip("signal:N", title=SIGNAL_LEGEND),
                              alt.Tooltip("lower998:Q", format=PERCENT, title="99.8% lower limit"),
                              alt.Tooltip("upper998:Q", format=PERCENT, title="99.8% upper limit")),
    )
    return alt.layer(shade, band("lower998", "upper998", 0.35, "99.8%"), band("lower95", "upper95", 0.55, "95%"),
                     long_run, line, points).properties(height=300)


# The heat table's clinics per panel, and each clinic's column width: five 56-pixel columns and the quarters'
# labels beside them fit a phone's width. A service of 36 clinics gets eight panels, one under another,
# instead of a table wider than the page.
HEAT_TABLE_CLINICS_ACROSS = 5
HEAT_TABLE_COLUMN_PX = 56


def dropout_heat_table(cells: pl.DataFrame) -> alt.FacetChart:
    """Single-session dropout by clinic (columns) and period (rows, the latest on top), each cell its rate and
    counts ("12 of 80"); a cell with too few closed episodes is grey and says so instead of colouring its rate.
    Clinics run across, HEAT_TABLE_CLINICS_ACROSS to a panel, and the panels run down (one facet, one dataset:
    a chart of one panel per group took ten times as long to build), so that a phone's narrow screen holds a
    panel and scrolls down, whatever the number of clinics.

    Input: clinic_id, period, period_start, numerator, denominator, rate, is_too_few, label (the cell's text)."""
    # only the columns drawn: the spec carries its data, and a national service has thousands of cells
    cells = cells.select("clinic_id", "period", "period_start", "numerator", "denominator", "rate", "is_too_few",
                         "label").with_columns(
        panel=(pl.col("clinic_id").rank("dense") - 1) // HEAT_TABLE_CLINICS_ACROSS)
    # the highest rate of all panels, so that white text falls on the same dark cells in each
    top_rate = cells.filter(~pl.col("is_too_few"))["rate"].max() or 1.0
    tooltip = _rate_tooltip(alt.Tooltip("clinic_id:N", title="clinic"), alt.Tooltip("period:N", title="period"),
                            alt.Tooltip("is_too_few:N", title="too few closed episodes"))
    base = alt.Chart().encode(
        x=alt.X("clinic_id:N", title="Clinic", axis=alt.Axis(orient="top", labelAngle=0)),
        # the quarter labels ("2026 Q1") name themselves: no axis title, so five clinics fit a phone's width
        y=alt.Y("period:O", title=None, sort=alt.SortField("period_start", order="descending")))
    rects = base.mark_rect(stroke="white").encode(
        color=alt.condition("datum.is_too_few || datum.rate == null", alt.value("#e0e0e0"),
                            alt.Color("rate:Q", title="Dropout", scale=alt.Scale(scheme="oranges", zero=True),
                                      legend=alt.Legend(format="%", orient="bottom"))),
        tooltip=tooltip)
    # dark text on pale cells, white on the darkest third of the scale
    text = base.mark_text(fontSize=10, lineBreak="\n").encode(
        text="label:N", tooltip=tooltip,
        color=alt.condition(f"!datum.is_too_few && datum.rate > {0.67 * top_rate}", alt.value("white"),
                            alt.value("black")))
    # a fixed panel width: with a width per step and each panel's own clinics, Vega-Lite 6 fails ("child_width")
    panel = alt.layer(rects, text).properties(width=HEAT_TABLE_CLINICS_ACROSS * HEAT_TABLE_COLUMN_PX,
                                              height=alt.Step(38))
    return panel.facet(row=alt.Row("panel:O", title=None, header=alt.Header(labels=False)), data=cells,
                       spacing=24).resolve_scale(x="independent")


def rate_bars(frame: pl.DataFrame, category: str, title: str) -> alt.Chart:
    """One horizontal bar per category value. Input: category, numerator, denominator, rate."""
    return alt.Chart(frame).mark_bar(color="#4c78a8").encode(
        y=alt.Y(f"{category}:N", title=title, sort=None),
        x=alt.X("rate:Q", title="rate", axis=alt.Axis(format="%")),
        tooltip=_rate_tooltip(alt.Tooltip(f"{category}:N", title=title)),
    ).properties(height=alt.Step(22))


def funnel_plot(units: pl.DataFrame, limits: pl.DataFrame, *, unit: str = "therapist",
                caseload_title: str = "Closed episodes (caseload)",
                rate_title: str = "Single-session dropout") -> alt.LayerChart:
    """Rate against caseload, one point per `unit` (its id in `{unit}_id`), with the benchmark
    line and the 95% and 99.8% limit curves. Inputs: funnel rows (numerator, denominator, rate,
    limits, flag); limit curve rows (caseload, p0, limit95, limit998). The click selection is
    named after the unit."""
    curves = limits.unpivot(index=["caseload", "p0"], on=["limit95", "limit998"],
                            variable_name="limit", value_name="value")
    # A limit above 100% flags no one (a rate cannot exceed it), so the curves stop at 100%.
    curves = curves.with_columns(
        level=pl.when(pl.col("limit") == "limit95").then(pl.lit("95%")).otherwise(pl.lit("99.8%")))
    curve_layer = alt.Chart(curves).transform_filter(alt.datum.value <= 1).mark_line(strokeDash=[4, 3]).encode(
        x=alt.X("caseload:Q", title=caseload_title),
        y=alt.Y("value:Q", title=rate_title, axis=alt.Axis(format="%")),
        color=alt.Color("limit:N", title="Upper limit",
                        scale=alt.Scale(domain=["limit95", "limit998"], range=["#f2a541", "#d62728"]),
                        legend=alt.Legend(labelExpr="datum.label == 'limit95' ? '95%' : '99.8%'")),
        # in words: the level of the limit, never the column's name (docs/dashboard.md#words-and-numbers)
        tooltip=[alt.Tooltip("caseload:Q", title="caseload"), alt.Tooltip("level:N", title="upper limit"),
                 alt.Tooltip("value:Q", format=PERCENT, title="limit rate")],
    )
    benchmark = alt.Chart(limits.head(1)).mark_rule(color="#555").encode(
        y="p0:Q", tooltip=[alt.Tooltip("p0:Q", format=PERCENT, title=f"all {unit}s")])
    selection = alt.selection_point(name=unit, fields=[f"{unit}_id"], on="click")
    points = alt.Chart(units).mark_point(size=90, opacity=0.9, filled=True).encode(
        x="denominator:Q",
        y="rate:Q",
        color=alt.Color("flag:N", scale=FLAG_COLOURS, title="Flag"),
        # the shape repeats the colour for readers who cannot tell the colours apart; colour and shape share
        # the field and the title, so one legend shows both (docs/dashboard.md#accessibility)
        shape=alt.Shape("flag:N", scale=FLAG_SHAPES, title="Flag"),
        tooltip=_rate_tooltip(alt.Tooltip(f"{unit}_id:N", title=unit), alt.Tooltip("flag:N"),
                              alt.Tooltip("limit95:Q", format=PERCENT, title="95% limit"),
                              alt.Tooltip("limit998:Q", format=PERCENT, title="99.8% limit")),
    ).add_params(selection)
    # The limit curves and the flags each keep their own colour scale and legend: a shared scale
    # would repaint every point in the two limit colours.
    # shape resolved with colour, so the points' colour and shape legends merge into one
    return alt.layer(curve_layer, benchmark, points).resolve_scale(color="independent", shape="independent").properties(
        height=380)


# The overdispersion allowance's columns and the funnel columns they stand in for
WIDENED = {"adjusted_limit95": "limit95", "adjusted_limit998": "limit998", "adjusted_flag": "flag"}


def widened_funnel_plot(units: pl.DataFrame, limits: pl.DataFrame, **titles: str) -> alt.LayerChart:
    """funnel_plot with the overdispersion allowance (docs/metrics/attendance.md#overdispersion):
    the limit curves widened by the variation between units, each point coloured by its adjusted
    flag. Inputs as funnel_plot's plus adjusted_limit95 and adjusted_limit998 (both frames) and
    adjusted_flag (units); `titles` as funnel_plot's keywords."""
    def widened(frame: pl.DataFrame) -> pl.DataFrame:
        present = {adjusted: raw for adjusted, raw in WIDENED.items() if adjusted in frame.columns}
        return frame.drop(present.values()).rename(present)
    return funnel_plot(widened(units), widened(limits), **titles)


def outcome_bars(outcomes: pl.DataFrame) -> alt.Chart:
    """Outcome rates by measure and outcome (and clinic, as columns of bars).

    Input: measure, clinic, outcome, numerator, denominator, rate."""
    return alt.Chart(outcomes).mark_bar().encode(
        x=alt.X("rate:Q", title="rate", axis=alt.Axis(format="%")),
        y=alt.Y("clinic:N", title=None),
        color=alt.Color("clinic:N", legend=None),
        row=alt.Row("outcome:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        column=alt.Column("measure:N", title=None),
        tooltip=_rate_tooltip(alt.Tooltip("measure:N"), alt.Tooltip("outcome:N"), alt.Tooltip("clinic:N")),
    ).properties(width=160, height=alt.Step(20))


def dose_response(curve: pl.DataFrame, measure: str) -> alt.Chart:
    """Mean score by session number. Input: session_number, episodes, mean_score, numerator,
    denominator, rate (share of scores that are a reliable improvement on the first)."""
    base = alt.Chart(curve).encode(x=alt.X("session_number:Q", title="Session number"))
    tooltip = _rate_tooltip(alt.Tooltip("session_number:Q", title="session"),
                            alt.Tooltip("episodes:Q", title="episodes scored"),
                            alt.Tooltip("mean_score:Q", format=".1f", title=f"mean {measure}"))
    mean = base.mark_line(point=True).encode(y=alt.Y("mean_score:Q", title=f"Mean {measure}"), tooltip=tooltip)
    return mean.properties(height=300)


def survival_curves(curve: pl.DataFrame) -> alt.Chart:
    """Kaplan–Meier step curves of the share still in care. Input: stratum, day, survival,
    events, at_risk."""
    return alt.Chart(curve).mark_line(interpolate="step-after").encode(
        x=alt.X("day:Q", title="Days since first session"),
        y=alt.Y("survival:Q", title="Share still in care", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("stratum:N", title="Clinic",
                        legend=None if curve["stratum"].n_unique() <= 1 else alt.Legend()),
        tooltip=[alt.Tooltip("stratum:N", title="clinic"), alt.Tooltip("day:Q"),
                 alt.Tooltip("survival:Q", format=PERCENT, title="still in care"),
                 alt.Tooltip("events:Q", title="discharged that day"), alt.Tooltip("at_risk:Q", title="at risk")],
    ).properties(height=320)


def count_histogram(frame: pl.DataFrame, x: str, title: str, count: str = "episodes") -> alt.Chart:
    """Bars of a count per integer value. Input: x column, count column."""
    return alt.Chart(frame).mark_bar(color="#4c78a8").encode(
        x=alt.X(f"{x}:O", title=title),
        y=alt.Y(f"{count}:Q", title=count.replace("_", " ")),
        tooltip=[alt.Tooltip(f"{x}:O", title=title), alt.Tooltip(f"{count}:Q")],
    ).properties(height=240)


def cusum_chart(path: pl.DataFrame) -> alt.LayerChart:
    """One therapist's CUSUM against the first session date of each closed episode, in episode
    order, with the signal threshold and a marked, dated point at each episode that crossed it.
    Input: therapist_cusum rows of one therapist (episode_number, first_attended_date, cusum,
    threshold, crossed, is_single_session_dropout, expected, client_id, episode_id)."""
    base = alt.Chart(path).encode(x=alt.X("first_attended_date:T", title="First session of each closed episode"))
    line = base.mark_line(color="#4c78a8", interpolate="step-after").encode(
        y=alt.Y("cusum:Q", title="CUSUM (excess single-session dropout)"), order="episode_number:Q",
        tooltip=[alt.Tooltip("episode_number:Q", title="episode"), alt.Tooltip("cusum:Q", format=".2f", title="CUSUM")])
    episodes = base.mark_circle(size=28, color="#4c78a8").encode(
        y="cusum:Q",
        tooltip=[alt.Tooltip("episode_number:Q", title="episode"),
                 alt.Tooltip("first_attended_date:T", title="first session"),
                 alt.Tooltip("client_id:N", title="client"), alt.Tooltip("episode_id:N", title="episode id"),
                 alt.Tooltip("is_single_session_dropout:N", title="dropped out after one session"),
                 alt.Tooltip("expected:Q", format=PERCENT, title="expected chance of that"),
                 alt.Tooltip("cusum:Q", format=".2f", title="CUSUM")])
    threshold = alt.Chart(path.head(1)).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(
        y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", format=".2f", title="signal threshold")])
    crossings = path.filter(pl.col("crossed"))
    signals = alt.Chart(crossings).mark_point(shape="triangle-up", size=160, filled=True, color="#d62728").encode(
        x="first_attended_date:T", y="cusum:Q",
        tooltip=[alt.Tooltip("first_attended_date:T", title="signal on"),
                 alt.Tooltip("episode_number:Q", title="at episode"),
                 alt.Tooltip("cusum:Q", format=".2f", title="CUSUM")])
    labels = alt.Chart(crossings).mark_text(dy=-14, color="#a31515").encode(
        x="first_attended_date:T", y="cusum:Q", text=alt.Text("first_attended_date:T", format="%Y-%m-%d"),
        tooltip=[alt.Tooltip("first_attended_date:T", title="signal on")])
    return alt.layer(line, episodes, threshold, signals, labels).properties(height=300)


LIMIT_LEVELS = alt.Scale(domain=["95%", "99.8%"], range=["#f2a541", "#d62728"])
FLAG_SHAPES = alt.Scale(domain=["none", "alert", "alarm", "insufficient"],
                        range=["circle", "triangle-up", "diamond", "square"])


def adjusted_funnel_plot(units: pl.DataFrame, limits: pl.DataFrame) -> alt.LayerChart:
    """Ratio observed ÷ expected against expected, one point per therapist, with the line at 1 (as
    expected) and the 95% and 99.8% guide curves above and below it
    (docs/metrics/therapist-funnel.md#the-adjusted-funnel-plot).
    Inputs: funnel rows (therapist_id, numerator, denominator, expected, ratio, adjusted_z, adjusted_flag);
    guide curve rows (expected, lower998, lower95, upper95, upper998). Points are coloured and shaped by
    the adjusted flag, `insufficient` ones muted; the click selection is named therapist, as on the raw funnel."""
    drawn = units.filter(pl.col("ratio").is_not_null())
    # A ratio is never below 0, and curves far above the highest point only squash the plot: both are cut.
    ceiling = max(2.0, 1.1 * float(drawn["ratio"].max() or 0.0))
    curves = limits.unpivot(index=["expected"], on=["lower998", "lower95", "upper95", "upper998"],
                            variable_name="curve", value_name="value").with_columns(
        level=pl.when(pl.col("curve").str.ends_with("998")).then(pl.lit("99.8%")).otherwise(pl.lit("95%")))
    curve_layer = alt.Chart(curves).transform_filter(
        (alt.datum.value >= 0) & (alt.datum.value <= ceiling)
    ).mark_line(strokeDash=[4, 3]).encode(
        x=alt.X("expected:Q", title="Expected dropouts (E)"),
        y=alt.Y("value:Q", title="Observed ÷ expected (O/E)", scale=alt.Scale(domain=[0, ceiling])),
        color=alt.Color("level:N", title="Limits", scale=LIMIT_LEVELS),
        detail="curve:N",
        tooltip=[alt.Tooltip("expected:Q", format=".1f", title="expected"), alt.Tooltip("level:N", title="limit"),
                 alt.Tooltip("value:Q", format=".2f", title="O/E")],
    )
    # the line at 1 rides on the curves' first row, so an empty selection draws nothing at all
    as_expected = alt.Chart(limits.head(1).select(ratio=pl.col("expected") * 0 + 1.0)).mark_rule(color="#555").encode(
        y="ratio:Q", tooltip=[alt.Tooltip("ratio:Q", title="as expected")])
    selection = alt.selection_point(name="therapist", fields=["therapist_id"], on="click")
    points = alt.Chart(drawn).mark_point(size=90, filled=True).encode(
        x="expected:Q",
        y="ratio:Q",
        color=alt.Color("adjusted_flag:N", scale=FLAG_COLOURS, title="Adjusted flag"),
        # the shape repeats the colour for readers who cannot tell the colours apart; one legend shows both
        shape=alt.Shape("adjusted_flag:N", scale=FLAG_SHAPES, title="Adjusted flag"),
        opacity=alt.condition(alt.datum.adjusted_flag == "insufficient", alt.value(0.35), alt.value(0.9)),
        tooltip=[alt.Tooltip("therapist_id:N", title="therapist"),
                 alt.Tooltip("numerator:Q", title="observed (O)"),
                 alt.Tooltip("expected:Q", format=".1f", title="expected (E)"),
                 alt.Tooltip("ratio:Q", format=".2f", title="O/E"),
                 alt.Tooltip("adjusted_z:Q", format=".2f", title="adjusted z"),
                 alt.Tooltip("adjusted_flag:N", title="adjusted flag"),
                 alt.Tooltip("denominator:Q", title="closed episodes")],
    ).add_params(selection)
    # shape resolved with colour, so the points' colour and shape legends merge into one
    return alt.layer(curve_layer, as_expected, points).resolve_scale(
        color="independent", shape="independent").properties(height=380)


def case_mix_bars(case_mix: pl.DataFrame) -> alt.Chart:
    """Each case-mix stratum's share of a therapist's closed episodes beside its share of the service's,
    in the report's order. Input: stratum, closed, share, service_closed, service_share, p_s, expected."""
    bars = case_mix.unpivot(index=["stratum", "closed", "service_closed", "p_s", "expected"],
                            on=["share", "service_share"], variable_name="whose", value_name="value")
    whose = {"share": "this therapist", "service_share": "the service"}
    bars = bars.with_columns(pl.col("whose").replace_strict(whose))
    return alt.Chart(bars).mark_bar().encode(
        y=alt.Y("stratum:N", title="Case-mix stratum", sort=None, axis=alt.Axis(labelLimit=320)),
        yOffset=alt.YOffset("whose:N", sort=list(whose.values())),
        x=alt.X("value:Q", title="Share of closed episodes", axis=alt.Axis(format="%")),
        color=alt.Color("whose:N", title=None, scale=alt.Scale(domain=list(whose.values()),
                                                               range=["#d62728", "#4c78a8"])),
        tooltip=[alt.Tooltip("stratum:N"), alt.Tooltip("whose:N", title="share of"),
                 alt.Tooltip("value:Q", format=PERCENT, title="share"),
                 alt.Tooltip("closed:Q", title="therapist's closed episodes"),
                 alt.Tooltip("service_closed:Q", title="service's closed episodes"),
                 alt.Tooltip("p_s:Q", format=PERCENT, title="service dropout rate"),
                 alt.Tooltip("expected:Q", format=".2f", title="expected dropouts")],
    ).properties(height=alt.Step(12))


def survival_curves_by_end_reason(curve: pl.DataFrame) -> alt.Chart:
    """survival_curves with one curve per end group (planned, dropout, other) instead of per clinic."""
    return survival_curves(curve).encode(
        color=alt.Color("stratum:N", title="How it ended", sort=["planned", "dropout", "other"]),
        tooltip=[alt.Tooltip("stratum:N", title="how it ended"), alt.Tooltip("day:Q"),
                 alt.Tooltip("survival:Q", format=PERCENT, title="not yet ended"),
                 alt.Tooltip("events:Q", title="ended that day"), alt.Tooltip("at_risk:Q", title="at risk")],
    )


def standards_trend(by_month: pl.DataFrame, standards: dict[str, float]) -> alt.LayerChart:
    """The share of waits within each standard by month, one line per standard, with each standard's
    target as a dashed rule (docs/metrics/waits.md#standards). Input: month, standard, numerator
    (waits within it), denominator (waits), rate; `standards` maps a standard to its target share."""
    colours = alt.Scale(domain=list(standards), range=["#4c78a8", "#f58518"])
    lines = alt.Chart(by_month).mark_line(point=True).encode(
        x=alt.X("month:T", title="Month of the first session"),
        y=alt.Y("rate:Q", title="Share seen within the standard", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("standard:N", title="Standard", scale=colours),
        tooltip=_rate_tooltip(alt.Tooltip("month:T", title="month", format="%Y-%m"),
                              alt.Tooltip("standard:N", title="standard")),
    )
    # the targets are drawn with the data only: an empty selection draws nothing at all
    shown = standards if by_month.height else {}
    targets = pl.DataFrame({"standard": list(shown), "target": list(shown.values())},
                           schema={"standard": pl.String, "target": pl.Float64})
    rules = alt.Chart(targets).mark_rule(strokeDash=[4, 3]).encode(
        y="target:Q", color=alt.Color("standard:N", scale=colours),
        tooltip=[alt.Tooltip("standard:N"), alt.Tooltip("target:Q", format=".0%", title="target")])
    return alt.layer(lines, rules).properties(height=280)


def gap_histogram(gaps: pl.DataFrame, marks: tuple[int, ...]) -> alt.LayerChart:
    """Episodes by the days from session 1 to session 2, with a dashed rule at each of `marks` days
    (docs/metrics/waits.md#hidden-wait). Input: days, episodes."""
    bars = alt.Chart(gaps).mark_bar(color="#4c78a8").encode(
        x=alt.X("days:Q", title="Days from session 1 to session 2"),
        y=alt.Y("episodes:Q", title="episodes"),
        tooltip=[alt.Tooltip("days:Q", title="days"), alt.Tooltip("episodes:Q", title="episodes")],
    )
    shown = list(marks) if gaps.height else []  # an empty selection draws nothing at all
    rules = alt.Chart(pl.DataFrame({"days": shown}, schema={"days": pl.Int64})).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(
        x="days:Q", tooltip=[alt.Tooltip("days:Q", title="mark (days)")])
    return alt.layer(bars, rules).properties(height=260)


def rate_bars_with_counts(frame: pl.DataFrame, category: str, title: str) -> alt.LayerChart:
    """rate_bars, in the frame's order, with "numerator of denominator" written beside each bar.
    Input: category, numerator, denominator, rate (null for 0 of 0: no bar, the counts still shown)."""
    counted = frame.with_columns(
        counts=pl.format("{} of {}", pl.col("numerator"), pl.col("denominator")),
        at=pl.col("rate").fill_null(0.0))
    tooltip = _rate_tooltip(alt.Tooltip(f"{category}:N", title=title))
    # the frame's order, given outright: a band with no bar (0 of 0) would otherwise be drawn last
    order = counted[category].to_list()
    base = alt.Chart(counted).encode(y=alt.Y(f"{category}:N", title=title, sort=order), tooltip=tooltip)
    bars = base.mark_bar(color="#4c78a8").encode(x=alt.X("rate:Q", title="rate", axis=alt.Axis(format="%")))
    counts = base.mark_text(align="left", dx=4).encode(x="at:Q", text="counts:N")
    return alt.layer(bars, counts).properties(height=alt.Step(28))


# The service standard for paired recovery (NHS Talking Therapies): a target for a whole service, drawn on the
# recovery bar only, never a pass mark for one therapist (docs/metrics/nhs-paired.md).
RECOVERY_STANDARD = 0.5


def paired_rates(rates: pl.DataFrame) -> alt.LayerChart:
    """The national paired rates as bars, with the 50% recovery standard as a tick on the recovery bar.

    Input: measure, numerator, denominator, rate (frames.nhs_paired_rates)."""
    order = rates["measure"].to_list()
    y = alt.Y("measure:N", title=None, sort=order, axis=alt.Axis(labelLimit=200))
    bars = alt.Chart(rates).mark_bar().encode(
        x=alt.X("rate:Q", title="rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])), y=y,
        tooltip=_rate_tooltip(alt.Tooltip("measure:N")))
    # drawn with the recovery bar only: a selection with no recovery to show draws no standard either
    drawn = ["recovery"] if rates.filter(pl.col("measure") == "recovery").height else []
    standard = pl.DataFrame({"measure": drawn, "standard": [RECOVERY_STANDARD] * len(drawn)},
                            schema={"measure": pl.String, "standard": pl.Float64})
    tick = alt.Chart(standard).mark_tick(color="#d62728", thickness=3).encode(
        x="standard:Q", y=y, tooltip=[alt.Tooltip("standard:Q", format=PERCENT, title="service standard")])
    return alt.layer(bars, tick).properties(height=alt.Step(28))


# The expected lines of a not-on-track chart (docs/metrics/not-on-track.md#the-chart), from the best to the
# worst, then the episode: one colour scale for every layer, the episode's line the only solid, dark one.
EXPECTED_LINES = {"expected_median": "median", "expected_75th": "75th percentile", "expected_90th": "90th percentile"}
THIS_EPISODE = "this episode"
TRAJECTORY_COLOURS = alt.Scale(domain=[*EXPECTED_LINES.values(), THIS_EPISODE],
                               range=["#9ecae1", "#6baed6", "#d62728", "#1b1b1b"])


def not_on_track_trajectory(trajectory: pl.DataFrame, measure: str) -> alt.LayerChart:
    """One episode's change from its first score, by session number, against its intake band's expected
    change: the median and the 75th and 90th percentile lines of the service's closed episodes (dashed).

    Input: session_number, change (null where the episode has no score), expected_median, expected_75th,
    expected_90th (null where too few closed episodes have a score)."""
    x = alt.X("session_number:Q", title="Session number", axis=alt.Axis(tickMinStep=1))
    colour = alt.Color("line:N", title=None, scale=TRAJECTORY_COLOURS, legend=alt.Legend(orient="bottom", columns=2))
    lines = trajectory.rename(EXPECTED_LINES)
    expected = alt.Chart(lines).transform_fold(list(EXPECTED_LINES.values()), as_=["line", "expected"]).transform_filter(
        "isValid(datum.expected)").mark_line(strokeDash=[6, 4]).encode(
        x=x, y=alt.Y("expected:Q", title=f"{measure} change (up = better)"),
        color=colour, tooltip=[alt.Tooltip("line:N", title="expected"), alt.Tooltip("session_number:Q", title="session"),
                               alt.Tooltip("expected:Q", format=".1f", title="change")])
    episode = alt.Chart(lines).transform_filter("isValid(datum.change)").transform_calculate(
        line=f"'{THIS_EPISODE}'").encode(x=x, y="change:Q", color=colour)
    points = episode.mark_point(filled=True, size=60).encode(
        tooltip=[alt.Tooltip("session_number:Q", title="session"), alt.Tooltip("change:Q", format=".1f", title="change")])
    return alt.layer(expected, episode.mark_line(), points).properties(height=380)
