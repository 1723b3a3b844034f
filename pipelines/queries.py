"""The one query layer: every read of the metric tables goes through here.

Each report is a SQL file in sql/reports/ that filters with the `in_scope(...)` macro stored in
the warehouse. Filters reach DuckDB only as bound parameters, never as text; no report text
comes from a user.

A reader may be restricted to some clinics (the access file, pipelines/access.py): then every
report runs with its clinics parameter narrowed to them, whatever the filters asked for, and a
report that has no clinics parameter (it spans every clinic) is refused. The clinics filter selects
episodes by attribution; a report that lists appointments also takes $visible_clinics, the
reader's own clinics (NULL: every clinic), so that an episode's appointments at other clinics stay
hidden (docs/security.md#who-sees-what).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl

from pipelines.errors import AccessDenied
from pipelines.warehouse import connect, model_sql, reader_cursor

_PARAMETER = re.compile(r"\$([a-z_]+)")


@dataclass(frozen=True)
class Scope:
    """Which episodes a report covers (docs/metrics/index.md#filters): by attribution and first attended date.

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
    """Runs the report queries against one warehouse, each on its own cursor.

    `clinics` restricts every report to those clinics (None: every clinic)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, clinics: tuple[str, ...] | None = None) -> None:
        self.con = con
        self.clinics = clinics
        self._settings: dict[str, object] | None = None

    def restricted(self, clinics: tuple[str, ...] | None) -> MetricsReader:
        """A reader on the same connection that sees only these clinics (None: every clinic)."""
        return MetricsReader(self.con, tuple(clinics) if clinics is not None else None)

    def limit(self, scope: Scope) -> Scope:
        """The scope narrowed to the clinics this reader may see."""
        if self.clinics is None:
            return scope
        asked = scope.clinics if scope.clinics is not None else self.clinics
        return replace(scope, clinics=tuple(c for c in asked if c in self.clinics))

    @classmethod
    def open(cls, db: Path) -> MetricsReader:
        return cls(connect(db))

    def close(self) -> None:
        self.con.close()

    def run(self, report: str, scope: Scope = Scope(), **extra: object) -> pl.DataFrame:
        sql, wanted = report_sql(report)
        if self.clinics is not None and "clinics" not in wanted:
            raise AccessDenied(f"the {report.replace('_', ' ')} report spans every clinic; "
                               "it is shown only to users with access to all clinics")
        # visible_clinics last: no caller's extra parameter can widen what this reader may see
        given = {**self.limit(scope).params(), **extra,
                 "visible_clinics": list(self.clinics) if self.clinics is not None else None}
        params = {name: given.get(name) for name in wanted}
        cursor = reader_cursor(self.con)
        try:
            return cursor.sql(sql, params=params).pl()
        finally:
            cursor.close()

    def settings(self) -> dict[str, object]:
        """The build's settings row (extract date, build id, thresholds): fixed for a connection."""
        if self._settings is None:
            cursor = reader_cursor(self.con)
            try:
                self._settings = cursor.sql("SELECT * FROM settings").pl().row(0, named=True)
            finally:
                cursor.close()
        return self._settings
