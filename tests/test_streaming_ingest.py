"""Loading a file of any size block by block (docs/loading/input.md#large-files): the blocks a file
is read in change nothing but the memory it takes. Read in blocks of any size, a file gives the
same rows at the same lines, the same refusals and the same one-line errors as read whole; the
duplicate rules still see the whole load; and the staging folder never outlives the build.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import pipelines.read
from conftest import REQUIRED, appointment, write_csv
from pipelines.errors import LoadError
from pipelines.read import read_appointment_file

WHOLE = 10**8  # bytes: a block larger than any file here, so the file is read whole
HEADER = [*REQUIRED, "phq9", "notes"]


def read_in_blocks(path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> list[pl.DataFrame] | str:
    """The file's blocks as read with blocks of `block_bytes`, or the one-line error."""
    monkeypatch.setattr(pipelines.read, "BLOCK_BYTES", block_bytes)
    try:
        return list(read_appointment_file(path).blocks)
    except LoadError as exc:
        return str(exc)


def same_reading(path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read_in_blocks(path, WHOLE, monkeypatch)
    blocks = read_in_blocks(path, block_bytes, monkeypatch)
    if isinstance(whole, str) or isinstance(blocks, str):
        assert blocks == whole
        return
    assert len(whole) == 1
    assert_frame_equal(pl.concat(blocks), whole[0])


# Values that make CSV hard: separators, quotes, every line break, non-ASCII text, white space.
AWKWARD = st.lists(st.sampled_from(list('ab1 ,;"é\t') + ["\n", "\r", "\r\n"]), max_size=12).map("".join)


def rows_of(notes: list[str]) -> list[list[str]]:
    return [[f"A{i}", f"C{i % 3}", "T1", "K1", f"2026-01-{1 + i % 28:02d}", "attended", str(i % 28), note]
            for i, note in enumerate(notes)]


def csv_text(header: list[str], rows: list[list[str]], terminator: str, quoting: int) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(notes=st.lists(AWKWARD, min_size=0, max_size=30), terminator=st.sampled_from(["\n", "\r\n", "\r"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), bom=st.booleans(),
       block_bytes=st.integers(1, 400), damage=st.sampled_from([None, "ragged", "stray quote", "open quote",
                                                                 "not utf-8", "blank lines"]),
       at=st.integers(0, 29))
@example(notes=["x\ny", '5" tall', 'say "hi"\r\nthen', "z"] * 5, terminator="\n", quoting=csv.QUOTE_MINIMAL,
         bom=False, block_bytes=40, damage="stray quote", at=3)
def test_a_file_read_in_blocks_of_any_size_reads_as_it_does_whole(tmp_path_factory, monkeypatch, notes, terminator,
                                                                  quoting, bom, block_bytes, damage, at):
    rows = rows_of(notes)
    data = csv_text(HEADER, rows, terminator, quoting)
    lines = data.split(terminator.encode())
    place = 1 + at % max(1, len(lines) - 1)  # a line after the header
    if damage == "ragged":
        lines[place] += b",extra"
    elif damage == "stray quote":  # a quote inside an unquoted value: the block's quote count is fooled
        lines[place] = lines[place].replace(b"T1", b'T"1', 1)
    elif damage == "open quote":
        lines[place] = lines[place].replace(b"K1", b'"K1', 1)
    elif damage == "not utf-8":
        lines[place] += b"\xff"
    elif damage == "blank lines":
        lines[place:place] = [b"", b""]
    data = (b"\xef\xbb\xbf" if bom else b"") + terminator.encode().join(lines)
    path = tmp_path_factory.mktemp("blocks") / "log.csv"
    path.write_bytes(data)
    same_reading(path, block_bytes, monkeypatch)


@pytest.mark.parametrize("container", ["gzip", "zip"])
def test_a_packed_file_is_unpacked_block_by_block_and_reads_as_it_does_whole(tmp_path, monkeypatch, container):
    import gzip
    import zipfile

    data = csv_text(HEADER, rows_of([f"note {i}\nsecond line" for i in range(200)]), "\r\n", csv.QUOTE_MINIMAL)
    path = tmp_path / f"log.csv.{'gz' if container == 'gzip' else 'zip'}"
    if container == "gzip":
        path.write_bytes(gzip.compress(data))
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("log.csv", data)
    assert len(read_in_blocks(path, 500, monkeypatch)) > 5
    same_reading(path, 500, monkeypatch)


def test_a_parquet_file_is_read_in_blocks_of_rows_numbered_as_one(tmp_path, monkeypatch):
    frame = pl.DataFrame([dict(zip(HEADER, row)) for row in rows_of([f"n{i}" for i in range(25)])])
    path = tmp_path / "log.parquet"
    frame.write_parquet(path)
    monkeypatch.setattr(pipelines.read, "PARQUET_BLOCK_ROWS", 10)
    blocks = list(read_appointment_file(path).blocks)
    assert [b.height for b in blocks] == [10, 10, 5]
    assert pl.concat(blocks)["source_line"].to_list() == list(range(1, 26))
    assert pl.concat(blocks)["appointment_id"].to_list() == frame["appointment_id"].to_list()


def test_a_file_is_read_block_by_block_not_whole(tmp_path, monkeypatch):
    # The point of the blocks: when the first is handed on, most of the file is still unread.
    path = write_csv(tmp_path, [appointment(f"A{i}", "2026-01-05") for i in range(2000)])
    monkeypatch.setattr(pipelines.read, "BLOCK_BYTES", 4096)
    source = read_appointment_file(path)
    first = next(source.blocks)
    assert 0 < first.height < 200
    assert source.read < source.size / 4
    rest = list(source.blocks)
    assert first.height + sum(b.height for b in rest) == 2000
    assert source.read == source.size


def test_an_error_names_the_line_of_the_file_in_a_later_block(tmp_path, monkeypatch):
    rows = [appointment(f"A{i}", "2026-01-05") for i in range(300)]
    path = write_csv(tmp_path, rows)
    lines = path.read_bytes().split(b"\n")
    lines[250] = lines[250].replace(b"attended", b"attended\xff")
    path.write_bytes(b"\n".join(lines))
    assert read_in_blocks(path, 1000, monkeypatch) == read_in_blocks(path, WHOLE, monkeypatch)
    message = read_in_blocks(path, 1000, monkeypatch)
    assert isinstance(message, str) and ": line 251: not UTF-8 text" in message


def load_tables(warehouse) -> dict[str, list[tuple]]:
    return {
        "appointments": warehouse.query("SELECT * EXCLUDE (load_id) FROM appointments ORDER BY ALL").rows(),
        "quarantine": warehouse.query("SELECT * EXCLUDE (load_id) FROM quarantine ORDER BY ALL").rows(),
        "data_issues": warehouse.query("SELECT * EXCLUDE (load_id) FROM data_issues ORDER BY ALL").rows(),
        "loads": warehouse.query("SELECT * EXCLUDE (load_id, loaded_at) FROM loads ORDER BY ALL").rows(),
    }


def test_duplicates_across_blocks_and_files_are_judged_as_in_one_block(tmp_path, monkeypatch):
    from conftest import Warehouse

    first = [appointment(f"A{i}", "2026-01-05", phq9=99 if i == 7 else 10) for i in range(120)]
    first += [appointment("A3", "2026-01-05", phq9=10)]  # an exact copy of an early row, blocks later
    first += [appointment("A5", "2026-01-05", status="dna")]  # a conflict with an early row
    second = [appointment("A9", "2026-01-05", phq9=10), appointment("A200", "2026-01-05", phq9="x")]
    files = [write_csv(tmp_path, first, "a.csv"), write_csv(tmp_path, second, "b.csv")]

    results = {}
    for name, block_bytes in (("whole", WHOLE), ("blocks", 700)):
        monkeypatch.setattr(pipelines.read, "BLOCK_BYTES", block_bytes)
        (tmp_path / name).mkdir()
        warehouse = Warehouse(tmp_path / name)
        report = warehouse.load(files)
        assert report.reconciles
        results[name] = load_tables(warehouse)
    assert results["blocks"] == results["whole"]
    loads = results["whole"]["loads"]
    assert [(r[1], r[2], r[3], r[4]) for r in loads] == [(122, 119, 2, 1), (2, 1, 0, 1)]


def test_the_staging_folder_is_gone_after_a_load_and_after_a_refused_one(tmp_path, monkeypatch):
    from conftest import Warehouse

    monkeypatch.setattr(pipelines.read, "BLOCK_BYTES", 500)
    (tmp_path / "w").mkdir()
    warehouse = Warehouse(tmp_path / "w")
    warehouse.load([appointment(f"A{i}", "2026-01-05") for i in range(100)])
    bad = write_csv(tmp_path, [appointment(f"B{i}", "2026-01-05") for i in range(100)]
                    + [appointment("B100", "2026-01-05", client="jane.doe@example.org")], "bad.csv")
    with pytest.raises(LoadError, match="line 102"):
        warehouse.load([bad])
    assert sorted(p.name for p in warehouse.path.parent.iterdir() if "building" in p.name) == []


@pytest.mark.parametrize("terminal", [True, False])
def test_a_long_load_shows_its_stage_and_rows_on_a_terminal_only(monkeypatch, terminal):
    import rich.console

    import pipelines.cli

    shown = io.StringIO()
    monkeypatch.setattr(pipelines.cli, "err", rich.console.Console(file=shown, force_terminal=terminal, width=100))
    with pipelines.cli._stage_progress("loading", 20) as (on_stage, on_progress):
        on_stage("reading the files")
        on_progress("reading log.csv (1,234,567 rows)", 512, 1024)
        on_progress("validating rows (600,000 of 1,234,567)", 600_000, 1_234_567)
        on_stage("building marts/episodes")
    # (transient: the bar is wiped at the end, but the terminal was sent every drawing)
    drawn = shown.getvalue()
    assert ("reading log.csv (1,234,567 rows)" in drawn and "validating rows (600,000 of 1,234,567)" in drawn
            and "building marts/episodes" in drawn) if terminal else drawn == ""


def test_a_load_reports_its_progress_in_rows_and_bytes(tmp_path, monkeypatch):
    from conftest import Warehouse

    monkeypatch.setattr(pipelines.read, "BLOCK_BYTES", 2000)
    path = write_csv(tmp_path, [appointment(f"A{i}", "2026-01-05") for i in range(300)])
    seen: list[tuple[str, int, int]] = []
    Warehouse(tmp_path).load([path], on_progress=lambda *step: seen.append(step))
    reading = [step for step in seen if step[0].startswith("reading")]
    validating = [step for step in seen if step[0].startswith("validating")]
    assert len(reading) > 3 and reading[-1] == (f"reading {path} (300 rows)", path.stat().st_size,
                                                path.stat().st_size)
    assert [done for _, done, _ in reading] == sorted(done for _, done, _ in reading)
    assert validating[-1] == ("validating rows (300 of 300)", 300, 300)
