"""Incremental loads (docs/operations.md#incremental-loads): a load that touches a few clients
computes only their rows of every model, and the warehouse it leaves equals one whose models were
all built again from the same loads: every table, compared both ways with EXCEPT ALL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipelines.warehouse
from pipelines.generate import generate_appointments
from pipelines.warehouse import INCREMENTAL_SHARE, ingest

EXTRACT = dt.date(2026, 6, 30)
# Columns that differ between any two builds, by design: when and which build.
BUILD_STAMPS = ("build_id", "built_at", "loaded_at", "build_number")


@pytest.fixture(scope="module")
def first_log() -> pl.DataFrame:
    return generate_appointments(300, 11).with_columns(pl.col(pl.Date, pl.Datetime).dt.to_string("%Y-%m-%d"))


def write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_csv(path)
    return path


def first_files(first: pl.DataFrame, folder: Path) -> list[Path]:
    """The first load: the generated log, and one client's appointments in a file without episode
    ids (their episodes are derived)."""
    return [write(first, folder / "first.csv"), write(derived_client(first), folder / "derived.csv")]


def derived_client(first: pl.DataFrame) -> pl.DataFrame:
    client = first["client_id"].unique().sort()[13]
    return first.filter(pl.col("client_id") == client).drop("episode_id").with_columns(
        pl.lit("C9999998").alias("client_id"), ("D" + pl.col("appointment_id")).alias("appointment_id"))


def later_log(first: pl.DataFrame, folder: Path) -> list[Path]:
    """A later extract touching a few clients: re-sent rows with a new status and score, a row
    moved to another client, a new client, and the client without episode ids re-sent with a gap
    that splits an episode in two."""
    clients = first["client_id"].unique().sort()
    touched = clients[:6]
    resent = first.filter(pl.col("client_id").is_in(touched.implode())).with_row_index().with_columns(
        pl.when((pl.col("status") == "attended") & (pl.col("index") % 3 == 0)).then(pl.lit("dna"))
        .otherwise(pl.col("status")).alias("status"),
        (pl.col("phq9") + 3).clip(0, 27).alias("phq9")).drop("index")
    moved = first.filter(pl.col("client_id") == clients[10]).head(1).with_columns(
        pl.lit(clients[11]).alias("client_id"))
    newcomer = first.filter(pl.col("client_id") == clients[12]).with_columns(
        pl.lit("C9999999").alias("client_id"), ("N" + pl.col("appointment_id")).alias("appointment_id"))
    derived = derived_client(first).with_row_index().with_columns(
        pl.when(pl.col("index") >= 2).then(pl.col("appointment_date").str.to_date() + pl.duration(days=200))
        .otherwise(pl.col("appointment_date").str.to_date()).dt.to_string("%Y-%m-%d").alias("appointment_date"),
    ).drop("index").filter(pl.col("appointment_date") <= str(EXTRACT))
    return [write(pl.concat([resent, moved, newcomer]), folder / "later.csv"),
            write(derived, folder / "derived-again.csv")]


def built(folder: Path, logs: list[list[Path]], *, incremental: bool, monkeypatch, extract=EXTRACT) -> Path:
    """A warehouse in `folder` after the loads in turn; the last may update its models in place."""
    monkeypatch.setattr(pipelines.warehouse, "INCREMENTAL_SHARE", INCREMENTAL_SHARE if incremental else -1.0)
    db = folder / "clinic.duckdb"
    reports = [ingest(paths, db, extract_date=extract) for paths in logs]
    assert not reports[0].incremental
    assert reports[-1].incremental == incremental
    return db


def differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per table, the rows of a not in b and of b not in a (EXCEPT ALL), leaving out the columns
    that only say which build; every table of either."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() WHERE database_name IN ('a', 'b')")
              .fetchall()}
    found = {}
    for table in sorted(tables):
        columns = [r[0] for r in con.sql(f"DESCRIBE a.{table}").fetchall() if r[0] not in BUILD_STAMPS]
        assert columns == [r[0] for r in con.sql(f"DESCRIBE b.{table}").fetchall() if r[0] not in BUILD_STAMPS]
        listed = ", ".join(f'"{c}"' for c in columns)
        one_way = f"SELECT count(*) FROM (SELECT {listed} FROM {{}}.{table} EXCEPT ALL SELECT {listed} FROM {{}}.{table})"
        found[table] = (con.sql(one_way.format("a", "b")).fetchall()[0][0],
                        con.sql(one_way.format("b", "a")).fetchall()[0][0])
    con.close()
    return found


def test_an_incremental_load_equals_building_every_model_again(tmp_path, monkeypatch, first_log):
    first = first_files(first_log, tmp_path)
    later = later_log(first_log, tmp_path)
    (tmp_path / "inc").mkdir()
    (tmp_path / "full").mkdir()
    updated = built(tmp_path / "inc", [first, later], incremental=True, monkeypatch=monkeypatch)
    rebuilt = built(tmp_path / "full", [first, later], incremental=False, monkeypatch=monkeypatch)
    found = differences(updated, rebuilt)
    assert {"appointments", "episodes", "sessions", "outcomes", "plateaus", "trajectories", "waits",
            "derived_episodes", "flag_history", "settings"} <= set(found)
    assert {table: rows for table, rows in found.items() if rows != (0, 0)} == {}
    # And the later load did change models: it is not equal to the first build.
    con = duckdb.connect(str(updated), read_only=True)
    assert con.sql("SELECT count(*) FROM episodes WHERE client_id IN ('C9999999', 'C9999998')").fetchall()[0][0] >= 2
    con.close()


def test_a_load_that_moves_the_extract_date_builds_every_model_again(tmp_path, monkeypatch, first_log):
    # Every episode's status and every duration reads the extract date: no update in place.
    first = [write(first_log, tmp_path / "first.csv")]
    db = tmp_path / "clinic.duckdb"
    ingest(first, db, extract_date=EXTRACT)
    report = ingest(later_log(first_log, tmp_path), db, extract_date=EXTRACT + dt.timedelta(days=1))
    assert not report.incremental
    (tmp_path / "full").mkdir()
    monkeypatch.setattr(pipelines.warehouse, "INCREMENTAL_SHARE", -1.0)
    again = tmp_path / "full" / "clinic.duckdb"
    ingest(first, again, extract_date=EXTRACT)
    ingest(later_log(first_log, tmp_path), again, extract_date=EXTRACT + dt.timedelta(days=1))
    assert {table: rows for table, rows in differences(db, again).items() if rows != (0, 0)} == {}


def test_a_load_touching_many_clients_builds_every_model_again(tmp_path, first_log):
    db = tmp_path / "clinic.duckdb"
    ingest([write(first_log, tmp_path / "first.csv")], db, extract_date=EXTRACT)
    every_client_again = first_log.with_columns(pl.col("phq9") // 2)
    report = ingest([write(every_client_again, tmp_path / "again.csv")], db, extract_date=EXTRACT)
    assert not report.incremental


def test_other_thresholds_or_other_models_build_every_model_again(tmp_path, monkeypatch, first_log):
    from pipelines.config import Settings

    db = tmp_path / "clinic.duckdb"
    first = [write(first_log, tmp_path / "first.csv")]
    ingest(first, db, extract_date=EXTRACT)
    later = later_log(first_log, tmp_path)
    assert not ingest(later, db, extract_date=EXTRACT, settings=Settings(episode_gap_days=60)).incremental
    monkeypatch.setattr(pipelines.warehouse, "models_hash", lambda: "a later version's models")
    assert not ingest(later, db, extract_date=EXTRACT, settings=Settings(episode_gap_days=60)).incremental


def test_every_model_table_can_be_updated_by_client(tmp_path, first_log):
    # An incremental load replaces a model's rows by client_id: every model table must carry it (a
    # summary of them, warehouse.SUMMARIES, is built whole after them).
    from pipelines.warehouse import EPHEMERAL, MODELS

    db = tmp_path / "clinic.duckdb"
    ingest([write(first_log, tmp_path / "first.csv")], db, extract_date=EXTRACT)
    con = duckdb.connect(str(db), read_only=True)
    for model in MODELS:
        if model.startswith("staging/") or model in EPHEMERAL:
            continue
        name = Path(model).name
        assert "client_id" in {r[0] for r in con.sql(f"DESCRIBE {name}").fetchall()}, model
    con.close()


CHANGES = ("status", "score", "date", "move", "new client")


@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(touched=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(CHANGES)), min_size=1, max_size=6))
def test_any_later_load_of_a_few_clients_equals_building_every_model_again(tmp_path_factory, monkeypatch,
                                                                         first_log, touched):
    folder = tmp_path_factory.mktemp("any")
    clients = first_log["client_id"].unique().sort()
    parts = []
    for number, change in touched:
        rows = first_log.filter(pl.col("client_id") == clients[number])
        if change == "status":
            rows = rows.with_columns(pl.when(pl.col("status") == "attended").then(pl.lit("cancelled_client"))
                                     .otherwise(pl.col("status")).alias("status"))
        elif change == "score":
            rows = rows.with_columns((27 - pl.col("phq9")).alias("phq9"))
        elif change == "date":  # every appointment a month earlier
            rows = rows.with_columns((pl.col("appointment_date").str.to_date() - pl.duration(days=30))
                                     .dt.to_string("%Y-%m-%d").alias("appointment_date"))
        elif change == "move":  # to the next client: both change
            rows = rows.head(2).with_columns(pl.lit(clients[number + 1]).alias("client_id"))
        else:
            rows = rows.with_columns(pl.lit(f"NEW{number}").alias("client_id"),
                                     (f"NEW{number}-" + pl.col("appointment_id")).alias("appointment_id"))
        parts.append(rows)
    later = pl.concat(parts).unique("appointment_id", keep="last", maintain_order=True)
    logs = [first_files(first_log, folder), [write(later, folder / "later.csv")]]
    (folder / "inc").mkdir()
    (folder / "full").mkdir()
    updated = built(folder / "inc", logs, incremental=True, monkeypatch=monkeypatch)
    rebuilt = built(folder / "full", logs, incremental=False, monkeypatch=monkeypatch)
    assert {table: rows for table, rows in differences(updated, rebuilt).items() if rows != (0, 0)} == {}
