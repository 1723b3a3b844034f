"""The build's memory limit (docs/operations.md#disk-and-memory): `--memory-limit` of `ingest` and
`rebuild` holds DuckDB to a size or a share of the machine's memory, the build spills beyond it
into a folder beside the file being built, and a build that cannot fit says so in one line and
leaves the warehouse as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import REPO, Warehouse, report, run_cli

from pipelines.errors import LoadError
from pipelines.memory import MINIMUM, UNITS, available_memory, default_memory_limit, parse_memory_limit
from pipelines.warehouse import build_connection, ingest, rebuild, spill_folder

SAMPLE = REPO / "sample_data" / "appointments.csv"


@pytest.mark.parametrize(("text", "size"), [
    ("64MiB", 64 * 2**20), ("2000MB", 2000 * 10**6), ("1.5GiB", int(1.5 * 2**30)), ("1 gib", 2**30),
    ("100000KB", 100_000 * 10**3),
])
def test_memory_limit_takes_a_size_with_its_unit(text, size):
    assert parse_memory_limit(text) == size


def test_memory_limit_takes_a_share_of_the_machines_memory():
    assert parse_memory_limit("50%") == available_memory() // 2
    assert parse_memory_limit("100%") == available_memory()


def test_the_default_memory_limit_is_half_the_machines_memory_at_most_one_gib(monkeypatch):
    import pipelines.memory

    assert default_memory_limit() == max(MINIMUM, min(2**30, available_memory() // 2))
    monkeypatch.setattr(pipelines.memory, "available_memory", lambda: 24 * 2**30)
    assert default_memory_limit() == 2**30
    monkeypatch.setattr(pipelines.memory, "available_memory", lambda: 1536 * 2**20)
    assert default_memory_limit() == 768 * 2**20


@pytest.mark.parametrize(("text", "says"), [
    ("lots", "give a size with its unit"),
    ("512", "give a size with its unit"),  # a number without a unit is not guessed at
    ("0%", "more than 0% and at most 100%"),
    ("150%", "more than 0% and at most 100%"),
    ("20MB", "less than the 64 MiB a build needs at the least"),
    ("99999TiB", "more than the"),
])
def test_a_bad_memory_limit_is_one_line_naming_it(tmp_path, text, says):
    result = run_cli("rebuild", "--db", str(tmp_path / "clinic.duckdb"), "--memory-limit", text)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: --memory-limit '{text}': ")
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_build_connection_holds_the_limit_and_spills_beside_the_file_being_built(tmp_path):
    building = tmp_path / ".clinic.duckdb.building-0123456789ab"
    con = build_connection(building, 100 * UNITS["mib"])
    try:
        limit = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        folder = con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0]
    finally:
        con.close()
    assert limit.replace(" ", "") in {"100.0MiB", "100MiB"}
    assert Path(folder) == spill_folder(building) == tmp_path / ".clinic.duckdb.building-0123456789ab.spill"


def without_build(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "build"}


def test_a_build_at_the_smallest_limit_equals_one_at_the_default_and_leaves_no_spill(tmp_path):
    small, default = Warehouse(tmp_path / "small"), Warehouse(tmp_path / "default")
    for warehouse, limit in ((small, MINIMUM), (default, None)):
        warehouse.folder.mkdir()
        warehouse.load([SAMPLE], extract_date=None, memory_limit=limit)
    assert without_build(report(small)) == without_build(report(default))
    assert sorted(p.name for p in small.folder.iterdir()) == ["clinic.duckdb", "clinic.duckdb.lock"]


def test_a_build_that_cannot_fit_its_memory_says_so_and_leaves_the_warehouse_as_it_was(tmp_path):
    db = tmp_path / "clinic.duckdb"
    ingest([SAMPLE], db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    # below the minimum the command line accepts: the sample's models cannot run in 8 MiB
    with pytest.raises(LoadError) as refused:
        rebuild(db, memory_limit=8 * UNITS["mib"])
    assert str(refused.value) == (f"{db}: the build needed more memory than --memory-limit allows (8 MiB), even "
                                  "spilling to disk; the warehouse was left as it was; give a larger --memory-limit "
                                  "(docs/operations.md#disk-and-memory)")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.duckdb", "clinic.duckdb.lock"]


def test_a_spill_folder_left_by_a_killed_build_is_removed_by_the_next(tmp_path):
    db = tmp_path / "clinic.duckdb"
    ingest([SAMPLE], db)
    stale = tmp_path / ".clinic.duckdb.building-deadbeef0000.spill"
    stale.mkdir()
    (stale / "duckdb_temp_storage-0.tmp").write_bytes(b"\0" * 1024)
    rebuild(db)
    assert not stale.exists()
