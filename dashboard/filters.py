"""Sidebar filters, kept in st.query_params so a filtered view is a link someone can send
(docs/dashboard.md#links). Page controls join the link through dashboard/links.py."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import links
from dashboard.frames import years_earlier
from dashboard.literal import literal
from pipelines.queries import Scope

# query parameter -> session-state key of its widget
PARAMS = {"clinic": "filter_clinics", "therapist": "filter_therapists", "type": "filter_types",
          "from": "filter_from", "to": "filter_to", "period": "filter_period"}

# What the sidebar dates select on each page (url path; the Overview's is ""), and the sentence under
# them: on Attendance an appointment's own date (sql/reports/attendance_*.sql), elsewhere the episode's
# first attended session (docs/metrics/index.md#filters).
FIRST_SESSION = ("First session", "Dates select episodes by the date of their first attended session.")
DATES = {
    "attendance": ("Appointments", "Dates select appointments by their own date, not by the episode's first "
                                   "session."),
    "data_quality": ("First session", "Dates select episodes by their first attended session: here only the "
                                      "score coverage follows them; the load reports cover whole loads."),
}

LINK_NOTICE = "link_notice"  # session-state key: the warning about the link this session opened

PERIODS = {"last-12-months": "Last 12 months", "this-year": "This year", "last-quarter": "Last quarter",
           "all": "All"}

# Streamlit's date field applies a typed date only when the focus moves to another element outside
# it; Enter does nothing (tests/test_links_browser.py). On Enter in a date field this moves the focus
# out and back, so the typed date applies and the cursor stays. A fixed script with no value from the
# data in it (docs/dashboard.md#dates).
ENTER_APPLIES_DATES = """<script>
if (!window.clinicOutcomesEnterAppliesDates) {
  window.clinicOutcomesEnterAppliesDates = true;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing || !event.target.closest) return;
    if (!event.target.closest('[data-testid="stDateInputField"]')) return;
    const typed = event.target, away = document.getElementById("stMain");
    if (!away) return;
    away.focus({preventScroll: true});  // focus must land outside the field: a bare blur() applies nothing
    requestAnimationFrame(() => typed.focus({preventScroll: true}));
  }, true);
}
</script>"""


def period_dates(period: str, extract_date: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The dates of a quick period, seen from the extract date E (the data's "today"):
    last-12-months: the 12 months ending on E; this-year: 1 January of E's year to E;
    last-quarter: the latest calendar quarter that has ended by E; all: no dates."""
    if period == "last-12-months":
        return years_earlier(extract_date) + dt.timedelta(days=1), extract_date
    if period == "this-year":
        return dt.date(extract_date.year, 1, 1), extract_date
    if period == "last-quarter":
        next_day = extract_date + dt.timedelta(days=1)
        # the quarter that E ends, else the one before the quarter E is in
        start = dt.date(next_day.year, 3 * ((next_day.month - 1) // 3) + 1, 1)
        end = start - dt.timedelta(days=1)
        return dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end
    return None, None


def _clamped(day: dt.date | None, first: dt.date, last: dt.date) -> dt.date | None:
    return None if day is None else min(max(day, first), last)


def _read_date(name: str, given: list[str], first: dt.date, last: dt.date, problems: list[str]) -> dt.date | None:
    if not given:
        return None
    try:
        return links.day(first, last).read(given[-1])
    except ValueError as reason:
        problems.append(f"{name} {literal(given[-1])} is {reason}: not applied.")
        return None


def _restore_from_link(options: pl.DataFrame, first: dt.date, last: dt.date) -> list[str]:
    """First run of a session: take the filters from the link. Returns what could not be used, as
    plain sentences (docs/dashboard.md#links): unknown values are left out, bad dates not applied, a
    backwards range swapped. A clinic this user may not see is unknown here too: `options` holds only
    the clinics they may see, so the warning cannot tell them it exists."""
    params, problems = links.opened(), []
    known = {"clinic": set(options["clinic_id"].drop_nulls()), "therapist": set(options["therapist_id"].drop_nulls()),
             "type": set(options["first_session_type"].drop_nulls())}
    for name in ("clinic", "therapist", "type"):
        given = params.get(name, [])
        st.session_state[PARAMS[name]] = [v for v in dict.fromkeys(given) if v in known[name]]
        unknown = [v for v in dict.fromkeys(given) if v not in known[name]]
        if unknown:
            problems.append(f"{name} {', '.join(literal(v) for v in unknown)}: unknown here, left out.")
    date_from = _read_date("from", params.get("from", []), first, last, problems)
    date_to = _read_date("to", params.get("to", []), first, last, problems)
    period = params.get("period", [None])[-1]
    if period is not None and period not in PERIODS:
        problems.append(f"period {literal(period)} is not one of {', '.join(PERIODS)}: not applied.")
        period = None
    if period is not None and (date_from or date_to):
        problems.append(f"the period {literal(period)} sets the dates, so from and to are not applied.")
    elif date_from and date_to and date_from > date_to:
        problems.append(f"from {date_from} is after to {date_to}: the two dates are swapped.")
        date_from, date_to = date_to, date_from
    st.session_state[PARAMS["period"]] = period
    st.session_state[PARAMS["from"]], st.session_state[PARAMS["to"]] = (
        (None, None) if period is not None else (date_from, date_to))
    links.mark_used(*PARAMS)
    st.session_state["filters_restored"] = True
    return problems


def _write_link(values: dict[str, list[str] | str | dt.date | None]) -> None:
    link = {name: value.isoformat() if isinstance(value, dt.date) else value
            for name, value in values.items() if value}
    st.query_params.from_dict(link)


def _choose_period() -> None:
    """A quick period was clicked: the dates follow it (set on each run, from the extract date)."""
    if st.session_state[PARAMS["period"]] in (None, "all"):
        st.session_state[PARAMS["from"]] = st.session_state[PARAMS["to"]] = None


def _type_dates() -> None:
    """A date was typed or picked: the dates are the user's own, no quick period."""
    st.session_state[PARAMS["period"]] = None


def sidebar_filters(options: pl.DataFrame, extract_date: dt.date, page: str = "") -> Scope:
    """Draw the filters for the page at url path `page`; return the scope every page applies."""
    links.remember_link()
    opening = not st.session_state.get("filters_restored")
    first = options["first_date"].min() or extract_date
    last = max(options["last_date"].max() or extract_date, extract_date)
    if opening:
        problems = _restore_from_link(options, first, last)
    period = st.session_state.get(PARAMS["period"])
    if period is not None and period != "all":
        st.session_state[PARAMS["from"]], st.session_state[PARAMS["to"]] = (
            _clamped(day, first, last) for day in period_dates(period, extract_date))
    sidebar = st.sidebar
    sidebar.header("Filters")
    what, sentence = DATES.get(page, FIRST_SESSION)
    sidebar.segmented_control("Period", list(PERIODS), format_func=PERIODS.get, key=PARAMS["period"],
                              on_change=_choose_period,
                              help=f"Quick dates, counted back from the extract date ({extract_date}).")
    sidebar.date_input(f"{what} from", key=PARAMS["from"], min_value=first, max_value=last, value=None,
                       on_change=_type_dates)
    sidebar.date_input(f"{what} to", key=PARAMS["to"], min_value=first, max_value=last, value=None,
                       on_change=_type_dates)
    sidebar.caption(sentence)
    sidebar.html(ENTER_APPLIES_DATES, unsafe_allow_javascript=True)
    clinics = sidebar.multiselect("Clinics", sorted(options["clinic_id"].drop_nulls().unique()),
                                  key=PARAMS["clinic"], placeholder="All clinics")
    therapist_rows = options.filter(pl.col("clinic_id").is_in(clinics)) if clinics else options
    therapist_choices = sorted(set(therapist_rows["therapist_id"].drop_nulls())
                               | set(st.session_state.get(PARAMS["therapist"], [])))
    therapists = sidebar.multiselect("Therapists", therapist_choices, key=PARAMS["therapist"],
                                     placeholder="All therapists")
    types = sidebar.multiselect("First session type", sorted(options["first_session_type"].drop_nulls().unique()),
                                key=PARAMS["type"], placeholder="All types")
    date_from, date_to = st.session_state[PARAMS["from"]], st.session_state[PARAMS["to"]]
    period = st.session_state[PARAMS["period"]]
    preset = period is not None and period != "all"
    _write_link({"clinic": clinics, "therapist": therapists, "type": types, "period": period if preset else None,
                 "from": None if preset else date_from, "to": None if preset else date_to})
    _link_notice(opening, problems if opening else [],
                 (page, tuple(clinics), tuple(therapists), tuple(types), date_from, date_to, period))
    if date_from and date_to and date_from > date_to:
        st.warning(f"{what} from {date_from} is after {what.lower()} to {date_to}, so nothing can match: swap "
                   "the dates or clear one.", icon=":material/date_range:")
    return Scope(
        clinics=tuple(clinics) or None,
        therapists=tuple(therapists) or None,
        from_date=date_from,
        to_date=date_to,
        session_types=tuple(types) or None,
    )


def _link_notice(opening: bool, problems: list[str], shown: tuple) -> None:
    """The warning about a link's bad values, at the top of the page: drawn on the run that opened the
    link, and on later runs while the page and the filters stay as the link left them."""
    notice = st.session_state.get(LINK_NOTICE)
    if opening:
        notice = st.session_state[LINK_NOTICE] = {"problems": problems, "shown": shown, "slot": None}
    elif notice is not None and notice["shown"] != shown:
        notice = st.session_state[LINK_NOTICE] = None
    if notice is None:
        return
    notice["slot"] = st.empty()  # unused_link_warning may redraw it once the page has run
    if notice["problems"]:
        notice["slot"].warning(_notice_text(notice["problems"]), icon=":material/link_off:")


def _notice_text(problems: list[str]) -> str:
    return "Parts of this link could not be used:\n\n" + "\n".join(f"- {p}" for p in problems)


def unused_link_warning() -> None:
    """After the page ran, on the run that opened a link: name the parameters that neither the
    filters nor the page's controls read (another page's, or misspelt), in the warning at the top."""
    notice = st.session_state.get(LINK_NOTICE)
    if notice is None or notice.get("checked"):
        return
    notice["checked"] = True
    left = links.unused()
    if left:
        notice["problems"].append(f"{', '.join(literal(name) for name in left)}: not a setting this page shows now, "
                                  "left out.")
        notice["slot"].warning(_notice_text(notice["problems"]), icon=":material/link_off:")
