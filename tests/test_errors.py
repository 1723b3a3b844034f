"""Errors a user can act on (docs/operations.md#when-a-write-is-refused, docs/loading/settings.md): a
folder that cannot be written, a full disk and a setting out of range each end in one line that says
what happened, where, and what to do; never `error: unexpected …`.

We run as root, who may write anywhere: the real refusals come from running the command without
root's capabilities (setpriv), from a read-only or a small tmpfs mount; each has an injected twin
that runs anywhere.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipelines.warehouse as warehouse_module
from conftest import EXTRACT, REPO, appointment, run_cli, write_csv
from pipelines.config import SETTING_RANGES, Settings, load_settings
from pipelines.errors import LoadError
from test_atomicity import building_leftovers, snapshot

ROWS = [appointment("A1", "2026-03-01"), appointment("A2", "2026-03-08", status="dna")]
NEXT_ROWS = [appointment(f"N{i}", "2026-04-01", client=f"C{i}") for i in range(200)]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "unexpected" not in lines[0], lines[0]
    return lines[0]


# --- a folder that cannot be written -------------------------------------------------------------


def run_cli_without_root_powers(*args: str) -> subprocess.CompletedProcess:
    """`clinic-outcomes ARGS` as root stripped of its capabilities: file permissions apply again."""
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_OUTCOMES_DEBUG"}
    return subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--",
                           sys.executable, "-m", "pipelines.cli", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": "80"})


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder (mode 555) holding a warehouse and its load's CSV file."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop root's power to write anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    log = write_csv(folder, ROWS)
    result = run_cli("ingest", str(log), "--db", str(folder / "clinic.duckdb"))
    assert result.returncode == 0, result.stderr
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("command", [
    ["ingest", "{folder}/log.csv", "--db", "{folder}/clinic.duckdb"],
    ["ingest", "{folder}/log.csv", "--db", "{folder}/new.duckdb"],
    ["rebuild", "--db", "{folder}/clinic.duckdb"],
    ["generate", "--clients", "3", "--out", "{folder}"],
    ["generate", "--clients", "3", "--out", "{folder}/sample"],
    ["report", "--db", "{folder}/clinic.duckdb", "--out", "{folder}/board.html"],
    ["demo", "--db", "{folder}/demo.duckdb", "--headless"],
], ids=["ingest", "ingest, new warehouse", "rebuild", "generate", "generate, new folder", "report", "demo"])
def test_a_folder_that_cannot_be_written_is_named_with_what_to_do(read_only_folder, command):
    before = snapshot(read_only_folder / "clinic.duckdb")
    listing = sorted(p.name for p in read_only_folder.iterdir())
    line = one_error_line(run_cli_without_root_powers(*(part.format(folder=read_only_folder) for part in command)))
    assert line.startswith(f"error: cannot write to {read_only_folder}/: permission denied"), line
    assert "choose a" in line and ("--db" in line or "--out" in line), line
    if command[0] in ("ingest", "rebuild", "demo"):
        assert line.endswith("; choose a --db in a folder you can write to")
        kept = "{folder}/clinic.duckdb" in command  # an existing warehouse, rather than a new one
        assert line.count("; the warehouse was left as it was" if kept else "; no warehouse was made") == 1, line
    assert snapshot(read_only_folder / "clinic.duckdb") == before
    assert sorted(p.name for p in read_only_folder.iterdir()) == listing


def test_a_refused_write_inside_duckdb_is_one_line_and_leaves_the_warehouse(warehouse, monkeypatch):
    warehouse.load(ROWS)
    before = snapshot(warehouse.path)

    def refused(path: str, *args, **kwargs):
        raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Permission denied')

    monkeypatch.setattr(warehouse_module.duckdb, "connect", refused)
    with pytest.raises(LoadError) as caught:
        warehouse.load(NEXT_ROWS)
    assert str(caught.value) == (f"cannot write to {warehouse.folder}/: permission denied; the warehouse was left "
                                 "as it was; choose a --db in a folder you can write to")
    assert snapshot(warehouse.path) == before and building_leftovers(warehouse.folder) == []


def test_a_lock_file_that_cannot_be_written_is_named_itself(warehouse, monkeypatch):
    warehouse.load(ROWS)
    lock = warehouse.folder / "clinic.duckdb.lock"
    real_open = open

    def locked_out(path, *args, **kwargs):
        if str(path) == str(lock):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", locked_out)
    with pytest.raises(LoadError) as caught:
        warehouse.load(NEXT_ROWS)
    assert str(caught.value).startswith(f"cannot write to {lock}: permission denied;"), str(caught.value)


# --- a full disk ---------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder`: a disk that fills up for real."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path, leave: int = 64 * 1024) -> None:
    """Fill the disk holding `folder` until only `leave` bytes are free."""
    stats = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))


def test_a_load_whose_blocks_do_not_fit_on_the_disk_says_so(tmp_path):
    # The blocks a load reads are staged beside the build: on a disk with no room for them, the
    # load ends with the full-disk line before DuckDB is opened.
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "clinic.duckdb"
        fill(disk)
        many = write_csv(tmp_path, [appointment(f"A{i}", "2026-03-01", client=f"C{i}") for i in range(20_000)])
        line = one_error_line(run_cli("ingest", str(many), "--db", str(db)))
        assert line == (f"error: no space left on the disk holding {disk}/ while building the warehouse; "
                        "no warehouse was made; free space and try again")
        assert not db.exists() and building_leftovers(disk) == []
        (disk / "filler").unlink()


def test_a_load_on_a_full_disk_says_so_and_leaves_the_warehouse_byte_identical(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "clinic.duckdb"
        first = run_cli("ingest", str(write_csv(tmp_path, ROWS)), "--db", str(db))
        assert first.returncode == 0, first.stderr
        before = snapshot(db)
        fill(disk)
        line = one_error_line(run_cli("ingest", str(write_csv(tmp_path, NEXT_ROWS, "next.csv")), "--db", str(db)))
        assert line == (f"error: no space left on the disk holding {disk}/ while building the warehouse; "
                        "the warehouse was left as it was; free space and try again")
        assert snapshot(db) == before and building_leftovers(disk) == []
        (disk / "filler").unlink()
        assert run_cli("ingest", str(tmp_path / "next.csv"), "--db", str(db)).returncode == 0  # and loads again


def test_a_report_on_a_full_disk_says_so(tmp_path, warehouse):
    warehouse.load(ROWS, extract_date=EXTRACT)
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk, leave=0)
        line = one_error_line(run_cli("report", "--db", str(warehouse.path), "--out", str(disk / "board.html")))
        assert line == (f"error: no space left on the disk holding {disk}/ while writing the report; "
                        "free space and try again")


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    duckdb.TransactionException("TransactionContext Error: Failed to commit: could not write file "
                                "\"x.duckdb\": No space left on device"),
    duckdb.IOException('IO Error: Could not write file ".clinic.duckdb.building-1": No space left on device'),
], ids=["OSError", "TransactionException", "IOException"])
def test_no_space_in_any_step_of_the_build_is_one_line_and_leaves_the_warehouse(warehouse, monkeypatch, failure):
    warehouse.load(ROWS)
    before = snapshot(warehouse.path)

    def full(*args, **kwargs):
        raise failure

    monkeypatch.setattr(warehouse_module, "_fsync", full)
    with pytest.raises(LoadError) as caught:
        warehouse.load(NEXT_ROWS)
    assert str(caught.value) == (f"no space left on the disk holding {warehouse.folder}/ while building the "
                                 "warehouse; the warehouse was left as it was; free space and try again")
    assert snapshot(warehouse.path) == before and building_leftovers(warehouse.folder) == []


# --- settings out of range (docs/loading/settings.md#what-the-file-may-hold) ----------------------


def test_every_whole_number_setting_has_an_allowed_range():
    whole_numbers = {f.name for f in fields(Settings) if f.type == "int"}
    assert set(SETTING_RANGES) == whole_numbers


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(SETTING_RANGES)),
       value=st.one_of(st.integers(-10**6, 10**6), st.integers(-10**40, 10**40), st.sampled_from([0, 2**31, 2**63])))
def test_a_whole_number_setting_loads_in_its_range_and_is_refused_outside_it_naming_the_range(tmp_path_factory,
                                                                                            key, value):
    path = tmp_path_factory.mktemp("settings") / "settings.toml"
    path.write_text(f"{key} = {value}\n", encoding="utf-8")
    allowed = SETTING_RANGES[key]
    if value in allowed:
        assert getattr(load_settings(path), key) == value
        return
    with pytest.raises(LoadError) as caught:
        load_settings(path)
    assert str(caught.value) == (f"{path}: setting '{key}' is {value:,}; it must be from {allowed.start:,} to "
                                 f"{allowed[-1]:,} (docs/loading/settings.md#what-the-file-may-hold)")


@pytest.mark.parametrize("command", ["ingest", "rebuild"])
def test_a_setting_too_large_for_the_warehouse_is_refused_before_anything_is_built(warehouse, tmp_path, command):
    """2,147,483,648 reached DuckDB and ended in `error: unexpected ConversionException`."""
    warehouse.load(ROWS)
    before = snapshot(warehouse.path)
    config = tmp_path / "settings.toml"
    config.write_text("inactive_days = 2147483648\n", encoding="utf-8")
    files = [str(write_csv(tmp_path, NEXT_ROWS, "next.csv"))] if command == "ingest" else []
    line = one_error_line(run_cli(command, *files, "--db", str(warehouse.path), "--config", str(config)))
    assert line == (f"error: {config}: setting 'inactive_days' is 2,147,483,648; it must be from 1 to 36,500 "
                    "(docs/loading/settings.md#what-the-file-may-hold)")
    assert snapshot(warehouse.path) == before


# --- options out of range ------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "option"), [
    (["generate", "--clients", "3", "--seed", "-1", "--out", "{folder}"], "--seed"),
    (["dashboard", "--db", "{folder}/clinic.duckdb", "--port", "70000", "--headless"], "--port"),
    (["dashboard", "--db", "{folder}/clinic.duckdb", "--port", "-5", "--headless"], "--port"),
    (["demo", "--db", "{folder}/demo.duckdb", "--port", "0", "--headless"], "--port"),
], ids=["negative seed", "port above 65535", "negative port", "port 0"])
def test_an_option_out_of_range_is_refused_naming_it_before_anything_runs(tmp_path, command, option):
    """A negative seed ended in `error: unexpected ValueError`; a negative port in a message about the address."""
    result = run_cli(*(part.format(folder=tmp_path) for part in command))
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{option}'" in result.stderr and "unexpected" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_refused_write_no_command_expected_is_still_one_line_naming_its_folder(monkeypatch, capsys):
    import pipelines.cli as cli

    def refused() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/elsewhere/cache.bin")

    monkeypatch.setattr(cli, "app", refused)
    monkeypatch.delenv("CLINIC_OUTCOMES_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot write to /srv/elsewhere/: permission denied; choose a folder you can write to"]
