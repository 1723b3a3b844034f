"""Fixtures built in code: small appointment logs written to a temporary folder."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.config import Settings
from pipelines.warehouse import LoadReport, connect, ingest

EXTRACT = dt.date(2026, 6, 30)
REPO = Path(__file__).resolve().parent.parent
REQUIRED = ("appointment_id", "client_id", "therapist_id", "clinic_id", "appointment_date", "status")


def appointment(appointment_id: str, date: str, status: str = "attended", client: str = "C1",
                therapist: str = "T1", clinic: str = "K1", **optional: object) -> dict[str, object]:
    """One appointment row; optional columns (episode_id, phq9, discharge_date, …) as keywords."""
    row: dict[str, object] = {"appointment_id": appointment_id, "client_id": client, "therapist_id": therapist,
                              "clinic_id": clinic, "appointment_date": date, "status": status}
    row.update(optional)
    return row


def write_csv(folder: Path, rows: list[dict[str, object]], name: str = "log.csv",
              columns: list[str] | None = None) -> Path:
    """Write rows as CSV; columns default to the union of the rows' keys, in first-seen order."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`clinic-outcomes ARGS` in a child process, as a user runs it (no debug tracebacks)."""
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_OUTCOMES_DEBUG"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**env, "COLUMNS": "80"})


class Warehouse:
    """A warehouse in a temporary folder, loaded from rows given in the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "clinic.duckdb"
        self._files = 0

    def load(self, rows: list[dict[str, object]] | list[Path], extract_date: dt.date | None = EXTRACT,
             settings: Settings | None = None, columns: list[str] | None = None, **options) -> LoadReport:
        if rows and isinstance(rows[0], Path):
            paths = list(rows)
        else:
            self._files += 1
            paths = [write_csv(self.folder, rows, f"log{self._files}.csv", columns)]
        return ingest(paths, self.path, extract_date=extract_date, settings=settings, **options)

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        con = connect(self.path)  # the readers' configuration: DuckDB refuses two in one process
        try:
            return con.sql(sql, params=params).pl()
        finally:
            con.close()

    def episode(self, client: str = "C1", episode: str = "1") -> dict[str, object]:
        rows = self.query("SELECT * FROM episodes WHERE client_id = ? AND episode_id = ?", [client, episode])
        assert rows.height == 1, f"expected one episode {client}/{episode}, found {rows.height}"
        return rows.row(0, named=True)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path)


# --- the metrics report (docs/metrics/report.md), for the metric, Kaplan–Meier and schema tests ------------------


def report(warehouse: Warehouse, scope=None) -> dict:
    """The metrics report of a warehouse, as `clinic-outcomes metrics` builds it (scope: a Scope)."""
    from pipelines.queries import MetricsReader, Scope
    from pipelines.report import metrics_report

    reader = MetricsReader.open(warehouse.path)
    try:
        return metrics_report(reader, scope if scope is not None else Scope())
    finally:
        reader.close()


@pytest.fixture(scope="session")
def sample_like_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A warehouse like the bundled sample, smaller: 500 generated clients (seed 1), built once."""
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments

    folder = tmp_path_factory.mktemp("sample_like")
    path = write_appointments(generate_appointments(clients=500, seed=1), folder)
    built = Warehouse(folder)
    built.load([path], extract_date=EXTRACT_DATE)
    return built
