"""Loading (docs/loading/input.md, docs/loading/load-report.md) against hostile files: for any
file, `ingest` either loads it and reconciles exactly, or fails with a one-line error naming the
file; never a traceback, never a half-written warehouse.

Hypothesis writes the files, one family per test: random and damaged bytes, wrong encodings, BOMs,
CRLF and quoted line breaks, missing and extra columns, enormous fields, dates in many shapes,
numbers with commas, empty and header-only files, Parquet columns of every type, damaged FHIR
JSON; plain, gzip or zip. Every example loads on top of a copy of one good warehouse, and `ingest_hostile` checks the
promise either way. (test_reconciliation_property.py follows the fate of each well-formed row; this
module is about the file.)
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import EXTRACT, REQUIRED, Warehouse, appointment, run_cli
from pipelines.errors import LoadError
from pipelines.read import OPTIONAL_COLUMNS, looks_like_identifier
from pipelines.warehouse import LoadReport, connect, ingest
from test_atomicity import building_leftovers, snapshot

REPO = Path(__file__).resolve().parents[1]
# The warehouse every example starts from. Fuzzed rows have ids F0, F1, …: never a replacement.
PREVIOUS_ROWS = [
    appointment("P1", "2026-03-01", client="C1"),
    appointment("P2", "2026-03-08", client="C1", discharge_date="2026-03-08", discharge_reason="planned"),
    appointment("P3", "2026-04-01", client="C2", phq9=14),
]


def fuzz(examples: int) -> settings:
    """Each ingest costs 0.1–0.3 s: few examples per family keep the module near a minute."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good warehouse, built once; each example loads into its own copy."""
    built = Warehouse(tmp_path_factory.mktemp("previous"))
    built.load(PREVIOUS_ROWS)
    return built.path


@contextmanager
def copy_of(previous: Path) -> Iterator[tuple[Path, Path]]:
    """(folder, warehouse): a fresh folder holding a copy of the previous warehouse."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "clinic.duckdb"
        shutil.copy2(previous, db)
        yield Path(folder), db


def stored_appointments(db: Path) -> int:
    con = connect(db)  # the package's own reader: the warehouse must still open
    try:
        return con.sql("SELECT count(*) FROM appointments").fetchall()[0][0]
    finally:
        con.close()


def ingest_hostile(folder: Path, db: Path, files: list[Path], expected_rows: int | None) -> LoadReport | LoadError:
    """Load `files` on top of the warehouse `db` and check the promise, whichever way it goes.

    expected_rows: the data records in the files, counted independently of the pipeline (by
    construction, or with Python's csv module); None where a damaged file has no such count.
    Anything but a LoadError propagates and fails the test: for a user it is a traceback.
    """
    before = snapshot(db)
    try:
        report = ingest(files, db, extract_date=EXTRACT)
    except LoadError as refused:
        message = str(refused)
        event("refused: " + message.partition(": ")[2][:40])  # see --hypothesis-show-statistics
        assert message.splitlines() == [message], f"not one line: {message!r}"
        assert any(str(path) in message for path in files), f"names no file: {message!r}"
        assert snapshot(db) == before, "a refused load changed the warehouse file"
        assert building_leftovers(folder) == []
        return refused
    event("loaded")
    totals = report.totals
    assert report.reconciles, report.per_file
    assert sorted(report.per_file["source_file"]) == sorted(str(path) for path in files)
    if expected_rows is not None:
        assert totals["rows_read"] == expected_rows, report.per_file
    assert totals["rows_replacing_earlier"] == 0
    assert stored_appointments(db) == len(PREVIOUS_ROWS) + totals["rows_loaded"]
    assert building_leftovers(folder) == []
    return report


def latest_load(db: Path, sql: str) -> list[tuple]:
    """Rows of a query over the latest load; `{load}` in the SQL stands for its id."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql.format(load="(SELECT max(load_id) FROM loads)")).fetchall()
    finally:
        con.close()


# --- writing files ---------------------------------------------------------------------------


def csv_bytes(header: list[str] | None, rows: list[list[str]], *, delimiter: str = ",", terminator: str = "\n",
              quoting: int = csv.QUOTE_MINIMAL) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def csv_records(data: bytes, delimiter: str = ",") -> int:
    """Data records after the header as Python's csv module reads them (a blank line is one)."""
    text = data.decode("utf-8-sig")
    return max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)) - 1)


def packed(data: bytes, container: str, stem: str = "log") -> tuple[bytes, str]:
    """The file's bytes and name: plain, gzip-compressed, or the one member of a zip."""
    if container == "gzip":
        return gzip.compress(data, mtime=0), f"{stem}.csv.gz"
    if container == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{stem}.csv", data)
        return buffer.getvalue(), f"{stem}.zip"
    return data, f"{stem}.csv"


def write_file(folder: Path, data: bytes, container: str = "plain", stem: str = "log") -> Path:
    content, name = packed(data, container, stem)
    path = folder / name
    path.write_bytes(content)
    return path


CONTAINERS = st.sampled_from(["plain", "gzip", "zip"])
DAYS = st.integers(0, 180).map(lambda n: (dt.date(2026, 1, 1) + dt.timedelta(days=n)).isoformat())
STATUS_TEXTS = st.sampled_from(["attended", "dna", " No Show ", "Cancelled", "scheduled", "5"])


@st.composite
def good_rows(draw, min_size: int = 1, max_size: int = 5) -> list[dict[str, str]]:
    """Valid appointments with ids F0, F1, …"""
    count = draw(st.integers(min_size, max_size))
    return [
        {"appointment_id": f"F{i}", "client_id": draw(st.sampled_from(["C1", "C2", "C7"])),
         "therapist_id": draw(st.sampled_from(["T1", "T2"])), "clinic_id": draw(st.sampled_from(["K1", "K2"])),
         "appointment_date": draw(DAYS), "status": draw(STATUS_TEXTS)}
        for i in range(count)
    ]


ONE_ROW = [{"appointment_id": "F0", "client_id": "C1", "therapist_id": "T1", "clinic_id": "K1",
            "appointment_date": "2026-01-05", "status": "attended"}]


def as_table(rows: list[dict[str, str]], columns: list[str]) -> list[list[str]]:
    return [[row.get(c, "") for c in columns] for row in rows]


HEADER = list(REQUIRED)
GOOD_LOG = csv_bytes(HEADER, as_table([dict(appointment(f"G{i}", f"2026-02-{i + 1:02d}", client=f"C{i % 4}"))
                                       for i in range(24)], HEADER))
GOOD_LOG_ROWS = 24


# --- random and damaged bytes ----------------------------------------------------------------

PREFIXES = [b"", b"\x1f\x8b", b"PK\x03\x04", b"PAR1", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00",
            ",".join(HEADER).encode() + b"\n"]
# Text that is almost CSV: separators, quotes, line breaks, NUL, accents, emoji.
ALMOST_CSV = st.lists(st.sampled_from([*'A1,;|\t "é\x00\n', "\r\n", "😀", "2026-01-05", "attended"]),
                      max_size=120).map("".join)


@fuzz(40)
@given(prefix=st.sampled_from(PREFIXES),
       body=st.one_of(st.binary(max_size=400), ALMOST_CSV.map(str.encode)),
       with_good_file=st.booleans())
@example(prefix=PREFIXES[-1], body=b"A1,C1,T1,K1,2026-01-05,attended\n\n\nA2,C1,T1,K1,2026-01-06,dna\n",
         with_good_file=True)
def test_random_bytes_fail_with_one_line_error_or_load(previous, prefix, body, with_good_file):
    data = prefix + body
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data)
        files = [path]
        expected = None
        if prefix == PREFIXES[-1] and b'"' not in body and b"\r" not in body:
            try:  # a header and clean text: Python's csv module counts the records
                expected = csv_records(data)
            except UnicodeDecodeError:
                pass
        if with_good_file:
            files.insert(0, write_file(folder, GOOD_LOG, stem="good"))
            expected = None if expected is None else expected + GOOD_LOG_ROWS
        ingest_hostile(folder, db, files, expected)


def damaged(data: bytes, damage: list[tuple[str, int, bytes]]) -> bytes:
    broken = bytearray(data)
    for how, position, noise in damage:
        if not broken:
            break
        at = position % len(broken)
        if how == "flip":
            broken[at] = noise[0]
        elif how == "cut":
            del broken[at:]
        else:
            broken[at:at] = noise
    return bytes(broken)


def good_log_in(container: str) -> bytes:
    if container == "parquet":
        buffer = io.BytesIO()
        pl.read_csv(io.BytesIO(GOOD_LOG), infer_schema=False).write_parquet(buffer)
        return buffer.getvalue()
    return packed(GOOD_LOG, container)[0]


# The zip's central directory entry: its flags (+8) and compression method (+10) decide how the
# member is read.
ZIP_DIRECTORY = good_log_in("zip").rfind(b"PK\x01\x02")
DAMAGE = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 5000),
                            st.binary(min_size=1, max_size=8)), min_size=1, max_size=3)


@fuzz(40)
@given(container=st.sampled_from(["gzip", "zip", "parquet"]), damage=DAMAGE)
# A damaged deflate stream raised zlib.error out of ingest (gzip and zip alike).
@example(container="gzip", damage=[("flip", 30, b"\xff")])
@example(container="zip", damage=[("flip", 60, b"\xff")])
# An encrypted member (RuntimeError) or an unknown compression method (NotImplementedError).
@example(container="zip", damage=[("flip", ZIP_DIRECTORY + 8, b"\x01")])
@example(container="zip", damage=[("flip", ZIP_DIRECTORY + 10, b"\x63")])
# A broken page header made polars panic (PanicException, a BaseException) with this version's bytes,
# and another made it abort the whole process (an allocation of exabytes): Parquet is read by DuckDB now.
@example(container="parquet", damage=[("flip", 120, b"A")])
@example(container="parquet", damage=[("flip", 118, b"A")])
# Text in a damaged page that is not UTF-8 made DuckDB's binding raise a RuntimeError.
@example(container="parquet", damage=[("flip", 1302, b"\x80")])
def test_damaged_gzip_zip_and_parquet_fail_with_one_line_error_or_load(previous, container, damage):
    data = damaged(good_log_in(container), damage)
    with copy_of(previous) as (folder, db):
        path = folder / f"log.{container}"
        path.write_bytes(data)
        # gzip and zip check a CRC, so what loads is the log as written; Parquet pages carry none.
        ingest_hostile(folder, db, [path], None if container == "parquet" else GOOD_LOG_ROWS)


# FHIR JSON damaged anywhere: a cut line, a lost quote or brace, bytes that are not UTF-8, a
# resourceType that is not a name, a document that ends early or runs on.
FHIR_FILES = {"ndjson": (REPO / "tests" / "fixtures" / "fhir_appointments.ndjson").read_bytes(),
              "bundle": (REPO / "tests" / "fixtures" / "fhir_bundle.json").read_bytes()}


@fuzz(30)
@given(shape=st.sampled_from(list(FHIR_FILES)), container=CONTAINERS, damage=DAMAGE)
@example(shape="ndjson", container="plain", damage=[("cut", 700, b"")])
@example(shape="bundle", container="plain", damage=[("insert", 30, b"[" * 5000)])
@example(shape="ndjson", container="gzip", damage=[("insert", 2, b'"resourceType":"Pat\nient",')])
# A first byte that makes the file CSV, with a header the careful reading (csv module) cannot parse.
@example(shape="ndjson", container="plain", damage=[("flip", 0, b"\x00")])
def test_damaged_fhir_json_fails_with_one_line_error_or_loads(previous, shape, container, damage):
    data = damaged(FHIR_FILES[shape], damage)
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container, stem="appointments")
        ingest_hostile(folder, db, [path], None)


# --- wrong encodings -------------------------------------------------------------------------


@fuzz(30)
@given(rows=good_rows(), encoding=st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"]),
       accent=st.sampled_from("éüñßÆ£°Ø"),
       place=st.sampled_from(["header", "client_id", "clinic_id", "notes"]),
       row_pick=st.integers(0, 10), container=CONTAINERS)
# Polars read a Latin-1 header leniently (é became U+FFFD) and loaded the file; UTF-16 without a BOM
# was refused as "missing required columns".
@example(rows=ONE_ROW, encoding="latin-1", accent="é", place="header", row_pick=0, container="plain")
@example(rows=ONE_ROW, encoding="utf-16-le", accent="é", place="client_id", row_pick=0, container="plain")
def test_latin1_and_utf16_files_are_refused_with_one_line_error(previous, rows, encoding, accent, place,
                                                                  row_pick, container):
    header = [*HEADER, "notes"]
    rows = [{**row, "notes": "plain"} for row in rows]
    if place == "header":
        header[-1] = f"not{accent}s"
    else:
        row = rows[row_pick % len(rows)]
        row[place] = f"{row[place]}{accent}x"  # one accented letter between ASCII ones
    text = csv_bytes(header, as_table(rows, header)).decode("utf-8")
    data = text.encode(encoding)
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container)
        outcome = ingest_hostile(folder, db, [path], None)
        assert isinstance(outcome, LoadError), "a file that is not UTF-8 was loaded"
        message = str(outcome)
        if encoding.startswith("utf-16"):
            assert "UTF-16" in message, message
        else:
            first_bad_line = text[:text.index(accent)].count("\n") + 1
            assert "UTF-8" in message and f"line {first_bad_line}:" in message, message


# --- BOM, CRLF, quoted line breaks -----------------------------------------------------------

AWKWARD_TEXT = st.lists(st.sampled_from(["a", "7", " ", ",", ";", "|", "\t", '"', "'", "\n", "\r\n", "\r",
                                         "é", "😀", "\u2028", "\x00", '""', "\n\n"]), max_size=8).map("".join)


@fuzz(20)
@given(rows=good_rows(), notes=st.lists(AWKWARD_TEXT, min_size=5, max_size=5),
       client_suffix=st.lists(AWKWARD_TEXT, min_size=5, max_size=5), bom=st.booleans(),
       terminator=st.sampled_from(["\n", "\r\n"]), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       final_line_break=st.booleans(), container=CONTAINERS)
@example(rows=ONE_ROW, notes=["a\r\nb", "", "", "", ""], client_suffix=[""] * 5, bom=True, terminator="\r\n",
         quoting=csv.QUOTE_ALL, final_line_break=False, container="gzip")
# A quoted line break in a file without a final line break: later rows got the wrong source_line.
@example(rows=[*ONE_ROW, {**ONE_ROW[0], "appointment_id": "F1"}], notes=[""] * 5,
         client_suffix=["\n", "", "", "", ""], bom=False, terminator="\n", quoting=csv.QUOTE_MINIMAL,
         final_line_break=False, container="plain")
def test_bom_crlf_and_quoted_newlines_load_and_reconcile(previous, rows, notes, client_suffix, bom, terminator,
                                                          quoting, final_line_break, container):
    header = [*HEADER, "notes"]
    rows = [{**row, "notes": note, "client_id": row["client_id"] + suffix}  # ids may hold line breaks too
            for row, note, suffix in zip(rows, notes, client_suffix)]
    # Record by record, noting each one's line in the file: one plus the line breaks before it (a CRLF,
    # a CR or an LF, also inside quotes: docs/loading/input.md#line-breaks).
    data, starts = csv_bytes(header, [], terminator=terminator, quoting=quoting), []
    for row in as_table(rows, header):
        starts.append(len(re.findall(rb"\r\n|\r|\n", data)) + 1)
        # csv quotes a field holding the terminator's characters; RFC 4180 quotes any with a CR
        data += csv_bytes(None, [row], terminator=terminator,
                          quoting=csv.QUOTE_ALL if any("\r" in value for value in row) else quoting)
    if not final_line_break:
        data = data.removesuffix(terminator.encode())
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    assert csv_records(data) == len(rows)
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container)
        report = ingest_hostile(folder, db, [path], len(rows))
        assert isinstance(report, LoadReport), f"a well-formed file was refused: {report}"
        assert report.totals["rows_loaded"] == len(rows)
        stored = latest_load(db, "SELECT appointment_id, client_id, source_line FROM appointments "
                                 "WHERE load_id = {load}")
        assert sorted(stored) == sorted(
            (row["appointment_id"], row["client_id"].strip(), line) for row, line in zip(rows, starts))


@fuzz(25)
@given(rows=good_rows(), notes=st.lists(AWKWARD_TEXT, min_size=5, max_size=5),
       breaks=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=6, max_size=6), bom=st.booleans(),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), final_line_break=st.booleans(),
       container=CONTAINERS)
# An old Mac export: every line ends in CR alone. It loaded no row at all and "reconciled".
@example(rows=[*ONE_ROW, {**ONE_ROW[0], "appointment_id": "F1"}], notes=[""] * 5, breaks=["\r"] * 6, bom=False,
         quoting=csv.QUOTE_MINIMAL, final_line_break=True, container="plain")
def test_any_line_break_convention_or_a_mix_of_them_loads_every_row_at_its_line(
        previous, rows, notes, breaks, bom, quoting, final_line_break, container):
    header = [*HEADER, "notes"]
    rows = [{**row, "notes": note} for row, note in zip(rows, notes)]
    # Each record's line: one plus the line breaks before it, a CRLF, a CR or an LF each counting one.
    data = csv_bytes(header, [], terminator=breaks[0], quoting=quoting)
    starts = []
    for row, brk in zip(as_table(rows, header), breaks[1:]):
        starts.append(len(re.findall(rb"\r\n|\r|\n", data)) + 1)
        data += csv_bytes(None, [row], terminator=brk,
                          quoting=csv.QUOTE_ALL if any(c in value for value in row for c in "\r\n") else quoting)
    if not final_line_break:
        data = data.rstrip(b"\r\n") if not notes[len(rows) - 1].endswith(("\r", "\n")) else data
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container)
        report = ingest_hostile(folder, db, [path], len(rows))
        assert isinstance(report, LoadReport), f"a well-formed file was refused: {report}"
        assert report.totals["rows_loaded"] == len(rows)
        stored = latest_load(db, "SELECT appointment_id, source_line FROM appointments WHERE load_id = {load}")
        assert sorted(stored) == sorted((row["appointment_id"], line) for row, line in zip(rows, starts))


# --- missing and extra columns ---------------------------------------------------------------

NAME_STYLES = {
    "as is": lambda name: name,
    "upper": str.upper,
    "title with spaces": lambda name: name.replace("_", " ").title(),
    "padded": lambda name: f"  {name} ",
    "hyphens": lambda name: name.replace("_", "-"),
}
# Extra column names: never an input column (the x_ prefix), sometimes identifier-like ("email"),
# with quotes, separators and line breaks that csv quotes; or empty, or named like the pipeline's own
# columns.
EXTRA_NAME = st.one_of(
    st.lists(st.sampled_from(["a", "notes", "room", "email", " ", "\n", "\r\n", ",", '"', ";", "|", "é", "\t"]),
             max_size=5).map(lambda parts: "x_" + "".join(parts)),
    st.sampled_from(["", "source_line", "source_file", "row_key", "load_id"]),
)
# Values for the optional columns (an episode_id column must be filled: docs/metrics/episodes.md).
OPTIONAL_VALUES = {"episode_id": "E1", "phq9": "12", "phq9_item9": "12", "session_type": "Assessment",
                   "discharge_date": "2026-02-01", "discharge_reason": "46"}


@fuzz(30)
@given(dropped=st.sets(st.sampled_from(REQUIRED), max_size=2),
       optional=st.sets(st.sampled_from(OPTIONAL_COLUMNS), max_size=3),
       styles=st.lists(st.sampled_from(list(NAME_STYLES)), min_size=20, max_size=20),
       extras=st.lists(EXTRA_NAME, max_size=3),
       repeated=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(REQUIRED)),
       rows=good_rows(),
       ragged=st.one_of(st.none(), st.none(), st.tuples(st.integers(0, 4), st.sampled_from([-2, -1, 1, 2]))),
       data=st.data())
# A column name with a line break made the identifier refusal two lines long.
@example(dropped=set(), optional=set(), styles=["as is"] * 20, extras=["x_email\naddress"], repeated=None,
         rows=ONE_ROW, ragged=None, data=None)
# A quoted column name full of semicolons made the separator sniffer pick ';'.
@example(dropped=set(), optional=set(), styles=["as is"] * 20, extras=["x_;;;;;;;;,"], repeated=None,
         rows=ONE_ROW, ragged=None, data=None)
def test_missing_and_extra_columns(previous, dropped, optional, styles, extras, repeated, rows, ragged, data):
    repeats_a_name = repeated is not None and repeated not in dropped
    columns = [c for c in REQUIRED if c not in dropped] + sorted(optional) + extras + [repeated] * repeats_a_name
    if data is not None:
        columns = data.draw(st.permutations(columns), label="column order")
    header = [c if c in extras else NAME_STYLES[style](c) for c, style in zip(columns, styles)]
    table = [[row.get(c, OPTIONAL_VALUES.get(c, "")) for c in columns] for row in rows]
    short_rows = long_rows = False
    if ragged is not None and ragged[0] < len(rows):
        row_index, extra_fields = ragged
        short_rows, long_rows = extra_fields < 0, extra_fields > 0
        fields = table[row_index]
        table[row_index] = fields[:extra_fields] if short_rows else fields + ["more"] * extra_fields
    file_data = csv_bytes(header, table)
    identifiers = [name for name in extras if looks_like_identifier(name)]
    # An unquoted name holding as many ';' (tab, '|') as the header has commas makes the separator
    # a guess: refusing such a file is fair.
    header_line = re.sub(r'"[^"]*("|$)', "", file_data.decode().split("\n", 1)[0])
    ambiguous = any(header_line.count(sep) >= header_line.count(",") for sep in ";\t|")
    with copy_of(previous) as (folder, db):
        path = write_file(folder, file_data)
        outcome = ingest_hostile(folder, db, [path], len(rows))
    if isinstance(outcome, LoadError):
        message = str(outcome)
        assert dropped or identifiers or repeats_a_name or ambiguous, f"good file refused: {message}"
        if not (identifiers or repeats_a_name or ambiguous):
            assert f"missing required column(s) {', '.join(c for c in REQUIRED if c in dropped)} " in message
        if identifiers and not (repeats_a_name or long_rows or ambiguous):
            assert "identifier" in message
    else:
        assert not dropped and not identifiers, "a file without required columns or with identifiers loaded"
        ragged_rows = int(short_rows or long_rows)  # quarantined, with their line (docs/loading/input.md#records)
        assert (outcome.totals["rows_loaded"], outcome.totals["rows_quarantined"]) == (len(rows) - ragged_rows,
                                                                                      ragged_rows)


# --- enormous fields -------------------------------------------------------------------------


@fuzz(4)
@given(place=st.sampled_from(["appointment_id", "client_id", "status", "appointment_date", "phq9",
                              "discharge_reason", "notes", "header"]),
       size=st.integers(1_000_000, 4_000_000), pattern=st.sampled_from(["x", 'ab, "\n', "é😀\r\n "]))
def test_enormous_fields(previous, place, size, pattern):
    big = (pattern * (size // len(pattern) + 1))[:size]
    header = [*HEADER, "phq9", "discharge_reason", "notes", "x_" + big if place == "header" else "extra"]
    rows = [{**appointment(f"F{i}", f"2026-01-0{i + 1}", client="C5"), "phq9": "9", "discharge_reason": ""}
            for i in range(3)]
    if place != "header":
        rows[1][place] = f"F{place}{big}" if place in ("appointment_id", "client_id") else big
    data = csv_bytes(header, as_table(rows, header))
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data)
        report = ingest_hostile(folder, db, [path], 3)
        assert isinstance(report, LoadReport), f"a file with one enormous field was refused: {report}"
        quarantined = 1 if place in ("status", "appointment_date") else 0
        assert (report.totals["rows_loaded"], report.totals["rows_quarantined"]) == (3 - quarantined, quarantined)
        if quarantined:  # the original value is kept, whole
            [(kept,)] = latest_load(db, f"SELECT length({place}) FROM quarantine WHERE load_id = {{load}}")
            assert kept == len(big.strip())
        if place in ("phq9", "discharge_reason"):
            [(field, kept)] = latest_load(db, "SELECT field, length(value) FROM data_issues "
                                              "WHERE load_id = {load}")
            assert (field, kept) == (place, len(big.strip()))


# --- dates in many shapes --------------------------------------------------------------------


@dataclass(frozen=True)
class DateText:
    text: str
    wall: dt.datetime | None  # the wall-clock date-time the text means (zone dropped); None: no date
    promised: bool  # a shape docs/loading/input.md promises to read; other ISO-like shapes are read right or refused


def _fraction(digits: str) -> int:
    return int(digits[:6].ljust(6, "0"))


@st.composite
def date_texts(draw) -> DateText:
    day = draw(st.one_of(st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31)), st.dates()))
    ymd = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=9))
    offset = draw(st.sampled_from(["Z", "+00:00", "-05:00", "+0530", "+14", "-12:45"]))
    pad = draw(st.sampled_from(["", " ", "  "]))
    midnight = dt.datetime.combine(day, dt.time())
    at = dt.datetime.combine(day, dt.time(hour, minute, second))
    shapes = {
        # promised (docs/loading/input.md: ISO 8601 date or date-time; a zone is dropped, the wall clock kept)
        "date": DateText(pad + ymd + pad, midnight, True),
        "minutes": DateText(f"{ymd}T{hour:02d}:{minute:02d}", at.replace(second=0), True),
        "seconds": DateText(f"{ymd} {hour:02d}:{minute:02d}:{second:02d}", at, True),
        "fraction": DateText(f"{ymd}T{hour:02d}:{minute:02d}:{second:02d}.{digits}",
                             at.replace(microsecond=_fraction(digits)), True),
        "zoned": DateText(f"{ymd}T{hour:02d}:{minute:02d}:{second:02d}{offset}", at, True),
        "zoned fraction": DateText(f"{ymd}T{hour:02d}:{minute:02d}:{second:02d}.{digits}{offset}",
                                   at.replace(microsecond=_fraction(digits)), True),
        # other ISO 8601 shapes: read right or refused
        "basic": DateText(f"{day.year:04d}{day.month:02d}{day.day:02d}", midnight, False),
        "basic time": DateText(f"{day.year:04d}{day.month:02d}{day.day:02d}T{hour:02d}{minute:02d}{second:02d}Z",
                               at, False),
        "week": DateText("{:04d}-W{:02d}-{}".format(*day.isocalendar()), midnight, False),
        "ordinal": DateText(f"{day.year:04d}-{day.timetuple().tm_yday:03d}", midnight, False),
        "lower case": DateText(f"{ymd}t{hour:02d}:{minute:02d}:{second:02d}z", at, False),
        "comma fraction": DateText(f"{ymd}T{hour:02d}:{minute:02d}:{second:02d},{digits}",
                                   at.replace(microsecond=_fraction(digits)), False),
        "hour only": DateText(f"{ymd}T{hour:02d}", at.replace(minute=0, second=0), False),
        "date with zone": DateText(f"{ymd}Z", midnight, False),
        "odd offset": DateText(f"{ymd}T{hour:02d}:{minute:02d}+99:99", at.replace(second=0), False),
        # not dates: refused
        "day first": DateText(f"{day.day:02d}/{day.month:02d}/{day.year:04d}", None, True),
        "february 30": DateText(f"{day.year:04d}-02-30", None, True),
        "month 13": DateText(f"{day.year:04d}-13-{day.day:02d}", None, True),
        "hour 25": DateText(f"{ymd}T25:{minute:02d}", None, True),
        "minute 61": DateText(f"{ymd}T{hour:02d}:61", None, True),
        "trailing words": DateText(f"{ymd} {draw(st.sampled_from(['UTC', 'am', 'x', 'T']))}", None, True),
        "words": DateText(draw(st.sampled_from(["soon", "next tuesday", "-", "?", "2026", "٢٠٢٦-٠١-٠٥",
                                                 "２０２６-０１-０５"])), None, True),
        "empty": DateText(pad, None, True),
    }
    return shapes[draw(st.sampled_from(sorted(shapes)))]


@fuzz(20)
@given(appointment_dates=st.lists(date_texts(), min_size=1, max_size=6),
       discharge_dates=st.lists(date_texts(), min_size=6, max_size=6),
       statuses=st.lists(st.sampled_from(["attended", "dna", "scheduled"]), min_size=6, max_size=6),
       container=CONTAINERS)
def test_dates_in_many_shapes_load_or_become_row_problems(previous, appointment_dates, discharge_dates, statuses,
                                                          container):
    header = [*HEADER, "discharge_date"]
    rows = [{**appointment(f"F{i}", when.text, status=status, client=f"C{i}"), "discharge_date": discharge.text}
            for i, (when, discharge, status) in enumerate(zip(appointment_dates, discharge_dates, statuses))]
    with copy_of(previous) as (folder, db):
        path = write_file(folder, csv_bytes(header, as_table(rows, header)), container)
        report = ingest_hostile(folder, db, [path], len(rows))
        assert isinstance(report, LoadReport), f"a file with odd dates was refused: {report}"
        loaded = {a: (when, discharged) for a, when, discharged in latest_load(
            db, "SELECT appointment_id, appointment_date, discharge_date FROM appointments "
                "WHERE load_id = {load}")}
        quarantined = dict(latest_load(db, "SELECT appointment_id, reason FROM quarantine WHERE load_id = {load}"))
        issues = {a for a, in latest_load(db, "SELECT appointment_id FROM data_issues "
                                              "WHERE load_id = {load} AND field = 'discharge_date'")}
    for row, when, discharge in zip(rows, appointment_dates, discharge_dates):
        key = row["appointment_id"]
        assert (key in loaded) != (key in quarantined), f"{key} is not in exactly one place"
        after_extract = when.wall is not None and row["status"] == "attended" and when.wall.date() > EXTRACT
        if key in quarantined:
            reason = quarantined[key]
            if when.wall is None:
                assert "appointment_date" in reason, reason
            elif after_extract:  # (a shape not promised may be refused for its shape first)
                assert "after the extract date" in reason or not when.promised and "appointment_date" in reason
            else:
                assert not when.promised, f"{when.text!r} means {when.wall} but was quarantined: {reason}"
                assert "appointment_date" in reason, reason
            continue
        stored, stored_discharge = loaded[key]
        assert when.wall is not None and stored == when.wall, f"{when.text!r} was loaded as {stored}"
        assert not after_extract
        if stored_discharge is None:
            assert discharge.wall is None or not discharge.promised, f"{discharge.text!r} was dropped"
            assert (key in issues) == bool(discharge.text.strip()), "an unread discharge date is not a data issue"
        else:
            assert discharge.wall is not None and stored_discharge == discharge.wall.date(), (
                f"{discharge.text!r} was loaded as {stored_discharge}")


# --- numbers with commas ---------------------------------------------------------------------

SCORES = {"phq9": 27, "gad7": 21, "ors": 40}


@st.composite
def score_texts(draw, measure: str) -> tuple[str, float | None]:
    """(text, the value it must load as); None: a number written with a comma, a field problem."""
    whole = draw(st.integers(0, SCORES[measure]))
    a, b = draw(st.integers(0, 999)), draw(st.integers(0, 999))
    with_comma = draw(st.sampled_from([f"{a},{b}", f"{a},{b:03d}", f"1,{b:03d}", f",{b}", f"{a},", f"{a},{b},{a}",
                                       f" {a},{b} ", f"{a}.{b},0", f"-{a},{b}"]))
    plain = [(str(whole), float(whole)), (f"{whole}.0", float(whole)), (f" {whole} ", float(whole))]
    if measure == "ors":
        plain.append((f"{whole // 2}.5", whole // 2 + 0.5))
    return draw(st.sampled_from([(with_comma, None), (with_comma, None), *plain]))


@fuzz(15)
@given(scores=st.lists(st.fixed_dictionaries({m: score_texts(m) for m in SCORES}), min_size=1, max_size=5),
       delimiter=st.sampled_from([",", ";", "\t"]), container=CONTAINERS)
def test_numbers_with_commas_become_field_problems(previous, scores, delimiter, container):
    header = [*HEADER, *SCORES]
    rows = [{**appointment(f"F{i}", f"2026-01-{i + 1:02d}"), **{m: text for m, (text, _) in row.items()}}
            for i, row in enumerate(scores)]
    data = csv_bytes(header, as_table(rows, header), delimiter=delimiter)
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container)
        report = ingest_hostile(folder, db, [path], len(rows))
        assert isinstance(report, LoadReport), f"a file with commas in numbers was refused: {report}"
        assert report.totals["rows_loaded"] == len(rows)
        stored = {r[0]: r[1:] for r in latest_load(
            db, "SELECT appointment_id, " + ", ".join(f"[s.score FOR s IN scores IF s.measure = '{m}'][1]" for m in SCORES)
            + " FROM appointments WHERE load_id = {load}")}
        issues = set(latest_load(db, "SELECT appointment_id, field, value, reason FROM data_issues "
                                     "WHERE load_id = {load}"))
    expected_issues = set()
    for row, score in zip(rows, scores):
        key = row["appointment_id"]
        assert stored[key] == tuple(score[m][1] for m in SCORES), (key, score)
        expected_issues |= {(key, m, text.strip(), "not a number") for m, (text, value) in score.items()
                            if value is None}
    assert issues == expected_issues


# --- empty and header-only files -------------------------------------------------------------


@fuzz(20)
@given(kind=st.sampled_from(["nothing", "white space", "header only", "header without a required column"]),
       white_space=st.text(alphabet=" \t\r\n", max_size=6), bom=st.booleans(), optional=st.sets(
           st.sampled_from(OPTIONAL_COLUMNS), max_size=3), style=st.sampled_from(list(NAME_STYLES)),
       dropped=st.sampled_from(REQUIRED), terminator=st.sampled_from(["\n", "\r\n", ""]), container=CONTAINERS,
       with_good_file=st.booleans())
def test_empty_and_header_only_files(previous, kind, white_space, bom, optional, style, dropped, terminator,
                                     container, with_good_file):
    columns = [*REQUIRED, *sorted(optional)]
    if kind == "header without a required column":
        columns.remove(dropped)
    header = ",".join(NAME_STYLES[style](c) for c in columns) + terminator
    text = {"nothing": "", "white space": white_space}.get(kind, header)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, container)
        files = [path]
        if with_good_file:
            files.insert(0, write_file(folder, GOOD_LOG, stem="good"))
        outcome = ingest_hostile(folder, db, files, GOOD_LOG_ROWS if with_good_file else 0)
        if kind == "header only":
            assert isinstance(outcome, LoadReport), f"a header-only file was refused: {outcome}"
            assert dict(outcome.per_file.select("source_file", "rows_read").rows())[str(path)] == 0
        else:
            assert isinstance(outcome, LoadError), f"a {kind} file loaded"
            message = str(outcome)
            assert str(path) in message
            assert ("missing required column" in message if kind.startswith("header") else "empty" in message)


# --- Parquet columns of every type -----------------------------------------------------------

PARQUET_VALUES = {
    "string": pl.Series(["2026-01-05", "12"]),
    "integer": pl.Series([12, 3], dtype=pl.Int64),
    "unsigned": pl.Series([2**63, 3], dtype=pl.UInt64),
    "float": pl.Series([12.0, 3.5]),
    "boolean": pl.Series([True, None]),
    "decimal": pl.Series([decimal.Decimal("12.00"), None], dtype=pl.Decimal(10, 2)),
    "date": pl.Series([dt.date(2026, 1, 5), dt.date(9999, 12, 31)]),
    "date-time": pl.Series([dt.datetime(2026, 1, 5, 9, 30), None]),
    "zoned date-time": pl.Series([dt.datetime(2026, 1, 5, 9, 30)] * 2).dt.replace_time_zone("Europe/London"),
    "time": pl.Series([dt.time(9, 30), None]),
    "duration": pl.Series([dt.timedelta(days=1), None]),
    "categorical": pl.Series(["attended", "dna"], dtype=pl.Categorical),
    "null": pl.Series([None, None]),
    "list": pl.Series([[1], [2, 3]]),
    "struct": pl.Series([{"a": 1}, {"a": 2}]),
    "binary": pl.Series([b"a", b"b"]),
}
PLAIN_KINDS = [k for k in PARQUET_VALUES if k not in ("list", "struct", "binary")]


@fuzz(12)
@given(kinds=st.fixed_dictionaries({c: st.sampled_from(list(PARQUET_VALUES))
                                    for c in ("appointment_date", "phq9", "status", "notes")}),
       container=st.sampled_from(["plain", "gzip"]))
@example(kinds={"appointment_date": "string", "phq9": "integer", "status": "string", "notes": "duration"},
         container="plain")
def test_parquet_columns_of_any_type_load_or_fail_with_one_line_error(previous, kinds, container):
    frame = pl.DataFrame({"appointment_id": ["F0", "F1"], "client_id": ["C1", "C1"], "therapist_id": ["T1", "T1"],
                          "clinic_id": ["K1", "K1"], "status": ["attended", "dna"]})
    frame = frame.with_columns(PARQUET_VALUES[kind].alias(column) for column, kind in kinds.items())
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue() if container == "plain" else gzip.compress(buffer.getvalue())
    with copy_of(previous) as (folder, db):
        path = folder / "log.parquet"
        path.write_bytes(data)
        outcome = ingest_hostile(folder, db, [path], 2)
        if all(kind in PLAIN_KINDS for kind in kinds.values()):
            assert isinstance(outcome, LoadReport), f"a Parquet file of plain values was refused: {outcome}"


# --- the command line ------------------------------------------------------------------------

CLI_FILES = {
    "latin-1": ("log.csv", (",".join(HEADER) + "\nF1,C1,T1,Café,2026-01-05,attended\n").encode("latin-1")),
    "utf-16 without a BOM": ("log.csv",
                             (",".join(HEADER) + "\nF1,C1,T1,K1,2026-01-05,attended\n").encode("utf-16-le")),
    "damaged gzip": ("log.csv.gz", damaged(good_log_in("gzip"), [("flip", 30, b"\xff")])),
    "identifier column with a line break": (
        "log.csv", csv_bytes([*HEADER, "Email\naddress"], [["F1", "C1", "T1", "K1", "2026-01-05", "attended", "x"]])),
}


@pytest.mark.parametrize("kind", list(CLI_FILES))
def test_cli_refuses_hostile_file_with_one_line_error_and_no_traceback(previous, kind):
    name, data = CLI_FILES[kind]
    with copy_of(previous) as (folder, db):
        path = folder / name
        path.write_bytes(data)
        before = snapshot(db)
        result = run_cli("ingest", str(path), "--db", str(db), "--extract-date", EXTRACT.isoformat())
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), repr(result.stderr)
        assert str(path) in result.stderr
        assert snapshot(db) == before and building_leftovers(folder) == []


def test_cli_loads_bom_crlf_file_with_quoted_line_breaks(previous):
    rows = [["F1", "C1", "T1", "K1", "2026-01-05", "attended", 'says "hi",\r\nthen leaves'],
            ["F2", "C1", "T1", "K1", "2026-01-12", "No Show", "é😀\n"]]
    data = b"\xef\xbb\xbf" + csv_bytes([*HEADER, "notes"], rows, terminator="\r\n")
    with copy_of(previous) as (folder, db):
        path = write_file(folder, data, "gzip")
        result = run_cli("ingest", str(path), "--db", str(db), "--extract-date", EXTRACT.isoformat())
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert "2 = 2 + 0 + 0 (reconciles, per file and in total)" in result.stdout
        assert stored_appointments(db) == len(PREVIOUS_ROWS) + 2
