"""The dashboard's access to the warehouse: one read-only connection per build, cached results.

A load replaces the warehouse file by an atomic rename, so a new build is a new inode: the
connection is keyed on it, and query results on the build id, so a reload is picked up on the
next rerun while earlier pages keep answering from the build they opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import streamlit as st

from pipelines.errors import LoadError
from pipelines.queries import MetricsReader, Scope

DB_ENV = "CLINIC_OUTCOMES_DB"
DEFAULT_DB = "clinic.duckdb"


def warehouse_path() -> Path:
    return Path(os.environ.get(DB_ENV, DEFAULT_DB))


@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, inode: int, mtime_ns: int) -> MetricsReader:
    return MetricsReader.open(Path(path))


def reader() -> MetricsReader | None:
    """The reader for the warehouse as it is now, or None when there is none to read."""
    path = warehouse_path()
    try:
        stat = path.stat()
        return _open(str(path.resolve()), stat.st_ino, stat.st_mtime_ns)
    except (FileNotFoundError, LoadError):
        return None


@st.cache_data(max_entries=1024, show_spinner=False)
def _run(_reader: MetricsReader, build_id: str, report: str, scope: Scope, extra: tuple) -> pl.DataFrame:
    return _reader.run(report, scope, **dict(extra))


def run(report: str, scope: Scope, **extra: object) -> pl.DataFrame:
    """A report from sql/reports/, for the filtered scope, cached per warehouse build."""
    current = reader()
    if current is None:
        raise LoadError(f"{warehouse_path()}: no warehouse to read")
    return _run(current, build()["build_id"], report, scope, tuple(sorted(extra.items())))


def build() -> dict[str, object]:
    current = reader()
    return current.settings() if current is not None else {}
