"""Pieces every page shares: the scope, rate text, empty states, downloads and the board report."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import data
from dashboard.literal import literal
from dashboard.board_report import board_report_html
from pipelines.disclosure import RULE, Shareable, safe_csv, shareable
from pipelines.followup import FollowupLog, log_path
from pipelines.queries import Scope

DISCLAIMER = ("This dashboard monitors services. It is not a clinical decision tool, and it shows "
              "pseudonymous ids only, never direct identifiers.")


def scope() -> Scope:
    return st.session_state.get("scope", Scope())


def rate_text(numerator: int, denominator: int) -> str:
    if not denominator:
        return "no episodes"
    return f"{numerator / denominator:.1%} ({numerator:,} of {denominator:,})"


def has_episodes() -> bool:
    """False (and a message) when the filters select no started episode."""
    counts = data.run("episode_counts", scope()).row(0, named=True)
    if counts["open"] + counts["closed"] == 0:
        st.info("No episodes match these filters. Widen the date range or clear a filter in the sidebar.")
        return False
    if counts["closed"] == 0:  # e.g. a log of a few weeks: nothing has had time to end
        settings = data.build()
        st.info(f"None of the {counts['open']:,} started episodes in this selection has ended yet: an episode "
                f"ends at a discharge or after {settings['inactive_days']} days without an attended session, "
                "so the rates over closed episodes have no denominator yet. The Attendance page counts "
                "appointments and needs no ending.")
    return True


# Tables show at most this many rows: more is unreadable on screen and slow to send.
ROW_LIMIT = 5000


def capped(table: pl.DataFrame, what: str) -> pl.DataFrame:
    """The first ROW_LIMIT rows, saying so when rows were left off."""
    if table.height > ROW_LIMIT:
        st.warning(f"Showing the first {ROW_LIMIT:,} of {table.height:,} {what}; narrow the filters to see the rest.")
        return table.head(ROW_LIMIT)
    return table


SHAREABLE_HELP = f"With disclosure control for sharing outside the clinic (docs/security.md#disclosure-control): {RULE}."


def downloads(frame: pl.DataFrame, name: str, share: Shareable | None = None,
              internal_only: str = "Row-level data: internal only, no shareable version.") -> None:
    """Downloads of exactly the rows shown: internal CSV and Parquet, and, for a table of counts
    (`share` says which columns are counts and rates), a shareable CSV with disclosure control
    (docs/security.md#disclosure-control). Other tables have no shareable version, and say why
    (`internal_only`). Every CSV is formula-safe."""
    columns = st.columns(3)
    columns[0].download_button("Internal CSV", safe_csv(frame), file_name=f"{name}.csv", mime="text/csv",
                               key=f"csv_{name}", icon=":material/download:",
                               help="Exact numbers, for use inside the clinic.")
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    columns[1].download_button("Internal Parquet", buffer.getvalue(), file_name=f"{name}.parquet",
                               mime="application/octet-stream", key=f"parquet_{name}", icon=":material/download:",
                               help="Exact numbers, for use inside the clinic.")
    if share is None:
        columns[2].caption(internal_only)
    else:
        columns[2].download_button(
            "Shareable CSV", safe_csv(shareable(frame, share)), file_name=f"{name}_shareable.csv",
            mime="text/csv", key=f"shareable_{name}", icon=":material/share:",
            help=SHAREABLE_HELP)


BOARD_REPORT_HELP = {
    "internal": "Exact numbers, for use inside the clinic.",
    "shareable": SHAREABLE_HELP,
}


def board_report_download() -> None:
    """The board report (dashboard/board_report.py) of the current filters and this user's clinics,
    internal or shareable, as one HTML file. Drawing its charts takes seconds, so a button builds
    it; its download stays offered until the filters, the user's clinics or the build change."""
    box = st.sidebar.expander("Board report", icon=":material/summarize:")
    reader = data.restricted_reader()
    wanted = (scope(), reader.clinics, reader.settings()["build_id"])
    for version, help_text in BOARD_REPORT_HELP.items():
        state = f"board_report_{version}"
        if box.button(f"Prepare {version} report", key=f"prepare_{state}", help=help_text,
                      icon=":material/summarize:"):
            with box, st.spinner("Drawing the report's charts…"):
                st.session_state[state] = (wanted, board_report_html(reader, wanted[0],
                                                                     shareable=version == "shareable",
                                                                     followup_log=FollowupLog(log_path(
                                                                         data.warehouse_path()))))
        prepared = st.session_state.get(state)
        if prepared is not None and prepared[0] == wanted:
            box.download_button(
                f"{version.capitalize()} report (HTML)", prepared[1],
                file_name=f"board_report_{reader.settings()['extract_date']}_{version}.html", mime="text/html",
                key=f"download_{state}", on_click="ignore", help=help_text,
                icon=":material/share:" if version == "shareable" else ":material/download:")


def sidebar_footer(access: str) -> None:
    board_report_download()
    settings = data.build()
    st.sidebar.caption(f"Data as of {settings['extract_date']} · built {settings['built_at']:%Y-%m-%d %H:%M}")
    st.sidebar.caption(access)
    st.sidebar.caption(DISCLAIMER)


def no_warehouse() -> None:
    """The empty state: no warehouse yet. Say how to make one, or make the sample one here."""
    path = data.warehouse_path()
    st.title("Clinic outcomes")
    st.caption(DISCLAIMER)
    st.warning(f"There is no warehouse at {literal(path)} yet.")
    st.markdown("Load your appointment log with")
    st.code(f"clinic-outcomes ingest YOUR_EXPORT.csv --db {path}", language="sh")  # st.code: not Markdown
    st.markdown("or load the synthetic sample data (2,000 clients, no real people) to look around.")
    if st.button("Load the sample data", type="primary", icon=":material/play_arrow:"):
        from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments
        from pipelines.warehouse import ingest

        with st.spinner("Generating and loading the sample data…"), tempfile.TemporaryDirectory() as folder:
            sample = write_appointments(generate_appointments(2000, 42), Path(folder), "csv")
            ingest([sample], path, extract_date=EXTRACT_DATE)
        st.rerun()
