"""Page controls kept in the link (st.query_params), so what a page shows is a link someone can send
(docs/dashboard.md#links).

A page draws a control through `control(...)` instead of calling the widget itself:

    caseload = links.control("caseload", links.whole(1, 50), st.slider, "Minimum caseload", 1, 50,
                             default=10, key="min_caseload")

- On the first run that draws it (opening a link, or coming back to the page), the control takes
  its value from the link's parameter (`?caseload=20`). A value the kind cannot read (`abc`, `500`,
  a therapist not listed) is not applied: the control keeps its default and a warning under it
  names the value and why, as plain text. After that, the widget's own state holds the value.
- On every run its value is written to the link, and left out while it equals the default, so
  links stay short and a default that follows the warehouse (the `min_caseload` setting) follows it.
- The sidebar filters rebuild the link from the filters on every run (dashboard/filters.py), so
  only the controls the current page draws are in its link: one page's parameters never leak into
  another page's link.

Streamlit's own `bind="query-params"` is not used: it drops a value it cannot read without a word,
and it makes the widget key the parameter's name.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.literal import literal

# session-state keys of this module
_OPENED = "link_opened"  # the link's parameters as they stood when this run started
_USED = "link_used"  # the parameters a page control read this run
_NOTES = "link_notes"  # widget key -> (warning, the value the control was given)


@dataclass(frozen=True)
class Kind:
    """How a control's value is written in a link and read back.

    `read` turns the link's text into a value or raises ValueError with the reason, in plain words
    ("not a whole number from 1 to 50"); `write` turns a value into the link's text."""

    read: Callable[[str], Any]
    write: Callable[[Any], str]

    def accepts(self, value: object) -> bool:
        try:
            return self.read(self.write(value)) == value
        except (ValueError, TypeError):
            return False


def whole(low: int, high: int) -> Kind:
    """A whole number from low to high."""
    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"not a whole number from {low} to {high}")
        return value
    return Kind(read, str)


def number(low: float, high: float) -> Kind:
    """A number from low to high."""
    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # also refuses nan
            raise ValueError(f"not a number from {low:g} to {high:g}")
        return value
    def write(value: float) -> str:  # short when that reads back the same, else every digit
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return Kind(read, write)


def day(first: dt.date, last: dt.date) -> Kind:
    """A date from first to last, written YYYY-MM-DD. For st.date_input pass `value=None` as well:
    Streamlit then takes the value from the control without a warning."""
    def read(text: str) -> dt.date:
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError("not a date (write it as YYYY-MM-DD)") from None
        if not first <= value <= last:
            raise ValueError(f"outside the data, which runs from {first} to {last}")
        return value
    return Kind(read, lambda value: value.isoformat())


def _read_switch(text: str) -> bool:
    if text not in ("on", "off"):
        raise ValueError("not on or off")
    return text == "on"


SWITCH = Kind(_read_switch, lambda value: "on" if value else "off")


def one_of(choices: Sequence[str], what: str) -> Kind:
    """One of the listed choices; `what` names them for the warning ("a therapist listed here")."""
    listed = set(choices)

    def read(text: str) -> str:
        if text not in listed:
            raise ValueError(f"not {what}")
        return text
    return Kind(read, str)


def remember_link() -> None:
    """The link as it stands when this run starts, before the sidebar rewrites it: the first thing
    each run does (dashboard/filters.py)."""
    st.session_state[_OPENED] = {name: st.query_params.get_all(name) for name in st.query_params}
    st.session_state[_USED] = set()


def opened() -> dict[str, list[str]]:
    """The link's parameters at the start of this run, every value of each."""
    return st.session_state.get(_OPENED, {})


def unused() -> list[str]:
    """Parameters of the link at the start of this run that no filter or control read."""
    return [name for name in opened() if name not in st.session_state.get(_USED, set())]


def mark_used(*names: str) -> None:
    st.session_state.setdefault(_USED, set()).update(names)


def control(param: str, kind: Kind, draw: Callable[..., Any], *args: Any, default: Any, key: str,
            **widget: Any) -> Any:
    """Draw a page control whose value is in the link as `param`, and return its value.

    `draw` is the widget (st.slider, st.toggle, st.selectbox, st.number_input, or the same on a
    column); `args` and `widget` are its arguments, except its value (`value=`, `index=`), which
    comes from the link or `default`. `key` is the widget's key. The warning about a bad value is
    drawn under the widget, and stays while the control keeps the value it was given instead."""
    mark_used(param)
    notes = st.session_state.setdefault(_NOTES, {})
    held = st.session_state.get(key, default)
    if key not in st.session_state or (held != default and not kind.accepts(held)):
        st.session_state[key] = default
        given = opened().get(param)
        if given:
            try:
                st.session_state[key] = kind.read(given[-1])
            except ValueError as reason:
                shows = "." if default is None else f": the page shows its default ({literal(kind.write(default))})."
                notes[key] = (f"This link's {param} {literal(given[-1])} is {reason}, so it is not used{shows}",
                              default)
    value = draw(*args, key=key, **widget)
    note = notes.get(key)
    if note is not None:
        if value == note[1]:
            getattr(draw, "__self__", st).warning(note[0], icon=":material/link_off:")
        else:
            del notes[key]
    if value == default:
        if param in st.query_params:
            del st.query_params[param]
    else:
        st.query_params[param] = kind.write(value)
    return value


def follow(key: str, picked: object) -> None:
    """Set a control (by its widget key, before it is drawn) to what the user just picked elsewhere,
    such as a point on a chart or a row of a table, once per new pick: a pick that stays selected
    on later runs does not undo a choice made in the control since."""
    seen = f"{key}_last_pick"
    if picked is not None and picked != st.session_state.get(seen):
        st.session_state[key] = picked
    st.session_state[seen] = picked
