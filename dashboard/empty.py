"""Empty states of charts: a chart with nothing to draw says what is missing instead of drawing empty axes
(docs/dashboard.md#common-to-every-page, "Empty states")."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import polars as pl
import streamlit as st


# What is missing, where more than one page can miss it
NO_ENDED_MONTH = ("No episode in this selection has ended yet, so there is no single-session dropout rate by cohort "
                  "month to draw.")
NO_ENDED = "No episode in this selection has ended yet, so there is no single-session dropout rate to draw."


def has_values(frame: pl.DataFrame, column: str) -> bool:
    """Whether a chart of `column` would draw anything: a row with a value in it."""
    return frame.height > 0 and frame[column].is_not_null().any()


def chart_or_say(frame: pl.DataFrame, column: str, draw: Callable[[pl.DataFrame], alt.TopLevelMixin],
                 missing: str, **options: object):
    """st.altair_chart(draw(frame)) when the frame has a value in `column` to draw; otherwise st.info(missing),
    which says what is missing. `options` go to st.altair_chart. Returns what it returns (the selection)."""
    if not has_values(frame, column):
        st.info(missing)
        return None
    return st.altair_chart(draw(frame), **options)
