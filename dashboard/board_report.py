"""The board report: the warning signs for one selection of episodes, as one self-contained HTML
file (or a PDF printed from it by the system's Chromium).

`board_report_html(reader, scope, shareable=...)` serves both the `report` command and the
dashboard's download. It reads the reports the pages read, through the reader it is given (so a
reader restricted to some clinics gives a report of those clinics only), and draws the pages'
own charts (dashboard/charts.py) as inline SVG with vl-convert: the file holds no script, no
link and no reference to anything outside it, so it opens offline and can be mailed as it is.

Internal or shareable. The shareable version applies disclosure control (docs/security.md#disclosure-control,
pipelines/disclosure.py) to every number it shows, in tables, in its sentences and behind charts:
counts of 1–7 show as `*`, other counts round to the nearest 5, a total and all but one of its parts
are never all shown, and every rate is worked out from the rounded counts (`*` when either is); a
figure and the breakdown of it (the overall dropout and its first session types, or its next-booking
bands; the episodes and their open and closed parts) are disclosed together, as one table with its total row, and a figure
quoted in several places (the closed episodes, the quarantined rows) is `*` in all if in any. A chart
leaves out the points whose rate (or mean) is withheld, and its marks carry no descriptions that
would repeat the numbers; the discharge curve, whose every step gives a day's exact discharges
away, is internal only. Neither version lists clients.
"""

from __future__ import annotations

import datetime as dt
import html
import shutil
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import polars as pl
import vl_convert

from dashboard import charts, frames
from dashboard.shareable_tables import DROPOUT, NHS_PAIRED, OUTCOMES, THERAPIST_FLAGS
from pipelines import __version__
from pipelines.disclosure import (
    MIN_RATE_DENOMINATOR,
    ROUND_TO,
    RULE,
    SUPPRESSED,
    Cell,
    Shareable,
    shareable,
)
from pipelines.errors import AccessDenied, LoadError
from pipelines.followup import FollowupLog, outcome_counts
from pipelines.queries import MetricsReader, Scope
from pipelines.report import median_days, therapists_section, waits_section

TITLE = "Clinic outcomes: board report"
# section id -> heading, in report order
SECTIONS = {
    "overview": "Overview",
    "first_session": "1. The first session is wasted",
    "no_hope": "2. No hope is given",
    "fossilizes": "3. Therapy fossilizes",
    "real_life": "4. Therapy replaces real life",
    "safety": "Safety: risk follow-up gaps",
    "followup": "Safety: follow-up recorded",
    "therapists": "Therapists: single-session dropout funnel",
    "data_quality": "Data quality",
}
SHAREABLE_RULE = (f"{RULE}; mean scores resting on fewer than {MIN_RATE_DENOMINATOR} episodes are withheld, and "
                  "charts leave withheld points out")
TOTAL = "all"  # how a total row's key is written where it is shown: a label only, the row is known by TOTAL_ROW
TOTAL_ROW = "is_total"  # the boolean column marking the total row of a table disclosed with its parts
NO_EPISODES = "No episodes match this selection."
CURVE_INTERNAL_ONLY = ("The curve is drawn in the internal version only: each step of it is one day's discharges as a "
                       "share of the episodes still in care, exactly, which would give small numbers back.")
CHART_WIDTH = 640  # pixels, for the charts that take the page's width on the dashboard


# --- numbers as shown -----------------------------------------------------------------------------


def _count_text(value: object) -> str:
    """A count cell: an exact or rounded count with thousands separators, `*`, or `–` for none."""
    if value is None:
        return "–"
    if value == SUPPRESSED:
        return SUPPRESSED
    return f"{int(value):,}"


def _rate_text(value: object) -> str:
    """A rate cell: a percentage, `*` when withheld, `–` when there is no denominator."""
    if value is None:
        return "–"
    if value == SUPPRESSED:
        return SUPPRESSED
    return f"{float(value):.1%}"


def shown(frame: pl.DataFrame, spec: Shareable, is_shareable: bool,
          hidden: Collection[Cell] = ()) -> list[dict[str, str]]:
    """The rows of a table of counts as text: exact, or with disclosure control applied by the
    one rule in pipelines/disclosure.py (`hidden` cells `*` too: a figure hidden where another table
    shows it). Only the spec's keys, counts and rates are kept."""
    table = shareable(frame, spec, hidden) if is_shareable else frame.select(*spec.keys, *spec.counts, *spec.rates)
    marker = spec.total_row[1] if spec.total_row else None

    def key_text(row: dict[str, Any], key: str) -> str | bool:
        if key == marker:
            return row[key] is True
        if row[key] is None:
            return TOTAL if marker and row[marker] is True else "not recorded"
        return str(row[key])

    return [
        {**{k: key_text(row, k) for k in spec.keys},
         **{c: _count_text(row[c]) for c in spec.counts},
         **{r: _rate_text(row[r]) for r in spec.rates}}
        for row in table.iter_rows(named=True)
    ]


RATE = Shareable(keys=(), counts=("numerator", "denominator"), rates={"rate": ("numerator", "denominator")})
COUNT = Shareable(keys=(), counts=("n",))


def count_html(n: int, is_shareable: bool, metric: str | None = None) -> str:
    """One count, as a <span class="count"> (with data-metric naming it in the metrics report)."""
    [row] = shown(pl.DataFrame({"n": [int(n)]}, schema={"n": pl.Int64}), COUNT, is_shareable)
    return _span("count", row["n"], metric)


def rate_html(numerator: int, denominator: int, is_shareable: bool, metric: str | None = None,
              hidden: Collection[Cell] = ()) -> str:
    """A rate with its numerator and denominator: `25.0% (5 of 20)`, each part disclosed (and the
    `hidden` ones, (0, "numerator") or (0, "denominator"), `*`)."""
    frame = frames.with_rate(pl.DataFrame({"n": [int(numerator)], "d": [int(denominator)]},
                                          schema={"n": pl.Int64, "d": pl.Int64}), "n", "d")
    [row] = shown(frame, RATE, is_shareable, hidden)
    return figure_html(row, metric=metric)


def figure_html(row: dict[str, str], rate: str = "rate", numerator: str = "numerator",
                denominator: str = "denominator", metric: str | None = None) -> str:
    """A rate with its counts from a row of `shown`: `25.0% (5 of 20)`."""
    inner = f'{_span("rate", row[rate])} ({_span("count", row[numerator])} of {_span("count", row[denominator])})'
    return f'<span class="figure"{_metric_attr(metric)}>{inner}</span>'


def _metric_attr(metric: str | None) -> str:
    return f' data-metric="{html.escape(metric)}"' if metric else ""


def _span(kind: str, text: str, metric: str | None = None) -> str:
    return f'<span class="{kind}"{_metric_attr(metric)}>{html.escape(text)}</span>'


@dataclass(frozen=True)
class Column:
    """A table column: the frame's column, its heading, and its kind (key, count or rate)."""

    name: str
    heading: str
    kind: str = "key"


def table_spec(columns: Sequence[Column], rates: dict[str, tuple[str, str]] | None = None,
               totals: dict[str, tuple[str, ...]] | None = None, total_row: str | None = None) -> Shareable:
    """The disclosure spec of a table: its key, count and rate columns (rate -> (numerator,
    denominator) in `rates`), which counts add up, and the key column whose total row (with_total_row)
    sums the others."""
    return Shareable(keys=(*(c.name for c in columns if c.kind == "key"), *((TOTAL_ROW,) if total_row else ())),
                     counts=tuple(c.name for c in columns if c.kind == "count"),
                     rates={c.name: (rates or {})[c.name] for c in columns if c.kind == "rate"},
                     totals=totals or {}, total_row=(total_row, TOTAL_ROW) if total_row else None)


def is_total(row: dict[str, Any], spec: Shareable) -> bool:
    return spec.total_row is not None and row[spec.total_row[1]] is True


def with_total_row(frame: pl.DataFrame, total: dict[str, object]) -> pl.DataFrame:
    """The frame with a total row on top (marked true in TOTAL_ROW, false on every other row, its
    counts from `total`), so that a figure and its breakdown are disclosed together; other columns
    of the total row, its key among them, are empty. No value of the key can pass for the total."""
    row = pl.DataFrame([{TOTAL_ROW: True, **total}]).cast({c: frame.schema[c] for c in total if c in frame.schema},
                                                          strict=False)
    return pl.concat([row, frame.with_columns(pl.lit(False).alias(TOTAL_ROW))], how="diagonal_relaxed")


def table_html(frame: pl.DataFrame, columns: Sequence[Column], is_shareable: bool,
               metric: Callable[[dict[str, str]], str] | None = None, rates: dict[str, tuple[str, str]] | None = None,
               spec: Shareable | None = None, keep: Callable[[dict[str, str]], bool] | None = None,
               hidden: Collection[Cell] = ()) -> str:
    """A table of keys, counts and rates, disclosure-controlled in the shareable version by `spec`
    (by default table_spec of the columns and `rates`). All the spec's rows are disclosed together;
    those `keep` picks are listed (by default all but a total row). `metric` names a row for data-metric."""
    spec = spec or table_spec(columns, rates)
    listed = [row for row in shown(frame, spec, is_shareable, hidden)
              if (keep(row) if keep else not is_total(row, spec))]
    head = "".join(f'<th class="{c.kind}">{html.escape(c.heading)}</th>' for c in columns)
    body = "".join(
        f"<tr{_metric_attr(metric(row) if metric else None)}>"
        + "".join(f'<td class="{c.kind}">{html.escape(row[c.name])}</td>' for c in columns) + "</tr>"
        for row in listed
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def total_shown(frame: pl.DataFrame, spec: Shareable, is_shareable: bool,
                hidden: Collection[Cell] = ()) -> dict[str, str]:
    """The total row of a table as disclosed together with its parts."""
    return next(row for row in shown(frame, spec, is_shareable, hidden) if is_total(row, spec))


def hidden_anywhere(showings: Sequence[tuple[pl.DataFrame, Shareable, Cell]]) -> bool:
    """Whether a figure that several tables of the report show (each at its cell) is `*` in any of
    them. It is then given to each as `hidden`: one figure is disclosed once, `*` wherever it
    appears, or a table that hid it beside its parts would be undone by another that shows it."""
    return any(shareable(frame, spec)[column][row] == SUPPRESSED
               for frame, spec, (row, column) in showings)


# --- charts ---------------------------------------------------------------------------------------


def _vega_lite_version() -> str:
    """The Vega-Lite version Altair writes its specs for (v6.4.1 -> 6.4), which vl-convert bundles."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def namespaced(svg: str, prefix: str) -> str:
    """The SVG with its element ids (clip paths, gradients) prefixed: several SVGs inline in one
    page share one id space, and a second chart's `url(#clip1)` would find the first's."""
    return (svg.replace(' id="', f' id="{prefix}-').replace('url(#', f'url(#{prefix}-')
            .replace('href="#', f'href="#{prefix}-'))


def svg_figure(name: str, chart: alt.TopLevelMixin, is_shareable: bool, caption: str = "") -> str:
    """A chart as inline SVG in a <figure class="chart" data-chart=name>. Data is inline and
    external fetches are refused. In the shareable version the marks get no ARIA descriptions,
    which would spell out each point's counts; the tables beside the charts give the numbers."""
    # Altair refuses to inline more than 5,000 rows; at national scale a limit curve or a survival
    # curve has more, and an SVG draws them as one path each, so the report lifts the cap.
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    try:
        svg = vl_convert.vegalite_to_svg(spec, vl_version=_vega_lite_version(), allowed_base_urls=[],
                                         config={"aria": False} if is_shareable else None)
    except ValueError as exc:
        raise LoadError(f"the {name.replace('_', ' ')} chart could not be drawn: {' '.join(str(exc).split())}") from None
    note = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{html.escape(name)}">{namespaced(svg, name)}{note}</figure>'


def wide(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A chart that stretches to the page on the dashboard, at the report's fixed width."""
    return chart.properties(width=CHART_WIDTH)


def disclosed_numbers(frame: pl.DataFrame, spec: Shareable, hidden: Collection[Cell] = ()) -> pl.DataFrame:
    """The frame with the spec's counts and rates as a chart draws them under disclosure control:
    counts rounded, rates worked out from the rounded counts, labels worked out from counts (flags) as
    shown, and null where the rule shows `*` (a chart cannot plot a star). Other columns are kept as
    they are."""
    out = shareable(frame, spec, hidden)
    return frame.with_columns(
        *(out[c].replace(SUPPRESSED, None).cast(pl.Int64) for c in spec.counts),
        *(out[d].replace(SUPPRESSED, None) for d in spec.derived_labels),
        *(out[r].replace(SUPPRESSED, None).cast(pl.Float64) for r in spec.rates if r not in spec.counts))


def resting_on_enough(frame: pl.DataFrame, denominator: str) -> pl.DataFrame:
    """The rows whose rate (or mean) rests on enough episodes to be shown in a shareable report."""
    return frame.filter(pl.col(denominator) >= MIN_RATE_DENOMINATOR)


def chart_data(frame: pl.DataFrame, is_shareable: bool, spec: Shareable, withheld: Sequence[str] = (),
               rated_only: bool = True, hidden: Collection[Cell] = ()) -> pl.DataFrame:
    """What a chart may draw: everything internally; in the shareable version the spec's counts and
    rates as disclosed (disclosed_numbers), only rows whose denominator is shown (so 8 or more),
    only rows whose rate is shown unless not `rated_only` (a mean score drawn beside the rate), and
    `withheld` columns (control limits, which would give a caseload away) emptied.
    Decimals become floats: the spec goes to vl-convert as JSON."""
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    if not is_shareable:
        return frame
    kept = disclosed_numbers(frame, spec, hidden)
    for rate, (_, denominator) in spec.rates.items():
        kept = kept.filter(pl.col(denominator) > 0)
        if rated_only:
            kept = kept.filter(pl.col(rate).is_not_null())
    return kept.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in withheld)


def empty(text: str) -> str:
    return f'<p class="empty">{html.escape(text)}</p>'


def withheld_all(is_shareable: bool, what: str) -> str:
    """The empty state of a chart whose every point the shareable version withholds."""
    return empty(f"Every {what} rests on fewer than {MIN_RATE_DENOMINATOR} episodes, so none is drawn in "
                 "the shareable version." if is_shareable else f"No {what} to draw.")


# --- the sections ---------------------------------------------------------------------------------


EPISODE_COUNTS = ("total", "open", "closed", "not_started")  # the episode_counts report: the total, then its parts
EPISODE_DISCLOSURE = Shareable(keys=(), counts=EPISODE_COUNTS, totals={"total": EPISODE_COUNTS[1:]})
TYPE_COLUMNS = [Column("first_session_type", "first session type"), Column("rate", "dropout", "rate"),
                Column("numerator", "dropouts", "count"), Column("denominator", "closed episodes", "count")]
TYPE_DISCLOSURE = table_spec(TYPE_COLUMNS, DROPOUT, total_row="first_session_type")
CLINIC_COLUMNS = [Column("clinic", "clinic"), Column("rate", "dropout", "rate"),
                  Column("numerator", "dropouts", "count"), Column("denominator", "closed episodes", "count")]
CLINIC_DISCLOSURE = table_spec(CLINIC_COLUMNS, DROPOUT, total_row="clinic")
# the closed episodes, where each table that quotes them holds them (a total row is the first row)
CLOSED_IN_EPISODES: Cell = (0, "closed")
CLOSED_IN_TOTAL_ROW: Cell = (0, "denominator")


def episode_table(counts: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame([counts]).select(EPISODE_COUNTS)


def overall_dropout(single: pl.DataFrame) -> dict[str, int]:
    """The single-session report's overall row as the total of a breakdown: dropouts of closed episodes."""
    overall = single.filter(pl.col("breakdown") == "overall").row(0, named=True)
    return {"numerator": overall["dropout"], "denominator": overall["closed"], "open": overall["open"]}


def dropout_by_type(single: pl.DataFrame) -> pl.DataFrame:
    """The single-session dropout by first session type, under its total row (the overall dropout)."""
    types = frames.single_session_breakdown(single, "first_session_type", "first_session_type").with_columns(
        pl.col("first_session_type").fill_null("not recorded"))
    return with_total_row(types, overall_dropout(single)).pipe(frames.with_rate, "numerator", "denominator")


def dropout_by_clinic(single: pl.DataFrame) -> pl.DataFrame:
    """The single-session dropout by clinic of session 1, under its total row (the overall dropout): the
    board's first question, where is dropout highest."""
    clinics = frames.single_session_breakdown(single, "clinic", "clinic")
    return with_total_row(clinics, overall_dropout(single)).pipe(frames.with_rate, "numerator", "denominator")


BAND_COLUMNS = [Column("band", "next booking after session 1"), Column("rate", "dropout", "rate"),
                Column("numerator", "dropouts", "count"), Column("denominator", "closed episodes", "count")]
BAND_DISCLOSURE = table_spec(BAND_COLUMNS, DROPOUT, total_row="band")


def dropout_by_band(bands: pl.DataFrame, single: pl.DataFrame) -> pl.DataFrame:
    """Single-session dropout by the band of the next booking after session 1 (the
    dropout_by_next_booking report), under its total row: the overall dropout, as over the first session types."""
    overall = overall_dropout(single)
    return with_total_row(bands, {"numerator": overall["numerator"], "denominator": overall["denominator"]}).pipe(
        frames.with_rate, "numerator", "denominator")


def closed_hidden_anywhere(counts: dict[str, int], single: pl.DataFrame, bands: pl.DataFrame) -> bool:
    """Whether the closed episodes are `*` in the overview (beside the other episode counts), under
    the first session types (beside the dropouts by type) or under the next-booking bands: then they
    are `*` in every sentence and table that quotes them."""
    return hidden_anywhere([(episode_table(counts), EPISODE_DISCLOSURE, CLOSED_IN_EPISODES),
                            (dropout_by_type(single), TYPE_DISCLOSURE, CLOSED_IN_TOTAL_ROW),
                            (dropout_by_clinic(single), CLINIC_DISCLOSURE, CLOSED_IN_TOTAL_ROW),
                            (dropout_by_band(bands, single), BAND_DISCLOSURE, CLOSED_IN_TOTAL_ROW)])


@dataclass(frozen=True)
class Context:
    """What every section needs: where to read, what to select, and how numbers are shown."""

    reader: MetricsReader
    scope: Scope
    is_shareable: bool
    settings: dict[str, Any]
    counts: dict[str, int]  # the episode_counts report of the scope: total, not_started, open, closed
    closed_hidden: bool = False  # closed episodes are `*` somewhere in the shareable report, so everywhere
    followup_log: FollowupLog | None = None  # the Safety page's log (docs/security.md#the-follow-up-log), if any

    @property
    def has_episodes(self) -> bool:
        return self.counts["open"] + self.counts["closed"] > 0

    def run(self, report: str, scope: Scope | None = None, **extra: object) -> pl.DataFrame:
        return self.reader.run(report, self.scope if scope is None else scope, **extra)

    def count(self, n: int, metric: str | None = None) -> str:
        return count_html(n, self.is_shareable, metric)

    @property
    def episodes(self) -> dict[str, str]:
        """The selection's episode counts as shown: the total and its parts (open, closed, not
        started), disclosed together, for every sentence that quotes them."""
        [row] = shown(episode_table(self.counts), EPISODE_DISCLOSURE, self.is_shareable,
                      self.closed_in(CLOSED_IN_EPISODES))
        return row

    def closed_in(self, cell: Cell) -> tuple[Cell, ...]:
        """The `hidden` cells of a table whose `cell` holds the closed episodes."""
        return (cell,) if self.closed_hidden else ()

    def episodes_html(self, part: str, metric: str) -> str:
        return _span("count", self.episodes[part], metric)

    def rate(self, numerator: int, denominator: int, metric: str | None = None,
             hidden: Collection[Cell] = ()) -> str:
        return rate_html(numerator, denominator, self.is_shareable, metric, hidden)

    def median(self, curve: pl.DataFrame, metric: str | None = None) -> str:
        """Median days to discharge (from a kaplan_meier curve); the shareable version withholds
        it when it is reached with fewer than 8 episodes still at risk."""
        days = median_days(curve)
        if days is None:
            return _span("days", "not reached", metric)
        if self.is_shareable and resting_on_enough(curve, "at_risk").filter(pl.col("day") == days).is_empty():
            return _span("days", SUPPRESSED, metric)
        return _span("days", f"{days:,}", metric)


def overview_section(ctx: Context) -> str:
    parts = [
        f"<p>Episodes in this selection: {ctx.episodes_html('total', 'episodes.total')} "
        f"({ctx.episodes_html('open', 'episodes.open')} open, {ctx.episodes_html('closed', 'episodes.closed')} "
        f"closed, {ctx.episodes_html('not_started', 'episodes.not_started')} not started).</p>"]
    if not ctx.has_episodes:
        return "".join(parts) + empty(NO_EPISODES)
    current, previous = frames.headline_periods(ctx.scope, ctx.settings["extract_date"])
    rows = {row["period"]: row for row in ctx.run("overview_headline", current, previous_from=previous.from_date,
                                                   previous_to=previous.to_date).iter_rows(named=True)}
    periods = {"current": current, "previous": previous}

    def cells(name: str) -> dict[str, str]:
        row = rows[name]
        no_phq9 = _span("rate", "no PHQ-9")
        return {
            "Single-session dropout": ctx.rate(row["dropout"], row["closed"], f"overview.{name}.dropout"),
            "Reliable improvement (PHQ-9)": ctx.rate(row["reliable_improvement"], row["paired"])
            if row["has_phq9"] else no_phq9,
            "Recovery (PHQ-9)": ctx.rate(row["recovery"], row["paired_in_clinical_range"])
            if row["has_phq9"] else no_phq9,
            "Median days to discharge": ctx.median(ctx.run("kaplan_meier", periods[name], by_clinic=False)),
            "Open plateaued episodes": ctx.count(row["plateaued_open"]),
            "Unresolved risk follow-up gaps": ctx.count(row["unresolved_gaps"]),
        }

    now, before = cells("current"), cells("previous")
    heading = (f"<tr><th>Episodes starting</th><th>{current.from_date:%d %b %Y} – {current.to_date:%d %b %Y}</th>"
               f"<th>{previous.from_date:%d %b %Y} – {previous.to_date:%d %b %Y}</th></tr>")
    body = "".join(f"<tr><th>{html.escape(label)}</th><td>{now[label]}</td><td>{before[label]}</td></tr>"
                   for label in now)
    parts.append(f'<table class="headline"><thead>{heading}</thead><tbody>{body}</tbody></table>')
    return "".join(parts)


def first_session_section(ctx: Context) -> str:
    single = ctx.run("single_session")
    overall = single.filter(pl.col("breakdown") == "overall").row(0, named=True)
    # the overall dropout is the total of the first session types (and of the months): disclosed with them,
    # and its closed episodes as everywhere else in the report
    types, hidden = dropout_by_type(single), ctx.closed_in(CLOSED_IN_TOTAL_ROW)
    dropout = figure_html(total_shown(types, TYPE_DISCLOSURE, ctx.is_shareable, hidden),
                          metric="single_session.dropout")
    ended_after_one = ctx.rate(overall["ended_after_one"], overall["closed"], "single_session.ended_after_one",
                               ctx.closed_in((0, "denominator")))
    parts = [
        "<p>Closed episodes that ended after one attended session without a planned ending or an onward "
        "referral, as a share of all closed episodes.</p>",
        f"<p>Single-session dropout: {dropout}."
        f" Ended after one session, any reason: "
        f"{ended_after_one}.</p>",
    ]
    if not overall["closed"]:
        return "".join(parts) + empty("No closed episodes in this selection, so there is no dropout to show.")
    months = with_total_row(frames.dropout_by_month(single), overall_dropout(single)).pipe(
        frames.with_rate, "numerator", "denominator")
    months = chart_data(months, ctx.is_shareable, Shareable(
        keys=("month", TOTAL_ROW), counts=("numerator", "denominator", "open"), rates=DROPOUT,
        total_row=("month", TOTAL_ROW)),
        hidden=hidden)
    months = months.filter(~pl.col(TOTAL_ROW))
    parts.append("<h3>By cohort month</h3>")
    parts.append(svg_figure("dropout_by_month", wide(charts.dropout_trend(months)), ctx.is_shareable,
                            "Hollow points are months still incomplete: at least 10% of their episodes are open, so "
                            "their rate will move as those episodes end.") if months.filter(
        pl.col("rate").is_not_null()).height else withheld_all(ctx.is_shareable, "cohort month"))
    drawn = chart_data(types, ctx.is_shareable, TYPE_DISCLOSURE, hidden=hidden).filter(
        ~pl.col(TOTAL_ROW))
    parts.append("<h3>By first session type</h3>")
    parts.append(svg_figure("dropout_by_first_session_type", charts.rate_bars(drawn, "first_session_type",
                                                                              "First session"), ctx.is_shareable)
                 if drawn.height else withheld_all(ctx.is_shareable, "first session type"))
    parts.append(table_html(types, TYPE_COLUMNS, ctx.is_shareable, spec=TYPE_DISCLOSURE, hidden=hidden))
    parts.append("<h3>By clinic</h3>")
    parts.append(table_html(dropout_by_clinic(single), CLINIC_COLUMNS, ctx.is_shareable, spec=CLINIC_DISCLOSURE,
                            hidden=hidden, metric=lambda row: f"single_session.by_clinic.{row['clinic']}"))
    return "".join(parts) + waits_html(ctx, single)


STANDARDS = {"within_6_weeks": ("within 6 weeks (42 days)", "75%"),
             "within_18_weeks": ("within 18 weeks (126 days)", "95%")}
GAPS = {"over_28_days": "more than 28 days", "over_90_days": "more than 90 days"}


def median_wait(ctx: Context, days: int | float | None, episodes: int, metric: str) -> str:
    """A median wait in days; the shareable version withholds it over fewer than 8 episodes."""
    if days is None:
        return _span("days", "–", metric)
    if ctx.is_shareable and episodes < MIN_RATE_DENOMINATOR:
        return _span("days", SUPPRESSED, metric)
    return _span("days", f"{days:,}", metric)


def waits_html(ctx: Context, single: pl.DataFrame) -> str:
    """The waits (docs/metrics/waits.md): referral to session 1 against the 6- and 18-week standards, the hidden
    wait from session 1 to session 2, and single-session dropout by the band of the next booking."""
    waits = waits_section(ctx.reader, ctx.scope)
    first, second = waits["referral_to_first"], waits["first_to_second"]
    parts = ["<h3>Waits: referral to session 1</h3>"]
    if not first["episodes"]:
        parts.append(empty("No referral dates in this selection, so there is no wait to session 1 to show."))
    else:
        standards = pl.DataFrame([{"standard": label, "national": target, "numerator": first[name]["numerator"],
                                   "denominator": first[name]["denominator"]}
                                  for name, (label, target) in STANDARDS.items()]).pipe(
            frames.with_rate, "numerator", "denominator")
        parts.append(f"<p>Median wait from referral to session 1: "
                     f"{median_wait(ctx, first['median_days'], first['episodes'], 'waits.referral_to_first.median')}"
                     " days. The national standards: 75% seen within 6 weeks, 95% within 18 weeks.</p>")
        parts.append(table_html(standards, [
            Column("standard", "seen"), Column("national", "national standard"), Column("rate", "rate", "rate"),
            Column("numerator", "episodes", "count"), Column("denominator", "of", "count")], ctx.is_shareable,
            metric=lambda row: "waits.referral_to_first." + next(
                name for name, (label, _) in STANDARDS.items() if label == row["standard"]),
            rates={"rate": ("numerator", "denominator")}))
    parts.append("<h3>The hidden wait: session 1 to session 2</h3>")
    if not second["episodes"]:
        parts.append(empty("No episode in this selection has a second attended session."))
    else:
        gaps = pl.DataFrame([{"gap": label, "numerator": second[name]["numerator"],
                              "denominator": second[name]["denominator"]} for name, label in GAPS.items()]).pipe(
            frames.with_rate, "numerator", "denominator")
        parts.append(f"<p>Median days from session 1 to session 2: "
                     f"{median_wait(ctx, second['median_days'], second['episodes'], 'waits.first_to_second.median')}"
                     ". A client whose second session is weeks away has little reason to come back.</p>")
        parts.append(table_html(gaps, [
            Column("gap", "session 2"), Column("rate", "rate", "rate"), Column("numerator", "episodes", "count"),
            Column("denominator", "of", "count")], ctx.is_shareable,
            metric=lambda row: "waits.first_to_second." + next(n for n, label in GAPS.items() if label == row["gap"]),
            rates={"rate": ("numerator", "denominator")}))
    parts.append("<h3>Single-session dropout by the next booking after session 1</h3>")
    bands = dropout_by_band(pl.DataFrame(waits["dropout_by_next_booking"]).select(
        "band", pl.col("numerator", "denominator").cast(pl.Int64)), single)
    hidden = ctx.closed_in(CLOSED_IN_TOTAL_ROW)  # the overall dropout's closed episodes, `*` if anywhere
    if not bands.filter(~pl.col(TOTAL_ROW))["denominator"].sum():
        parts.append(empty("No closed episodes in this selection, so there is no dropout by next booking to show."))
        return "".join(parts)
    drawn = chart_data(bands, ctx.is_shareable, BAND_DISCLOSURE, hidden=hidden).filter(~pl.col(TOTAL_ROW))
    parts.append(svg_figure("dropout_by_next_booking", charts.rate_bars(drawn, "band", "Next booking (days)"),
                            ctx.is_shareable, "Days from session 1 to the next appointment booked, of any status.")
                 if drawn.height else withheld_all(ctx.is_shareable, "next-booking band"))
    parts.append(table_html(bands, BAND_COLUMNS, ctx.is_shareable, spec=BAND_DISCLOSURE, hidden=hidden,
                            metric=lambda row: f"waits.dropout_by_next_booking.{row['band'].replace(' ', '_')}"))
    return "".join(parts)


def no_hope_section(ctx: Context) -> str:
    parts = ["<p>Closed episodes with two or more scores on a measure, first against last score. Recovery "
             "counts those that started in the clinical range.</p>"]
    outcomes = ctx.run("outcomes")
    if outcomes.is_empty():
        parts.append(empty("No outcome scores were recorded at attended sessions in this selection."))
    else:
        long = frames.outcome_rates(outcomes).sort("measure", maintain_order=True)
        # 'all clinics' is the total of the clinics' rows: the table lists it, the chart draws both
        spec = OUTCOMES
        parts.append(table_html(
            long, [Column("measure", "measure"), Column("outcome", "outcome"), Column("rate", "rate", "rate"),
                   Column("numerator", "episodes", "count"), Column("denominator", "of", "count")],
            ctx.is_shareable, metric=lambda row: f"outcomes.{row['measure']}.{row['outcome'].replace(' ', '_')}",
            spec=spec, keep=lambda row: is_total(row, spec)))
        drawn = chart_data(long, ctx.is_shareable, spec).filter(pl.col("denominator") > 0)
        parts.append(svg_figure("outcomes", charts.outcome_bars(frames.outcome_bars_data(drawn)), ctx.is_shareable,
                                "By measure and clinic; 'all clinics' is the whole selection.")
                     if drawn.height else withheld_all(ctx.is_shareable, "outcome rate"))
    parts.append(nhs_paired_html(ctx))
    parts.append("<h3>First-session alliance (SRS)</h3>")
    alliance = ctx.run("first_session_alliance").with_columns(pl.col("srs").cast(pl.Int64))
    if alliance.is_empty():
        parts.append(empty("No Session Rating Scale scores were recorded at first sessions in this selection."))
        return "".join(parts)
    # the histogram's bars add up to the episodes rated: disclosed together
    alliance = with_total_row(alliance, {"episodes": alliance["episodes"].sum()})
    spec = Shareable(keys=("srs", TOTAL_ROW), counts=("episodes",), total_row=("srs", TOTAL_ROW))
    rated = _span("count", total_shown(alliance, spec, ctx.is_shareable)["episodes"], "first_session_alliance.episodes")
    parts.append(f"<p>{rated} episodes rated their first session (0–40; under 36 suggests a strained alliance).</p>")
    drawn = (chart_data(alliance, ctx.is_shareable, spec).filter(~pl.col(TOTAL_ROW)).drop_nulls("episodes")
             .with_columns(pl.col("srs").cast(pl.Int64)))
    parts.append(svg_figure("first_session_alliance", charts.count_histogram(
        drawn, "srs", "SRS at session 1"), ctx.is_shareable) if drawn.height
        else withheld_all(ctx.is_shareable, "SRS score's count"))
    return "".join(parts)


def nhs_paired_html(ctx: Context) -> str:
    """The national paired measures (docs/metrics/nhs-paired.md), each rate with its counts and the 50% recovery
    standard; the reason they differ from the per-measure rates in words, the figures given once, in the tables."""
    parts = ["<h3>National paired measures</h3>",
             "<p>Closed episodes that finished a course of treatment (two or more attended treatment sessions), "
             "scored on PHQ-9 and GAD-7 both. Recovery needs both last scores out of the clinical "
             "range, so it is stricter than PHQ-9 recovery above; it is the figure a service is judged by, against "
             "a 50% standard for the whole service (never a pass mark for one therapist).</p>"]
    if not ctx.run("score_coverage").filter(pl.col("measure") == "gad7")["scored"].sum():
        return "".join(parts) + empty("No GAD-7 scores in this selection, so there are no paired measures.")
    paired = ctx.run("nhs_paired")
    if not paired["finished_treatment"][0]:
        return "".join(parts) + empty("No closed episode in this selection finished a course of treatment.")
    rates = frames.nhs_paired_rates(paired)
    parts.append(table_html(rates, [Column("measure", "measure"), Column("rate", "rate", "rate"),
                                    Column("numerator", "episodes", "count"), Column("denominator", "of", "count")],
                            ctx.is_shareable, metric=lambda row: f"nhs_paired.{row['measure'].replace(' ', '_')}",
                            spec=NHS_PAIRED))
    drawn = chart_data(rates, ctx.is_shareable, NHS_PAIRED).filter(pl.col("denominator") > 0)
    parts.append(svg_figure("nhs_paired", charts.paired_rates(drawn), ctx.is_shareable,
                            "The tick on the recovery bar is the 50% service standard.")
                 if drawn.height else withheld_all(ctx.is_shareable, "paired rate"))
    return "".join(parts)


def fossilizes_section(ctx: Context) -> str:
    measure, window = ctx.settings["plateau_measure"], ctx.settings["plateau_window"]
    summary = ctx.run("plateau_summary").row(0, named=True)
    parts = [
        f"<p>A plateau is {window} consecutive {html.escape(measure)} scores, all in the clinical range, that move "
        "less than a reliable change.</p>",
        f"<p>Episodes plateaued: {ctx.rate(summary['plateaued'], summary['assessed'], 'plateaus.plateaued')} of the "
        f"{ctx.count(summary['assessed'], 'plateaus.assessed')} episodes with at least {window} scores; "
        f"{ctx.count(summary['plateaued_open'], 'plateaus.plateaued_open')} still open. Sessions delivered after "
        f"a plateau: {ctx.count(summary['sessions_after_plateau'], 'plateaus.sessions_after_plateau')}.</p>",
        "<h3>Dose–response</h3>",
    ]
    curve = frames.dose_response_curve(ctx.run("dose_response"))
    if curve.is_empty():
        return "".join(parts) + empty(f"No {measure} scores in this selection.")
    drawn = chart_data(curve, ctx.is_shareable, Shareable(keys=(), counts=("episodes", "numerator", "denominator"),
                                                          rates={"rate": ("numerator", "denominator")}),
                       rated_only=False)
    parts.append(svg_figure("dose_response", wide(charts.dose_response(drawn, measure)), ctx.is_shareable,
                            f"Mean {measure} at each session number, over the episodes scored there.")
                 if drawn.height else withheld_all(ctx.is_shareable, "session's mean score"))
    return "".join(parts)


def real_life_section(ctx: Context) -> str:
    long = ctx.run("long_engagement")
    sessions, days = ctx.settings["long_engagement_sessions"], ctx.settings["long_engagement_days"]
    curve = ctx.run("kaplan_meier", by_clinic=False)
    parts = [
        "<p>The share of episodes still in care by days since the first session; open episodes count as still "
        "in care up to the extract date (censored).</p>",
        f"<p>Median days to discharge: {ctx.median(curve, 'time_to_discharge.median_days')} "
        f"({ctx.episodes_html('closed', 'time_to_discharge.events')} discharged, "
        f"{ctx.episodes_html('open', 'time_to_discharge.censored')} still open). Long engagements ({sessions} or more "
        f"sessions, or {days} days or more): {ctx.count(long.height, 'long_engagement')}.</p>",
    ]
    if curve.is_empty():
        return "".join(parts) + empty("No started episodes in this selection, so there is no curve to draw.")
    if ctx.is_shareable:  # each step's drop is that day's discharges over those at risk, exactly: no rounding holds
        return "".join(parts) + empty(CURVE_INTERNAL_ONLY)
    curve = curve.with_columns(pl.col(pl.Decimal).cast(pl.Float64))  # the spec goes to vl-convert as JSON
    parts.append(svg_figure("time_to_discharge", wide(charts.survival_curves(curve)), ctx.is_shareable,
                            "Kaplan–Meier estimate."))
    return "".join(parts)


def safety_section(ctx: Context) -> str:
    days = ctx.settings["risk_followup_days"]
    gaps = ctx.run("risk_followup_gaps")
    # the gaps are the unresolved and those returned later, clinic by clinic and in all: disclosed together
    by_clinic = gaps.group_by("clinic_id").agg(
        (~pl.col("returned_later")).sum().alias("unresolved"), pl.col("returned_later").sum().alias("returned_later"),
    ).sort("clinic_id").with_columns((pl.col("unresolved") + pl.col("returned_later")).alias("gaps"))
    by_clinic = with_total_row(by_clinic, {"gaps": gaps.height, "unresolved": int(
        (~gaps["returned_later"]).sum()), "returned_later": int(gaps["returned_later"].sum())})
    columns = [Column("clinic_id", "clinic"), Column("unresolved", "unresolved", "count"),
               Column("returned_later", "returned later", "count")]
    spec = table_spec([*columns, Column("gaps", "gaps", "count")], totals={"gaps": ("unresolved", "returned_later")},
                      total_row="clinic_id")
    total = total_shown(by_clinic, spec, ctx.is_shareable)
    parts = [
        f"<p>Episodes whose latest session with PHQ-9 item 9 of 1 or more was not followed by an attended session "
        f"within {days} days: {_span('count', total['gaps'], 'risk_followup_gaps')}, of which "
        f"{_span('count', total['unresolved'], 'risk_followup_gaps.unresolved')} unresolved (the client has not "
        "returned since). The episodes are listed on the dashboard's Safety page, not here.</p>"]
    if gaps.is_empty():
        return "".join(parts) + empty("No risk follow-up gaps in this selection.")
    parts.append(table_html(by_clinic, columns, ctx.is_shareable, spec=spec))
    return "".join(parts)


def followup_section(ctx: Context) -> str:
    """The Safety worklist's episodes (at risk with nothing ahead, and the gaps) by the outcome of
    their latest follow-up log entry: counts only, never a note, an id or a name."""
    if ctx.followup_log is None:
        return empty("No follow-up log was given to this report.")
    keys = ["client_id", "episode_id", "risk_date"]
    worklist = pl.concat([ctx.run("at_risk_nothing_ahead").select(keys),
                          ctx.run("risk_followup_gaps").select(keys)]).unique()
    if worklist.is_empty():
        return empty("Nobody is on the Safety worklist in this selection.")
    counts = outcome_counts(worklist, ctx.followup_log.entries(worklist))
    table = with_total_row(counts, {"episodes": worklist.height})
    columns = [Column("outcome", "latest follow-up"), Column("episodes", "episodes", "count")]
    spec = table_spec(columns, total_row="outcome")
    total = total_shown(table, spec, ctx.is_shareable)
    return ("<p>Episodes on the Safety worklist (at risk with nothing ahead, or with a follow-up gap): "
            f"{_span('count', total['episodes'], 'followup.episodes')}, by the latest entry staff made about their "
            "risk session. \"Could not reach\" and \"none yet\" still need action.</p>"
            + table_html(table, columns, ctx.is_shareable, spec=spec))


FLAGGED = ("alarm", "alert")


def therapists_section_html(ctx: Context) -> str:
    parts = ["<p>Each point is a therapist (pseudonymous id): single-session dropout against closed episodes. "
             "Points above the dashed curves are further from the service-wide rate than chance would explain; "
             "small caseloads have wide limits. A funnel plot, never a league table.</p>"]
    funnel = pl.DataFrame(therapists_section(ctx.reader, ctx.scope))
    limits = ctx.run("funnel_limits") if not funnel.is_empty() else pl.DataFrame()
    if funnel.is_empty() or limits.is_empty():
        return "".join(parts) + empty("No therapist has a closed episode in this selection.")
    shown_funnel = chart_data(funnel, ctx.is_shareable, THERAPIST_FLAGS, withheld=("limit95", "limit998"))
    benchmark = (_rate_text(funnel["p0"][0]) if not ctx.is_shareable else  # from the rounded totals, as every rate
                 shown(frames.with_rate(funnel.select(pl.col("numerator", "denominator").sum()), "numerator",
                                        "denominator"), RATE, True)[0]["rate"])
    if ctx.is_shareable:  # the curves stop at a rounded caseload, so their end gives no caseload away
        limits = limits.filter(pl.col("caseload") <= ROUND_TO * (limits["caseload"].max() // ROUND_TO))
    parts.append(svg_figure("therapist_funnel", wide(charts.funnel_plot(shown_funnel, limits)), ctx.is_shareable,
                            f"Benchmark (all therapists): {benchmark}."
                            + (f" Therapists with fewer than {MIN_RATE_DENOMINATOR} closed episodes or a dropout "
                               "count shown as * are not drawn; caseloads and dropouts are rounded to 5."
                               if ctx.is_shareable else ""))
                 if shown_funnel.height and limits.height else withheld_all(ctx.is_shareable, "therapist"))
    if ctx.is_shareable:  # a flag beside a `*` count would narrow it to one value: `*` too, here and in the counts
        funnel = funnel.with_columns(shareable(funnel, THERAPIST_FLAGS)["flag"])
    by_flag = funnel.group_by("flag").len().sort("flag")
    parts.append("<p>Therapists by flag: " + ", ".join(
        f"{'withheld (*)' if flag == SUPPRESSED else html.escape(flag)} {ctx.count(n, 'therapist_flags.' + flag)}"
        for flag, n in by_flag.iter_rows()) + ".</p>")
    flagged = funnel.filter(pl.col("flag").is_in(FLAGGED)).sort(
        pl.col("flag").replace_strict({"alarm": 0, "alert": 1}), "therapist_id")
    parts.append("<h3>Flagged therapists</h3>")
    if flagged.is_empty():
        parts.append(empty("No therapist is above the 95% limit."))
        return "".join(parts)
    columns = [Column("therapist_id", "therapist"), Column("flag", "flag"), Column("rate", "dropout", "rate"),
               Column("numerator", "dropouts", "count"), Column("denominator", "closed episodes", "count")]
    if not ctx.is_shareable:  # a control limit gives the exact caseload away: internal only
        columns += [Column("limit95", "95% limit", "rate"), Column("limit998", "99.8% limit", "rate")]
    parts.append(table_html(flagged, columns, ctx.is_shareable, metric=lambda row: f"therapists.{row['therapist_id']}",
                            rates=dict.fromkeys(("rate", "limit95", "limit998"), DROPOUT["rate"])))
    return "".join(parts)


def data_quality_section(ctx: Context) -> str:
    parts = ["<p>The latest load as a whole (for your clinics only, when the report is restricted to some), not "
             "only the selected episodes; score coverage follows the selection.</p>"]
    try:
        loads = ctx.run("load_history")
    except AccessDenied:
        loads = None
        parts.append("<p>The load reports cover every clinic, so they are shown only to users who can see every "
                     "clinic. Below: quarantined rows and data issues of your clinics.</p>")
    latest_id = ctx.settings["latest_load_id"] if loads is None else loads["load_id"].max()
    reasons = ctx.run("quarantine_reasons", load_id=latest_id).select("reason", "rows")  # never a row's values
    reason_spec = table_spec([Column("reason", "reason"), Column("rows", "rows", "count")])
    reasons_hidden: tuple[Cell, ...] = ()
    if loads is not None and latest_id is not None:
        latest = loads.filter(pl.col("load_id") == latest_id)
        counts = ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged", "rows_replacing_earlier")
        totals = latest.select(pl.col(counts).sum()).row(0, named=True)
        reconciles = latest["reconciles"].all() and totals["rows_read"] == (
            totals["rows_loaded"] + totals["rows_quarantined"] + totals["duplicates_merged"])
        # rows read = loaded + quarantined + merged, file by file and in all; the reasons split the quarantined
        files = with_total_row(latest, totals)
        file_columns = [Column("source_file", "file"), Column("rows_read", "read", "count"),
                        Column("rows_loaded", "loaded", "count"), Column("rows_quarantined", "quarantined", "count"),
                        Column("duplicates_merged", "merged", "count"),
                        Column("rows_replacing_earlier", "replacing earlier", "count")]
        file_spec = table_spec(file_columns, totals={"rows_read": counts[1:4]}, total_row="source_file")
        reasons = with_total_row(reasons, {"rows": totals["rows_quarantined"]})
        reason_spec = table_spec([Column("reason", "reason"), Column("rows", "rows", "count")], total_row="reason")
        # the quarantined rows are the total of the files' and of the reasons' rows: one figure, `*` in both or neither
        quarantined = (((0, "rows_quarantined"),), ((0, "rows"),))
        files_hidden, reasons_hidden = quarantined if ctx.is_shareable and hidden_anywhere(
            [(files, file_spec, quarantined[0][0]), (reasons, reason_spec, quarantined[1][0])]) else ((), ())
        total = total_shown(files, file_spec, ctx.is_shareable, files_hidden)
        parts.append(
            f"<h3>Latest load ({latest_id}, {latest['loaded_at'][0]:%Y-%m-%d %H:%M})</h3>"
            f"<p>Rows read {_span('count', total['rows_read'], 'load.rows_read')} = loaded "
            f"{_span('count', total['rows_loaded'], 'load.rows_loaded')} + quarantined "
            f"{_span('count', total['rows_quarantined'], 'load.rows_quarantined')} + duplicates merged "
            f"{_span('count', total['duplicates_merged'], 'load.duplicates_merged')}: "
            + ("<strong>reconciles</strong>, per file and in total" if reconciles
               else "<strong>does not reconcile</strong>") + ".</p>")
        parts.append(table_html(files, file_columns, ctx.is_shareable, spec=file_spec, hidden=files_hidden))
    parts.append("<h3>Quarantined rows by reason</h3>")
    parts.append(empty("Nothing was quarantined in the latest load.") if not reasons["rows"].sum() else table_html(
        reasons, [Column("reason", "reason"), Column("rows", "rows", "count")], ctx.is_shareable, spec=reason_spec,
        hidden=reasons_hidden))
    parts.append("<h3>Data issues by field</h3>")
    issues = ctx.run("data_issue_summary")
    parts.append(empty("No field problems on the loaded appointments.") if issues.is_empty() else table_html(
        issues, [Column("field", "field"), Column("reason", "reason"), Column("issues", "issues", "count")],
        ctx.is_shareable))
    parts.append("<h3>Score coverage at attended sessions</h3>")
    coverage = frames.with_rate(ctx.run("score_coverage"), "scored", "sessions")
    parts.append(table_html(coverage, [Column("measure", "measure"), Column("rate", "scored", "rate"),
                                       Column("numerator", "sessions scored", "count"),
                                       Column("denominator", "attended sessions", "count")],
                            ctx.is_shareable, rates={"rate": ("numerator", "denominator")})
                 if coverage["denominator"].sum() else empty("No attended sessions in this selection."))
    return "".join(parts)


SECTION_BUILDERS: dict[str, Callable[[Context], str]] = {
    "overview": overview_section,
    "first_session": first_session_section,
    "no_hope": no_hope_section,
    "fossilizes": fossilizes_section,
    "real_life": real_life_section,
    "safety": safety_section,
    "followup": followup_section,
    "therapists": therapists_section_html,
    "data_quality": data_quality_section,
}


# --- the page -------------------------------------------------------------------------------------


def describe_selection(scope: Scope, clinics: tuple[str, ...] | None) -> str:
    """The filters in words (as narrowed to the reader's clinics), and the clinics a restricted
    reader may see."""
    parts = [
        f"clinics {', '.join(scope.clinics) or 'none'}" if scope.clinics is not None else "every clinic",
        f"therapists {', '.join(scope.therapists)}" if scope.therapists else "every therapist",
        f"first session type {', '.join(scope.session_types)}" if scope.session_types else "every first session type",
    ]
    if scope.from_date and scope.to_date:
        parts.append(f"first session {scope.from_date} to {scope.to_date}")
    elif scope.from_date or scope.to_date:
        parts.append(f"first session on or {'after' if scope.from_date else 'before'} "
                     f"{scope.from_date or scope.to_date}")
    else:
        parts.append("any first-session date")
    text = "; ".join(parts)
    if clinics is not None:
        text += f" (limited to the clinics this user may see: {', '.join(clinics) or 'none'})"
    return text


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; line-height: 1.45; }
h1 { margin-bottom: .25rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
.version { padding: .6rem .9rem; border-radius: 6px; border: 1px solid; }
.version.internal { background: #fff4e5; border-color: #f2a541; }
.version.shareable { background: #e8f4ea; border-color: #4c9a5f; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
td.count, td.rate, th.count, th.rate { text-align: right; font-variant-numeric: tabular-nums; }
.rate { font-weight: 600; }
figure.chart { margin: .8rem 0; break-inside: avoid; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption, .note { color: #57606a; font-size: .88rem; }
p.empty { color: #57606a; font-style: italic; }
h2, h3 { break-after: avoid; } tr { break-inside: avoid; }
@page { size: A4; margin: 14mm; }
"""


def board_report_html(reader: MetricsReader, scope: Scope = Scope(), *, shareable: bool = False,
                      generated_at: dt.datetime | None = None, followup_log: FollowupLog | None = None) -> str:
    """The board report for the episodes the scope selects, as the reader may see them, as one
    HTML page: internal (exact numbers) or shareable (disclosure control, docs/security.md#disclosure-control)."""
    settings = reader.settings()
    counts = reader.run("episode_counts", scope).row(0, named=True)
    single, bands = reader.run("single_session", scope), reader.run("dropout_by_next_booking", scope)
    ctx = Context(reader, scope, shareable, settings, counts,
                  closed_hidden=shareable and closed_hidden_anywhere(counts, single, bands), followup_log=followup_log)
    generated = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    version = (
        '<p class="version shareable"><strong>Shareable version.</strong> Disclosure control applied (NHS '
        f"Digital's rule): {html.escape(SHAREABLE_RULE)}. Client-level lists are never included.</p>"
        if shareable else
        '<p class="version internal"><strong>Internal version: not for sharing outside the clinic.</strong> '
        "Exact numbers, including small counts. For a version to share, use "
        "<code>clinic-outcomes report --shareable</code> or the dashboard's shareable download.</p>")
    meta = {
        "Data as of": f"{settings['extract_date']} (extract date, {settings['extract_date_source']})",
        "Warehouse": f"build {settings['build_id']}, built {settings['built_at']:%Y-%m-%d %H:%M}",
        "Selection": describe_selection(reader.limit(scope), reader.clinics),
        "Generated": f"{generated} by clinic-outcomes {__version__}",
    }
    header = (f"<header><h1>{html.escape(TITLE)}</h1>{version}<dl class=\"meta\">"
              + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in meta.items())
              + "</dl><p class=\"note\">This report monitors services. It is not a clinical decision tool, and it "
                "shows pseudonymous ids only, never direct identifiers.</p></header>")
    sections = "".join(
        f'<section id="{name}"><h2>{html.escape(SECTIONS[name])}</h2>{build(ctx)}</section>'
        for name, build in SECTION_BUILDERS.items())
    kind = "shareable" if shareable else "internal"
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{html.escape(TITLE)} ({kind}, data as of {settings['extract_date']})</title>"
            f"<style>{STYLE}</style></head><body>{header}<main>{sections}</main></body></html>\n")


# --- PDF ------------------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PDF_NEEDS = ("a PDF is printed by Chromium through Playwright: install both (pip install 'clinic-outcomes[pdf]' "
             "and apt-get install chromium), or write the report as .html, open it in a browser and print it to PDF")


def chromium_path() -> str | None:
    """The system's Chromium (Debian's package), if installed: Playwright's own browsers are never used."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def pdf_bytes(report_html: str) -> bytes:
    """The report printed to A4 PDF by headless Chromium, with every network request refused
    (the page needs none). Raises LoadError, saying how to get a PDF, when Chromium or
    Playwright is missing."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise LoadError(PDF_NEEDS) from None
    chromium = chromium_path()
    if chromium is None:
        raise LoadError(PDF_NEEDS)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.route("**/*", lambda route: route.abort())
                page.set_content(report_html, wait_until="load")
                return page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
            finally:
                browser.close()
    except PlaywrightError as exc:
        first_line = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise LoadError(f"{chromium} could not print the PDF: {first_line}") from None
