"""The dashboard's access to the warehouse: one read-only connection per build, cached results.

A load replaces the warehouse file by an atomic rename, so a new build is a new inode: the
connection is keyed on it, and query results on the build id, so a reload is picked up on the
next rerun while earlier pages keep answering from the build they opened.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import gate
from pipelines.errors import LoadError
from pipelines.queries import MetricsReader, Scope

DB_ENV = "CLINIC_OUTCOMES_DB"
DEFAULT_DB = "clinic.duckdb"


def warehouse_path() -> Path:
    return Path(os.environ.get(DB_ENV, DEFAULT_DB))


@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, inode: int, mtime_ns: int) -> MetricsReader:
    return MetricsReader.open(Path(path))


SWAP_RETRIES = 5


def reader() -> MetricsReader | None:
    """The reader for the warehouse as it is now, or None when there is no file. A file that is
    there but cannot be read (not a warehouse, or built by another version) raises LoadError.

    If the file is swapped while it is being opened (a load landing), the open is retried on the
    new file."""
    path = warehouse_path()
    for attempt in range(SWAP_RETRIES):
        try:
            stat = path.stat()
            return _open(str(path.resolve()), stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            return None
        except LoadError:
            try:
                swapped = path.stat().st_ino != stat.st_ino
            except FileNotFoundError:
                return None
            if not swapped:
                raise
            if attempt == SWAP_RETRIES - 1:
                return None
            time.sleep(0.05 * (attempt + 1))
    return None


def _current_reader() -> MetricsReader:
    """reader(), where a page needs one: no file is an error here (app.py shows the Welcome page
    before any page runs without one)."""
    current = reader()
    if current is None:
        raise LoadError(f"{warehouse_path()}: no warehouse to read")
    return current


@st.cache_data(max_entries=1024, show_spinner=False)
def _run(_reader: MetricsReader, build_id: str, clinics: tuple[str, ...] | None, report: str, scope: Scope,
         extra: tuple) -> pl.DataFrame:
    # `clinics` is part of the cache key: two users with different access never share a result.
    return _reader.restricted(clinics).run(report, scope, **dict(extra))


def run(report: str, scope: Scope, **extra: object) -> pl.DataFrame:
    """A report from sql/reports/, for the filtered scope narrowed to the clinics this session
    may see (gate.allowed_clinics), cached per warehouse build. Raises AccessDenied for a report
    that spans every clinic when the session sees only some."""
    current = _current_reader()
    # The build id of this very reader: a load landing now must not file old results under the new id.
    return _run(current, current.settings()["build_id"], gate.allowed_clinics(), report, scope,
                tuple(sorted(extra.items())))


def restricted_reader() -> MetricsReader:
    """The current warehouse's reader narrowed to the clinics this session may see, for work that
    runs many reports at once (the board report) rather than one cached report."""
    return _current_reader().restricted(gate.allowed_clinics())


def build() -> dict[str, object]:
    current = reader()
    return current.settings() if current is not None else {}
