"""Atomic loads (docs/security.md): a load that fails or is killed leaves the warehouse exactly as it
was before it; a load that succeeds keeps the file's permissions.

The warehouse is rebuilt in a `.NAME.building-*` file beside the old one and swapped in with
os.replace; a lock file keeps two loads apart.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import pipelines.warehouse as warehouse_module
from conftest import appointment, write_csv
from pipelines.errors import LoadError
from pipelines.warehouse import connect, ingest, load_lock, rebuild

REPO = Path(__file__).resolve().parents[1]
FIRST_LOAD = [
    appointment("A1", "2026-03-01", client="C1"),
    appointment("A2", "2026-03-08", client="C1", discharge_date="2026-03-08", discharge_reason="planned"),
    appointment("A3", "2026-04-01", client="C2"),
]
NEXT_LOAD = [appointment("N1", "2026-05-01", client="C9")]


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """What 'left exactly as it was' means for the file: same bytes, same mtime, same inode."""
    stat = path.stat()
    return path.read_bytes(), stat.st_mtime_ns, stat.st_ino


def building_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building-" in p.name)


def appointment_ids(db: Path) -> list[str]:
    """Read through the package's own read-only connection: the warehouse must still open."""
    con = connect(db)
    try:
        return sorted(r[0] for r in con.sql("SELECT appointment_id FROM appointments").fetchall())
    finally:
        con.close()


@pytest.fixture
def previous(warehouse):
    """A warehouse holding FIRST_LOAD, and its snapshot."""
    warehouse.load(FIRST_LOAD)
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3"]
    return warehouse, snapshot(warehouse.path)


def assert_left_as_it_was(warehouse, before) -> None:
    assert snapshot(warehouse.path) == before, "the warehouse file was changed by a failed load"
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3"]
    assert warehouse.query("SELECT count(*) FROM episodes").item() == 2
    assert building_leftovers(warehouse.folder) == []


# --- a file that cannot be read ------------------------------------------------------------------


def _random_bytes(folder: Path) -> Path:
    path = folder / "garbage.csv"
    path.write_bytes(b"\x80\x81" + random.Random(7).randbytes(4096))
    return path


def _missing_required_columns(folder: Path) -> Path:
    return write_csv(folder, [{"appointment_id": "B1", "client_id": "C1", "appointment_date": "2026-05-01"}],
                     "no_status.csv")


def _empty_file(folder: Path) -> Path:
    path = folder / "empty.csv"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("bad_file", [_random_bytes, _missing_required_columns, _empty_file],
                         ids=["random-bytes", "missing-required-columns", "empty"])
def test_unreadable_file_after_a_good_one_fails_load_and_leaves_warehouse_exactly_as_it_was(previous, bad_file):
    warehouse, before = previous
    good = write_csv(warehouse.folder, [appointment("B1", "2026-05-01", client="C5")], "good.csv")
    bad = bad_file(warehouse.folder)
    with pytest.raises(LoadError) as failure:
        warehouse.load([good, bad])
    message = str(failure.value)
    assert str(bad) in message and str(good) not in message
    assert "\n" not in message
    assert_left_as_it_was(warehouse, before)


# --- a failure while building --------------------------------------------------------------------


def _raising_model(model: str) -> str:
    raise RuntimeError(f"simulated failure while building {model}")


@pytest.mark.parametrize("failing_model", ["staging/stg_appointments", "marts/episodes", "marts/episode_issues"])
def test_failure_during_build_leaves_previous_warehouse_and_no_building_file(previous, monkeypatch, failing_model):
    warehouse, before = previous
    original = warehouse_module.model_sql
    monkeypatch.setattr(warehouse_module, "model_sql",
                        lambda model: _raising_model(model) if model == failing_model else original(model))
    with pytest.raises(RuntimeError, match="simulated failure"):
        warehouse.load(NEXT_LOAD)
    assert_left_as_it_was(warehouse, before)


def test_broken_model_sql_leaves_previous_warehouse_and_no_building_file(previous, monkeypatch):
    warehouse, before = previous
    original = warehouse_module.model_sql
    monkeypatch.setattr(warehouse_module, "model_sql",
                        lambda model: "SELECT no_such_column FROM sessions" if model == "marts/episodes"
                        else original(model))
    with pytest.raises(duckdb.Error):
        warehouse.load(NEXT_LOAD)
    assert_left_as_it_was(warehouse, before)


def test_failed_first_load_leaves_no_warehouse_file_behind(warehouse, monkeypatch):
    monkeypatch.setattr(warehouse_module, "model_sql", _raising_model)
    with pytest.raises(RuntimeError):
        warehouse.load(FIRST_LOAD)
    assert not warehouse.path.exists()
    assert building_leftovers(warehouse.folder) == []


def test_load_after_a_failed_build_succeeds(previous, monkeypatch):
    warehouse, _ = previous
    with monkeypatch.context() as patch:
        patch.setattr(warehouse_module, "model_sql", _raising_model)
        with pytest.raises(RuntimeError):
            warehouse.load(NEXT_LOAD)
    warehouse.load(NEXT_LOAD)
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3", "N1"]


@pytest.mark.parametrize("mode", [0o600, 0o640], ids=["600", "640"])
def test_a_load_and_a_rebuild_keep_the_warehouse_file_permissions(previous, mode):
    warehouse, _ = previous
    warehouse.path.chmod(mode)
    warehouse.load(NEXT_LOAD)
    assert warehouse.path.stat().st_mode & 0o777 == mode
    warehouse_module.rebuild(warehouse.path)
    assert warehouse.path.stat().st_mode & 0o777 == mode
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3", "N1"]


# --- a process killed in the middle of an ingest ---------------------------------------------------


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    """300,000 appointments for 30,000 clients: a few seconds of ingest."""
    rows = 300_000
    rng = np.random.default_rng(20260630)
    frame = pl.DataFrame({
        "appointment_id": pl.int_range(rows, eager=True).cast(pl.String).str.pad_start(7, "0"),
        "client_id": pl.Series(np.arange(rows) % 30_000).cast(pl.String),
        "therapist_id": pl.Series(rng.integers(0, 200, rows)).cast(pl.String),
        "clinic_id": pl.Series(rng.integers(0, 20, rows)).cast(pl.String),
        "appointment_date": pl.Series(rng.integers(0, 700, rows) + 19_800).cast(pl.Int32).cast(pl.Date),
        "status": rng.choice(["attended", "dna", "cancelled"], rows, p=[0.7, 0.2, 0.1]),
        "phq9": rng.integers(0, 28, rows),
    }).with_columns(("B" + pl.col("appointment_id")).alias("appointment_id"))
    path = tmp_path_factory.mktemp("big") / "big.csv"
    frame.write_csv(path)
    return path


def _wait_for_building_file(folder: Path, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not building_leftovers(folder):
        assert process.poll() is None, "the ingest ended before it started building"
        assert time.monotonic() < deadline, "the ingest never started building"
        time.sleep(0.01)
    time.sleep(0.3)


# Fixed points (early in the read, mid-validation, while the new file is being built) and three
# drawn at random (seeded, so a failure can be replayed) across the load.
KILL_POINTS = [0.5, 1.5, "building", *(round(random.Random(20261126 + n).uniform(0.1, 2.5), 2) for n in range(3))]


@pytest.mark.parametrize("kill_after", KILL_POINTS,
                         ids=[f"after-{k}s" if isinstance(k, float) else "while-building" for k in KILL_POINTS])
def test_sigkill_during_ingest_leaves_previous_warehouse_readable_and_next_load_succeeds(
        previous, big_log, kill_after, record_property, capsys):
    warehouse, before = previous
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ingest", str(big_log), "--db", str(warehouse.path),
         "--extract-date", "2026-06-30"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if kill_after == "building":
            _wait_for_building_file(warehouse.folder, process)
        else:
            time.sleep(kill_after)
        assert process.poll() is None, "the ingest finished before it could be killed; use a bigger file"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    leftovers = building_leftovers(warehouse.folder)
    record_property("building_leftovers_after_sigkill", leftovers)
    with capsys.disabled():
        print(f"\n[sigkill {kill_after}] leftovers: {leftovers or 'none'}", end="")

    assert snapshot(warehouse.path) == before, "a killed load changed the warehouse file"
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3"]
    assert warehouse.query("SELECT count(*) FROM episodes").item() == 2

    report = warehouse.load(NEXT_LOAD)
    assert report.reconciles
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3", "N1"]
    assert building_leftovers(warehouse.folder) == [], "the next load did not clear a killed load's leftovers"


# --- two loads at once ---------------------------------------------------------------------------


def test_second_load_while_another_holds_the_lock_fails_with_one_line_error(previous):
    warehouse, before = previous
    with load_lock(warehouse.path):
        with pytest.raises(LoadError) as failure:
            warehouse.load(NEXT_LOAD)
    message = str(failure.value)
    assert "another load" in message and "running" in message
    assert str(warehouse.path) in message
    assert "\n" not in message
    assert_left_as_it_was(warehouse, before)
    # Once the first load is done, the second can go ahead.
    warehouse.load(NEXT_LOAD)
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3", "N1"]


def test_cli_ingest_while_another_load_holds_the_lock_exits_non_zero_with_one_line(previous):
    warehouse, before = previous
    log = write_csv(warehouse.folder, NEXT_LOAD, "next.csv")
    with load_lock(warehouse.path):
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "ingest", str(log), "--db", str(warehouse.path),
             "--extract-date", dt.date(2026, 6, 30).isoformat()],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "another load into this warehouse is running" in lines[0]
    assert_left_as_it_was(warehouse, before)


# --- a warehouse behind a symbolic link (docs/operations.md#a-warehouse-behind-a-link) ------------


@pytest.fixture
def linked(previous):
    """The warehouse of `previous` and a symbolic link to it from another folder."""
    warehouse, before = previous
    elsewhere = warehouse.folder / "current"
    elsewhere.mkdir()
    link = elsewhere / "clinic.duckdb"
    link.symlink_to(warehouse.path)
    return warehouse, before, link


def build_id(db: Path) -> str:
    con = connect(db)
    try:
        return con.sql("SELECT build_id FROM settings").fetchall()[0][0]
    finally:
        con.close()


@pytest.mark.parametrize("held_by", ["link", "file"])
def test_loads_via_a_link_and_via_the_file_share_one_lock(linked, held_by):
    warehouse, before, link = linked
    held, loaded = (link, warehouse.path) if held_by == "link" else (warehouse.path, link)
    with load_lock(held):
        with pytest.raises(LoadError, match="another load into this warehouse is running"):
            ingest([write_csv(warehouse.folder, NEXT_LOAD, "next.csv")], loaded)
    assert_left_as_it_was(warehouse, before)
    assert link.is_symlink()


def test_a_load_via_a_link_keeps_the_link_and_both_names_show_the_new_build(linked):
    warehouse, before, link = linked
    ingest([write_csv(warehouse.folder, NEXT_LOAD, "next.csv")], link)
    assert link.is_symlink() and link.resolve() == warehouse.path.resolve()
    assert appointment_ids(warehouse.path) == ["A1", "A2", "A3", "N1"]
    assert build_id(link) == build_id(warehouse.path)
    assert sorted(p.name for p in link.parent.iterdir()) == ["clinic.duckdb"]  # nothing built beside the link


def test_a_rebuild_via_a_link_keeps_the_link(linked):
    warehouse, before, link = linked
    rebuild(link)
    assert link.is_symlink()
    assert build_id(link) == build_id(warehouse.path) and snapshot(warehouse.path) != before
