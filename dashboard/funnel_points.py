"""A keyboard path to every funnel point (docs/dashboard.md#accessibility): a select box beside a funnel
plot that chooses a point as a click on it does, bound to the same choice, and the point's numbers in
words (what its tooltip shows a mouse)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl
import streamlit as st

from dashboard import links
from dashboard.literal import literal


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def choice_from_chart(chart_key: str, unit: str, choice_key: str) -> Callable[[], None]:
    """An on_select callback for a funnel plot (st.altair_chart with `chart_key`): a click on a point, or
    clearing it, sets the select box `choice_key` to the same `{unit}_id`."""
    def chosen() -> None:
        points = (st.session_state[chart_key] or {}).get("selection", {}).get(unit) or []
        st.session_state[choice_key] = points[0].get(f"{unit}_id") if points else None
    return chosen


def choice_from_table(table_key: str, ids: Sequence[str], choice_key: str) -> Callable[[], None]:
    """An on_select callback for a table listing `ids` in its row order: ticking a row (by mouse or by
    Shift+Space), or clearing it, sets the select box `choice_key` to that row's id."""
    def chosen() -> None:
        rows = st.session_state[table_key].selection.rows
        st.session_state[choice_key] = ids[rows[0]] if rows else None
    return chosen


def pick(label: str, ids: Sequence[str], choice_key: str, help_text: str, param: str, unit: str) -> str | None:
    """The select box: the same choice as a click on a point, for a keyboard, kept in the link as `param`
    (docs/dashboard.md#links). A choice no longer listed (the filters changed) is dropped."""
    return links.control(param, links.one_of(list(ids), f"a {unit} listed here"), st.selectbox, label, list(ids),
                         default=None, key=choice_key, placeholder="Choose one, or click a point", help=help_text)


def point_sentence(row: dict[str, object], unit: str, rate_title: str, counted: str, *, widened: bool) -> str:
    """One point of a raw (or widened) funnel in words: its rate with its counts, the limits at its
    caseload and its flag. The id is shown as text (literal)."""
    limit95, limit998, flag = (("adjusted_limit95", "adjusted_limit998", "adjusted_flag") if widened
                               else ("limit95", "limit998", "flag"))
    counts = f"{percent(row['rate'])} ({int(row['numerator']):,} of {int(row['denominator']):,} {counted})"
    return (f"{unit.capitalize()} {literal(row[f'{unit}_id'])}: {rate_title.lower()} {counts}; "
            f"limits at this size {percent(row[limit95])} (95%) and {percent(row[limit998])} (99.8%); "
            f"flag **{row[flag]}**.")


def adjusted_sentence(row: dict[str, object]) -> str:
    """One point of the adjusted funnel in words (observed, expected, O/E, adjusted z and flag)."""
    if row["ratio"] is None:
        return "No dropout is expected from this therapist's case mix, so they are not on the adjusted funnel."
    z = "–" if row["adjusted_z"] is None else f"{row['adjusted_z']:.2f}"
    return (f"Adjusted for case mix: observed {int(row['numerator']):,}, expected {row['expected']:.1f}, "
            f"O/E {row['ratio']:.2f}, adjusted z {z}; adjusted flag **{row['adjusted_flag']}**.")


def row_of(units: pl.DataFrame, unit: str, chosen: str) -> dict[str, object]:
    return units.filter(pl.col(f"{unit}_id") == chosen).row(0, named=True)
