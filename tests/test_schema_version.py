"""A warehouse records the layout version that built it (warehouse.SCHEMA_VERSION).

Readers (the dashboard, `metrics`, `report`) refuse a file of another version with one line
that says what to do; `clinic-outcomes rebuild` brings an older file up to date from the loads
it holds, with its own extract date and thresholds; a load refuses a newer file and upgrades an
older one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest
from conftest import EXTRACT, Warehouse, appointment, report, run_cli
from dashboard_fixtures import APP, _release_cached_connections  # noqa: F401 - autouse fixture
from streamlit.testing.v1 import AppTest

from pipelines.config import Settings
from pipelines.errors import LoadError
from pipelines.warehouse import SCHEMA_VERSION, connect, rebuild

THRESHOLDS = Settings(inactive_days=60, min_caseload=2, plateau_window=3)
# The score columns of a build from before the measure catalogue (layout 6 and older), and their types.
OLD_SCORE_COLUMNS = {"phq9": "SMALLINT", "gad7": "SMALLINT", "core10": "SMALLINT", "ors": "DOUBLE", "srs": "DOUBLE"}


def rows() -> list[dict[str, object]]:
    """Two clients: one discharged after three scored sessions, one single session and gone."""
    return [
        appointment("A1", "2026-01-05", phq9=18, srs=30),
        appointment("A2", "2026-01-12", phq9=17),
        appointment("A3", "2026-01-19", phq9=9, discharge_date="2026-01-19", discharge_reason="planned"),
        appointment("B1", "2026-02-02", client="C2", therapist="T2", phq9=20),
        appointment("B2", "2026-02-09", client="C2", therapist="T2", status="dna"),
    ]


def as_built_before_versions(db: Path) -> None:
    """Make `db` look like a build of version 1: no schema_version, no column added since, and a
    score column per measure in place of the list of scores (the layout before the catalogue)."""
    con = duckdb.connect(str(db))
    try:
        con.execute("ALTER TABLE settings DROP COLUMN schema_version")
        con.execute("ALTER TABLE episodes DROP COLUMN past_appointments")
        for measure, kind in OLD_SCORE_COLUMNS.items():
            con.execute(f"ALTER TABLE appointments ADD COLUMN {measure} {kind}")
            con.execute(f"UPDATE appointments SET {measure} = [s.score FOR s IN scores IF s.measure = '{measure}'][1]")
        con.execute("ALTER TABLE appointments DROP COLUMN scores")
        con.execute("ALTER TABLE quarantine DROP COLUMN other_scores")
        con.execute("""CREATE OR REPLACE TABLE measures AS SELECT * FROM (VALUES ('phq9', false, 10.0, 6.0),
                       ('gad7', false, 8.0, 4.0), ('core10', false, 11.0, 6.0), ('ors', true, 25.0, 5.0))
                       AS m (measure, is_higher_better, caseness_threshold, reliable_change)""")
        con.execute("UPDATE settings SET tool_version = '0.0.1'")
    finally:
        con.close()


def as_built_by_newer_version(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE settings SET schema_version = schema_version + 1, tool_version = '99.0'")
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_build(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "build"}


@pytest.fixture
def loaded(warehouse: Warehouse) -> Warehouse:
    warehouse.load(rows(), settings=THRESHOLDS)
    return warehouse


# --- readers ---------------------------------------------------------------------------------------


def test_a_build_records_this_versions_schema(loaded):
    assert loaded.query("SELECT schema_version FROM settings").item() == SCHEMA_VERSION


def test_reader_refuses_a_warehouse_built_by_an_older_version_and_names_the_rebuild_command(loaded):
    as_built_before_versions(loaded.path)
    with pytest.raises(LoadError) as refused:
        connect(loaded.path)
    message = str(refused.value)
    assert "\n" not in message
    assert "older clinic-outcomes (0.0.1)" in message
    assert f"clinic-outcomes rebuild --db {loaded.path}" in message


def test_reader_refuses_a_warehouse_built_by_a_newer_version(loaded):
    as_built_by_newer_version(loaded.path)
    with pytest.raises(LoadError, match=r"newer clinic-outcomes \(99\.0\); upgrade clinic-outcomes"):
        connect(loaded.path)


def test_reader_refuses_a_file_whose_settings_are_not_one_row(loaded):
    con = duckdb.connect(str(loaded.path))
    con.execute("DELETE FROM settings")
    con.close()
    with pytest.raises(LoadError, match="not a clinic-outcomes warehouse \\(0 settings rows, not one\\)"):
        connect(loaded.path)


def test_metrics_command_on_an_older_warehouse_is_one_line_naming_the_rebuild(loaded):
    as_built_before_versions(loaded.path)
    result = run_cli("metrics", "--db", str(loaded.path), "--format", "json")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"clinic-outcomes rebuild --db {loaded.path}" in result.stderr


# --- rebuild ---------------------------------------------------------------------------------------


def test_rebuild_makes_an_older_warehouse_readable_with_the_same_metrics(loaded):
    before = without_build(report(loaded))
    loads_before = loaded.query("SELECT * FROM loads")
    as_built_before_versions(loaded.path)

    rebuilt = rebuild(loaded.path)

    assert without_build(report(loaded)) == before
    assert loaded.query("SELECT * FROM loads").equals(loads_before)  # no load was added
    assert rebuilt.previous_tool_version == "0.0.1"
    assert (rebuilt.loads, rebuilt.appointments) == (1, 5)
    assert (rebuilt.extract_date, rebuilt.extract_date_source) == (EXTRACT, "given")
    settings = loaded.query("SELECT * FROM settings").row(0, named=True)
    assert settings["schema_version"] == SCHEMA_VERSION
    assert settings["latest_load_id"] == 1
    assert (settings["extract_date"], settings["extract_date_source"]) == (EXTRACT, "given")


def test_rebuild_keeps_the_builds_own_thresholds(loaded):
    as_built_before_versions(loaded.path)
    rebuilt = rebuild(loaded.path)
    assert rebuilt.settings == THRESHOLDS
    settings = loaded.query("SELECT inactive_days, min_caseload, plateau_window FROM settings").row(0)
    assert settings == (60, 2, 3)


def test_rebuild_with_other_thresholds_applies_them(loaded):
    # C2's last session (2026-02-02) is 148 days before the extract date: closed (inactive) at 60
    # days, still open at 200.
    assert loaded.episode("C2")["status"] == "closed"
    rebuild(loaded.path, settings=Settings(inactive_days=200))
    assert loaded.episode("C2")["status"] == "open"
    assert loaded.query("SELECT inactive_days FROM settings").item() == 200


def test_rebuild_of_a_derived_extract_date_derives_it_again(warehouse):
    warehouse.load(rows(), extract_date=None)
    rebuilt = rebuild(warehouse.path)
    assert (rebuilt.extract_date, rebuilt.extract_date_source) == (dt.date(2026, 2, 9), "latest appointment")


def test_rebuild_command_without_a_warehouse_says_so_in_one_line(tmp_path):
    missing = tmp_path / "none.duckdb"
    result = run_cli("rebuild", "--db", str(missing))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no warehouse here to rebuild" in result.stderr
    assert not missing.exists()


def test_rebuild_command_prints_what_it_rebuilt(loaded):
    as_built_before_versions(loaded.path)
    result = run_cli("rebuild", "--db", str(loaded.path))
    assert result.returncode == 0, result.stderr
    assert "built by clinic-outcomes 0.0.1" in result.stdout
    assert "from 1 load, 5 appointments, with its own thresholds" in result.stdout
    assert f"extract date {EXTRACT} (given)" in result.stdout
    connect(loaded.path).close()


# --- loads -----------------------------------------------------------------------------------------


def test_load_into_a_newer_warehouse_is_refused_and_leaves_it_unchanged(loaded):
    as_built_by_newer_version(loaded.path)
    before = digest(loaded.path)
    with pytest.raises(LoadError, match="built by a newer clinic-outcomes"):
        loaded.load([appointment("C1", "2026-03-02", client="C3")])
    assert digest(loaded.path) == before


def test_load_into_an_older_warehouse_brings_it_up_to_date(loaded):
    as_built_before_versions(loaded.path)
    loaded.load([appointment("C1", "2026-03-02", client="C3")])
    assert loaded.query("SELECT count(*) FROM appointments").item() == 6
    assert loaded.query("SELECT schema_version FROM settings").item() == SCHEMA_VERSION


# --- the dashboard ---------------------------------------------------------------------------------


def dashboard_on(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    from dashboard.data import DB_ENV

    monkeypatch.setenv(DB_ENV, str(db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def test_dashboard_on_an_older_warehouse_names_the_rebuild_and_offers_no_sample_load(loaded, monkeypatch):
    as_built_before_versions(loaded.path)
    before = digest(loaded.path)
    at = dashboard_on(loaded.path, monkeypatch)
    [error] = at.error
    assert f"clinic-outcomes rebuild --db {loaded.path}" in error.value
    assert not at.button  # "Load the sample data" would have loaded the sample into this warehouse
    assert digest(loaded.path) == before


def test_dashboard_on_a_file_that_is_not_a_warehouse_says_so_and_offers_no_sample_load(tmp_path, monkeypatch):
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n", encoding="utf-8")
    at = dashboard_on(path, monkeypatch)
    [error] = at.error
    assert "not a clinic-outcomes warehouse" in error.value
    assert not at.button
    assert path.read_text(encoding="utf-8") == "not a database\n"
