"""The one query layer: every read of the metric tables goes through here.

Each report is a SQL file in sql/reports/ that selects from `scoped_episodes(...)`, a table
macro stored in the warehouse. Filters reach DuckDB only as bound parameters, never as text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl

from pipelines.warehouse import connect, model_sql

_PARAMETER = re.compile(r"\$([a-z_]+)")


@dataclass(frozen=True)
class Scope:
    """Which episodes a report covers (SPEC §5): by attribution and first attended date.

    None means "no filter"; several clinics, therapists or session types match any of them."""

    clinics: tuple[str, ...] | None = None
    therapists: tuple[str, ...] | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    session_types: tuple[str, ...] | None = None

    def params(self) -> dict[str, object]:
        def listed(values: tuple[str, ...] | None) -> list[str] | None:
            return list(values) if values is not None else None

        return {
            "clinics": listed(self.clinics),
            "therapists": listed(self.therapists),
            "from_date": self.from_date,
            "to_date": self.to_date,
            "session_types": listed(self.session_types),
        }


@lru_cache(maxsize=None)
def report_sql(report: str) -> tuple[str, frozenset[str]]:
    sql = model_sql(f"reports/{report}")
    return sql, frozenset(_PARAMETER.findall(sql))


class MetricsReader:
    """Runs the report queries against one warehouse, each on its own cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @classmethod
    def open(cls, db: Path) -> MetricsReader:
        return cls(connect(db))

    def close(self) -> None:
        self.con.close()

    def run(self, report: str, scope: Scope = Scope(), **extra: object) -> pl.DataFrame:
        sql, wanted = report_sql(report)
        given = {**scope.params(), **extra}
        params = {name: given.get(name) for name in wanted}
        cursor = self.con.cursor()
        try:
            return cursor.sql(sql, params=params).pl()
        finally:
            cursor.close()

    def settings(self) -> dict[str, object]:
        cursor = self.con.cursor()
        try:
            return cursor.sql("SELECT * FROM settings").pl().row(0, named=True)
        finally:
            cursor.close()

    def table(self, sql: str, params: dict[str, object] | None = None) -> pl.DataFrame:
        """A fixed query over a warehouse table (no user text); values only as parameters."""
        cursor = self.con.cursor()
        try:
            return cursor.sql(sql, params=params).pl()
        finally:
            cursor.close()
