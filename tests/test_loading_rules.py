"""Loading (docs/loading/input.md, docs/loading/load-report.md): one test per loading rule, fixtures
built in code."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import EXTRACT, REQUIRED, Warehouse, appointment, run_cli, write_csv
from pipelines.cli import app
from pipelines.codes import DISCHARGE_REASON_SYNONYMS, SESSION_TYPE_SYNONYMS, STATUS_SYNONYMS
from pipelines.errors import LoadError
from pipelines.measures import BUILT_IN
from pipelines.read import available_profiles, load_profile


# --------------------------------------------------------------------------------------------
# helpers


def rows(w: Warehouse, sql: str, params: list | None = None) -> list[dict]:
    return w.query(sql, params).to_dicts()


# The appointments with each built-in measure's score as a column of its own, as tests compare them.
APPOINTMENTS_WITH_SCORES = ("(SELECT *, " + ", ".join(f"[s.score FOR s IN scores IF s.measure = '{m}'][1] AS {m}"
                                                      for m in BUILT_IN) + " FROM appointments)")


def appointment_row(w: Warehouse, appointment_id: str) -> dict:
    """The appointment's row, with each measure's score as if it were a column (None: not scored)."""
    found = rows(w, "SELECT * FROM appointments WHERE appointment_id = ?", [appointment_id])
    assert len(found) == 1, f"expected one appointments row for {appointment_id}, found {len(found)}"
    row = found[0]
    return {**row, **{m: None for m in BUILT_IN}, **{s["measure"]: s["score"] for s in row["scores"]}}


def quarantine_rows(w: Warehouse) -> list[dict]:
    return rows(w, "SELECT * FROM quarantine ORDER BY source_file, source_line")


def issue_rows(w: Warehouse) -> list[dict]:
    return rows(w, "SELECT * FROM data_issues ORDER BY source_file, source_line, field")


def write_lines(path: Path, header: list[str], data: list[list[object]]) -> Path:
    """A CSV with exactly the header given (no normalisation), for column-name tests."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(data)
    return path


def variants(synonym: str) -> list[str]:
    """The synonym as listed, shouted, and title-cased inside white space (e.g. ' No Show ')."""
    return [synonym, synonym.upper(), f"  {synonym.title()} "]


def every_value_in_warehouse(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
        values: list[str] = []
        for table in tables:
            for record in con.sql(f'SELECT * FROM "{table}"').fetchall():
                values += [str(v) for v in record]
        return values
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# coded columns (docs/loading/input.md): synonyms, matched case-insensitively after trimming. One load for all of
# them (module scope keeps the module fast); each synonym is its own parametrized test.


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> dict[str, dict]:
    w = Warehouse(tmp_path_factory.mktemp("coded"))
    data = []
    for i, synonym in enumerate(STATUS_SYNONYMS):
        for j, text in enumerate(variants(synonym)):
            data.append(appointment(f"S{i}-{j}", "2026-01-05", status=text, client=f"S{i}-{j}"))
    for i, synonym in enumerate(SESSION_TYPE_SYNONYMS):
        for j, text in enumerate(variants(synonym)):
            data.append(appointment(f"T{i}-{j}", "2026-01-05", client=f"T{i}-{j}", session_type=text))
    for i, synonym in enumerate(DISCHARGE_REASON_SYNONYMS):
        for j, text in enumerate(variants(synonym)):
            data.append(appointment(f"D{i}-{j}", "2026-01-05", client=f"D{i}-{j}",
                                    discharge_date="2026-02-01", discharge_reason=text))
    report = w.load(data)
    assert report.totals["rows_loaded"] == len(data), w.query("SELECT * FROM quarantine")
    appointments = {r["appointment_id"]: r for r in rows(w, "SELECT * FROM appointments")}
    episodes = {r["client_id"]: r for r in rows(w, "SELECT * FROM episodes")}
    issues = rows(w, "SELECT * FROM data_issues")
    return {"appointments": appointments, "episodes": episodes, "issues": issues}


@pytest.mark.parametrize("synonym", list(STATUS_SYNONYMS))
def test_status_synonym_maps_to_canonical_value(coded, synonym):
    i = list(STATUS_SYNONYMS).index(synonym)
    for j in range(3):
        assert coded["appointments"][f"S{i}-{j}"]["status"] == STATUS_SYNONYMS[synonym], variants(synonym)[j]


@pytest.mark.parametrize("synonym", list(SESSION_TYPE_SYNONYMS))
def test_session_type_synonym_maps_to_canonical_value(coded, synonym):
    i = list(SESSION_TYPE_SYNONYMS).index(synonym)
    for j in range(3):
        row = coded["appointments"][f"T{i}-{j}"]
        assert row["session_type"] == SESSION_TYPE_SYNONYMS[synonym], variants(synonym)[j]


@pytest.mark.parametrize("synonym", list(DISCHARGE_REASON_SYNONYMS))
def test_discharge_reason_synonym_maps_to_canonical_value(coded, synonym):
    i = list(DISCHARGE_REASON_SYNONYMS).index(synonym)
    canonical = DISCHARGE_REASON_SYNONYMS[synonym]
    for j in range(3):
        key = f"D{i}-{j}"
        assert coded["appointments"][key]["discharge_reason"] == canonical, variants(synonym)[j]
        episode = coded["episodes"][key]
        assert (episode["status"], episode["end_reason"], episode["end_date"]) == (
            "closed", canonical, dt.date(2026, 2, 1)), variants(synonym)[j]


def test_recognised_codes_raise_no_data_issues(coded):
    assert coded["issues"] == []


# --------------------------------------------------------------------------------------------
# files (docs/loading/input.md): column names, BOM, gzip, Parquet, several files


def test_column_names_match_case_insensitively_after_trimming(warehouse, tmp_path):
    path = write_lines(
        tmp_path / "odd_headers.csv",
        [" Appointment_ID ", "CLIENT_ID", "Therapist_Id", "  clinic_id", "APPOINTMENT_DATE ", " Status ",
         " PHQ9 ", "Session_Type"],
        [["A1", "C1", "T1", "K1", "2026-01-05", "attended", "14", "assessment"]],
    )
    report = warehouse.load([path])
    assert report.totals["rows_loaded"] == 1
    row = appointment_row(warehouse, "A1")
    assert (row["client_id"], row["therapist_id"], row["clinic_id"], row["status"], row["phq9"],
            row["session_type"]) == ("C1", "T1", "K1", "attended", 14, "assessment")
    assert report.ignored_columns == {}


def test_bom_prefixed_utf8_file_loads(warehouse, tmp_path):
    plain = write_csv(tmp_path, [appointment("A1", "2026-01-05", phq9=9)], "plain.csv")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    report = warehouse.load([path])
    assert report.totals == {"rows_read": 1, "rows_loaded": 1, "rows_quarantined": 0,
                             "duplicates_merged": 0, "rows_replacing_earlier": 0}
    assert appointment_row(warehouse, "A1")["phq9"] == 9


def test_gzip_compressed_csv_loads(warehouse, tmp_path):
    plain = write_csv(tmp_path, [appointment("A1", "2026-01-05"), appointment("A2", "2026-01-12", "dna")],
                      "plain.csv")
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    report = warehouse.load([path])
    assert report.per_file.rows() == [(str(path), 2, 2, 0, 0, 0)]
    assert appointment_row(warehouse, "A2")["status"] == "dna"


def test_parquet_input_loads(warehouse, tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame({
        "appointment_id": ["P1", "P2"], "client_id": ["C1", "C1"], "therapist_id": ["T1", "T1"],
        "clinic_id": ["K1", "K1"],
        "appointment_date": [dt.datetime(2026, 1, 5, 9, 30), dt.datetime(2026, 1, 12, 14, 0)],
        "status": ["attended", "attended"], "phq9": [12, 8], "ors": [30.5, None],
        "discharge_date": [None, dt.date(2026, 2, 1)],
    }).write_parquet(path)
    report = warehouse.load([path])
    assert report.totals["rows_loaded"] == 2
    p1, p2 = appointment_row(warehouse, "P1"), appointment_row(warehouse, "P2")
    assert (p1["appointment_date"], p1["phq9"], p1["ors"]) == (dt.datetime(2026, 1, 5, 9, 30), 12, 30.5)
    assert (p2["phq9"], p2["ors"], p2["discharge_date"]) == (8, None, dt.date(2026, 2, 1))
    assert issue_rows(warehouse) == []


def test_several_files_load_together(warehouse, tmp_path):
    first = write_csv(tmp_path, [appointment("A1", "2026-01-05"), appointment("A2", "2026-01-12")], "a.csv")
    second = write_csv(tmp_path, [appointment("B1", "2026-01-05", client="C2")], "b.csv")
    third = tmp_path / "c.parquet"
    pl.DataFrame([appointment("P1", "2026-01-05", client="C3")]).write_parquet(third)
    report = warehouse.load([first, second, third])
    assert sorted(report.per_file.select("source_file", "rows_loaded").rows()) == [
        (str(first), 2), (str(second), 1), (str(third), 1)]
    assert sorted(rows(warehouse, "SELECT appointment_id, source_file FROM appointments"),
                  key=lambda r: r["appointment_id"]) == [
        {"appointment_id": "A1", "source_file": str(first)},
        {"appointment_id": "A2", "source_file": str(first)},
        {"appointment_id": "B1", "source_file": str(second)},
        {"appointment_id": "P1", "source_file": str(third)},
    ]


# --------------------------------------------------------------------------------------------
# row problems (docs/loading/load-report.md#quarantine) → quarantine with original values, file, line and reason


@pytest.mark.parametrize("column", REQUIRED)
def test_required_column_empty_is_quarantined(warehouse, column):
    bad = appointment("A2", "2026-01-12", phq9=11)
    bad[column] = ""
    report = warehouse.load([appointment("A1", "2026-01-05"), bad])
    assert report.totals["rows_quarantined"] == 1
    assert rows(warehouse, "SELECT appointment_id FROM appointments") == [{"appointment_id": "A1"}]
    [q] = quarantine_rows(warehouse)
    assert q["source_file"] == str(warehouse.folder / "log1.csv")
    assert q["source_line"] == 3
    assert column in q["reason"] and "empty" in q["reason"]
    assert q[column] is None
    for name, value in bad.items():
        if name != column:
            assert q[name] == str(value), name


def test_values_are_trimmed_and_a_value_of_only_white_space_is_missing(warehouse):
    padded = appointment("A1", "2026-01-05", client="  C1\t", phq9=11)
    padded["therapist_id"] = " T1 "
    blank = appointment("A2", "2026-01-12", client=" \t ")
    report = warehouse.load([padded, blank])
    assert report.totals["rows_quarantined"] == 1
    assert rows(warehouse, f"SELECT appointment_id, client_id, therapist_id, phq9 FROM {APPOINTMENTS_WITH_SCORES}") == [
        {"appointment_id": "A1", "client_id": "C1", "therapist_id": "T1", "phq9": 11}]
    [q] = quarantine_rows(warehouse)
    assert q["appointment_id"] == "A2" and "client_id" in q["reason"] and "empty" in q["reason"]


@pytest.mark.parametrize("text", ["05/01/2026", "2026-02-30", "next tuesday", "2026-13-01T10:00"])
def test_unparseable_appointment_date_is_quarantined(warehouse, text):
    warehouse.load([appointment("A1", text, phq9=12), appointment("A2", "2026-01-05")])
    [q] = quarantine_rows(warehouse)
    assert (q["appointment_id"], q["source_line"], q["appointment_date"], q["phq9"]) == ("A1", 2, text, "12")
    assert "appointment_date" in q["reason"] and text not in q["reason"]  # the row keeps it; the reason never
    assert [r["appointment_id"] for r in rows(warehouse, "SELECT appointment_id FROM appointments")] == ["A2"]


def test_unrecognised_status_is_quarantined(warehouse):
    report = warehouse.load([appointment("A1", "2026-01-05"), appointment("A2", "2026-01-12", status="maybe")])
    [q] = quarantine_rows(warehouse)
    assert (q["appointment_id"], q["source_line"], q["status"], q["client_id"]) == ("A2", 3, "maybe", "C1")
    assert "status" in q["reason"] and "maybe" not in q["reason"]  # the row keeps it; the reason never
    assert report.quarantine_reasons.rows() == [(q["reason"], 1)]


def test_attended_row_dated_after_extract_date_is_quarantined(warehouse):
    after = (EXTRACT + dt.timedelta(days=1)).isoformat()
    warehouse.load([
        appointment("A1", EXTRACT.isoformat()),                 # on the extract date: fine
        appointment("A2", f"{EXTRACT.isoformat()}T18:30:00"),    # later that day: fine
        appointment("A3", after),                                # attended after E: row problem
        appointment("A4", after, status="scheduled"),            # a booking after E: fine
    ])
    [q] = quarantine_rows(warehouse)
    assert (q["appointment_id"], q["source_line"], q["appointment_date"]) == ("A3", 4, after)
    assert "after the extract date" in q["reason"]
    loaded = {r["appointment_id"] for r in rows(warehouse, "SELECT appointment_id FROM appointments")}
    assert loaded == {"A1", "A2", "A4"}


def test_quoted_line_break_counts_in_later_source_lines(warehouse):
    report = warehouse.load([
        appointment("A1", "2026-01-05", notes="first line\nsecond line\nthird line"),  # lines 2-4
        appointment("A2", "2026-01-12", status="maybe"),                               # line 5
        appointment("A3", "2026-01-19", notes="x\ny"),                                 # lines 6-7
        appointment("A4", "2026-01-26", status="perhaps"),                             # line 8
    ])
    assert report.totals["rows_read"] == 4
    assert [(q["appointment_id"], q["source_line"]) for q in quarantine_rows(warehouse)] == [("A2", 5), ("A4", 8)]
    assert appointment_row(warehouse, "A1")["source_line"] == 2
    assert appointment_row(warehouse, "A3")["source_line"] == 6


# --------------------------------------------------------------------------------------------
# line breaks and records (docs/loading/input.md#line-breaks, docs/loading/load-report.md#quarantine)


def csv_text(header: list[str], records: list[list[str]], breaks: list[str]) -> bytes:
    """A CSV file whose lines end as `breaks` says, line by line (header first); values unquoted."""
    lines = [",".join(header), *(",".join(record) for record in records)]
    return "".join(line + brk for line, brk in zip(lines, breaks, strict=True)).encode()


LOG_COLUMNS = [*REQUIRED, "phq9"]
LOG_RECORDS = [[f"A{i}", "C1", "T1", "K1", f"2026-01-{i + 10:02d}", "attended", str(i)] for i in range(1, 5)]


def test_cr_only_file_loads_every_row(warehouse, tmp_path):
    """An old Mac export (every line ends in CR alone) loaded 0 rows and reported that it reconciled."""
    from pipelines.generate import generate_appointments, write_appointments

    unix = write_appointments(generate_appointments(clients=40, seed=3), tmp_path)
    expected = unix.read_bytes().count(b"\n") - 1
    mac = tmp_path / "mac.csv"
    mac.write_bytes(unix.read_bytes().replace(b"\n", b"\r"))
    report = warehouse.load([mac])
    assert report.totals["rows_read"] == expected > 0
    assert report.totals["rows_loaded"] + report.totals["rows_quarantined"] == expected
    assert report.ignored_columns == {}
    assert rows(warehouse, "SELECT min(source_line) AS first, max(source_line) AS last FROM appointments") == [
        {"first": 2, "last": expected + 1}]


@pytest.mark.parametrize("breaks", [["\n"] * 5, ["\r\n"] * 5, ["\r"] * 5, ["\r\n", "\r", "\n", "\r", ""],
                                    ["\r", "\n", "\r\n", "\n", "\r"]],
                         ids=["LF", "CRLF", "CR", "mixed, no final break", "mixed"])
def test_every_line_break_convention_and_a_mix_of_them_reads_alike(warehouse, tmp_path, breaks):
    path = tmp_path / "log.csv"
    path.write_bytes(csv_text(LOG_COLUMNS, LOG_RECORDS, breaks))
    report = warehouse.load([path])
    assert (report.totals["rows_read"], report.totals["rows_loaded"]) == (4, 4)
    assert rows(warehouse, f"SELECT appointment_id, phq9, source_line FROM {APPOINTMENTS_WITH_SCORES} ORDER BY 1") == [
        {"appointment_id": f"A{i}", "phq9": i, "source_line": i + 1} for i in range(1, 5)]


def test_a_line_break_of_any_convention_inside_quotes_counts_in_later_source_lines(warehouse, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"appointment_id,client_id,therapist_id,clinic_id,appointment_date,status,notes\n"
                     b'A1,C1,T1,K1,2026-01-05,attended,"one\rtwo\r\nthree"\n'   # lines 2-4
                     b"A2,C1,T1,K1,2026-01-12,maybe,\r"                          # line 5
                     b'A3,C1,T1,K1,2026-01-19,attended,"x\ny"\r\n'             # lines 6-7
                     b"A4,C1,T1,K1,2026-01-26,perhaps,\n")                       # line 8
    warehouse.load([path])
    assert [(q["appointment_id"], q["source_line"]) for q in quarantine_rows(warehouse)] == [("A2", 5), ("A4", 8)]
    assert appointment_row(warehouse, "A3")["source_line"] == 6


@pytest.mark.parametrize(("record", "fields"), [
    (["A2", "C1", "T1", "K1", "2026-01-12", "attended", "12", "surplus"], 8),
    (["A2", "C1", "T1", "K1", "2026-01-12", "attended"], 6),   # the optional phq9 left out: not a missing score
    (["A2", "C1", "T1"], 3),
], ids=["too many", "one too few", "too few"])
def test_a_record_with_too_many_or_too_few_fields_is_quarantined_with_its_line(warehouse, tmp_path, record, fields):
    path = tmp_path / "log.csv"
    path.write_bytes(csv_text(LOG_COLUMNS, [LOG_RECORDS[0], record, LOG_RECORDS[2]], ["\n"] * 4))
    report = warehouse.load([path])
    assert (report.totals["rows_read"], report.totals["rows_loaded"], report.totals["rows_quarantined"]) == (3, 2, 1)
    [q] = quarantine_rows(warehouse)
    assert (q["source_line"], q["reason"]) == (3, f"{fields} fields where the header has 7")
    assert (q["appointment_id"], q["client_id"]) == ("A2", "C1")
    assert [r["appointment_id"] for r in rows(warehouse, "SELECT appointment_id FROM appointments ORDER BY 1")] == [
        "A1", "A3"]


def test_the_careful_reading_keeps_every_record_and_its_line_across_its_chunks(warehouse, tmp_path, monkeypatch):
    import pipelines.read

    monkeypatch.setattr(pipelines.read, "CAREFUL_CHUNK", 2)  # records held as lists before they become a frame
    records = [[f"A{i}", "C1", "T1", "K1", f"2026-01-{i + 10:02d}", "attended", str(i % 20)] for i in range(1, 10)]
    records[6] = records[6][:5]  # line 8: five fields
    path = tmp_path / "log.csv"
    path.write_bytes(csv_text(LOG_COLUMNS, records, ["\n"] * 10))
    report = warehouse.load([path])
    assert (report.totals["rows_read"], report.totals["rows_loaded"], report.totals["rows_quarantined"]) == (9, 8, 1)
    assert [(q["appointment_id"], q["source_line"]) for q in quarantine_rows(warehouse)] == [("A7", 8)]
    assert rows(warehouse, "SELECT appointment_id, source_line FROM appointments ORDER BY source_line") == [
        {"appointment_id": f"A{i}", "source_line": i + 1} for i in range(1, 10) if i != 7]


def test_a_lone_cr_inside_a_line_ends_it_and_both_parts_are_quarantined_with_their_lines(warehouse, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"appointment_id,client_id,therapist_id,clinic_id,appointment_date,status\n"
                     b"A1,C1,T1,K1,2026-01-05,attended\n"
                     b"A2,C1,T1,no\rrth,2026-01-12,attended\n"
                     b"A3,C1,T1,K1,2026-01-19,attended\n")
    report = warehouse.load([path])
    assert (report.totals["rows_read"], report.totals["rows_loaded"], report.totals["rows_quarantined"]) == (4, 2, 2)
    assert [(q["source_line"], q["reason"]) for q in quarantine_rows(warehouse)] == [
        (3, "4 fields where the header has 6"), (4, "3 fields where the header has 6")]
    assert appointment_row(warehouse, "A3")["source_line"] == 5


@pytest.mark.parametrize(("content", "line"), [
    (b'A1,C1,T1,K1,2026-01-05,attended\nA2,"C1,T1,K1,2026-01-12,attended\nA3,C1,T1,K1,2026-01-19,attended\n', 3),
    (b'A1,C1,T1,K1,2026-01-05,attended\nA2,C1,T1,K1,2026-01-12,"dna\nA3,C1,T1,K1,2026-01-19,attended\n', 3),
    (b'A1,C1,T1,K1,"2026-01-05\n",attended\nA2,C1,T1,K1,2026-01-12,attended,"x""\n\nA3,C1\n', 4),
], ids=["in a middle column", "in the last column", "after a closed one"])
def test_an_unbalanced_quote_refuses_the_file_naming_the_line_where_it_opens(warehouse, tmp_path, content, line):
    path = tmp_path / "log.csv"
    path.write_bytes(",".join(REQUIRED).encode() + b"\n" + content)
    with pytest.raises(LoadError) as caught:
        warehouse.load([path])
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}: a quote opens a value that never closes"), message
    assert "\n" not in message


@pytest.mark.parametrize(("content", "said"), [
    (b"notes,room\nsome,thing\n", "missing required column(s) appointment_id, client_id, therapist_id, clinic_id, "
                                    "appointment_date, status (recognised: none); line 1 must be the header"),
    (b"A1,C1,T1,K1,2026-01-05,attended\nA2,C1,T1,K1,2026-01-12,attended\n",
     "(recognised: none); line 1 must be the header"),
    (b"\nappointment_id,client_id,therapist_id,clinic_id,appointment_date,status\nA1,C1,T1,K1,2026-01-05,attended\n",
     "line 1 is empty; the first line must be the header"),
    (b"\r\n\r\nA1,C1,T1,K1,2026-01-05,attended\n", "line 1 is empty; the first line must be the header"),
], ids=["unknown columns only", "a data row", "an empty line", "empty lines, no header"])
def test_a_file_whose_header_has_no_required_column_is_refused_never_loaded_as_nothing(warehouse, tmp_path,
                                                                                      content, said):
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    with pytest.raises(LoadError) as caught:
        warehouse.load([path])
    assert str(caught.value).startswith(f"{path}: ") and said in str(caught.value), str(caught.value)
    assert not warehouse.path.exists()


# --------------------------------------------------------------------------------------------
# field problems (docs/loading/load-report.md#data-issues) → row kept, field null, data issue with the
# original value


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("phq9", "28", "out of range"),
    ("gad7", "22", "out of range"),
    ("phq9_item9", "4", "out of range"),
    ("core10", "41", "out of range"),
    ("ors", "40.5", "out of range"),
    ("srs", "-1", "out of range"),
    ("phq9", "twelve", "not a number"),
    ("ors", "n/a", "not a number"),
    ("phq9", "12.5", "not a whole number"),
    ("gad7", "7.25", "not a whole number"),
    ("referral_date", "31/01/2026", "not an ISO 8601 date"),
    ("discharge_date", "end of March", "not an ISO 8601 date"),
    ("session_type", "massage", "not a recognised session type"),
])
def test_field_problem_keeps_row_nulls_field_and_records_issue(warehouse, field, value, reason):
    report = warehouse.load([appointment("A1", "2026-01-05", **{field: value})])
    assert report.totals["rows_loaded"] == 1
    assert appointment_row(warehouse, "A1")[field] is None
    [issue] = issue_rows(warehouse)
    assert (issue["appointment_id"], issue["field"], issue["value"], issue["source_line"]) == (
        "A1", field, value, 2)
    assert reason in issue["reason"]
    assert report.data_issue_fields.rows() == [(field, issue["reason"], 1)]


def test_whole_number_written_with_decimal_zero_counts_as_integer(warehouse):
    warehouse.load([appointment("A1", "2026-01-05", phq9="12.0", gad7="7.00", phq9_item9="1.0")])
    row = appointment_row(warehouse, "A1")
    assert (row["phq9"], row["gad7"], row["phq9_item9"]) == (12, 7, 1)
    assert issue_rows(warehouse) == []


def test_ors_and_srs_accept_fractional_values(warehouse):
    warehouse.load([appointment("A1", "2026-01-05", ors="39.5", srs="36.2")])
    row = appointment_row(warehouse, "A1")
    assert (row["ors"], row["srs"]) == (39.5, 36.2)
    assert issue_rows(warehouse) == []


def test_unrecognised_discharge_reason_becomes_unknown_and_is_reported(warehouse):
    warehouse.load([appointment("A1", "2026-01-05", discharge_date="2026-02-01", discharge_reason="went fishing")])
    assert appointment_row(warehouse, "A1")["discharge_reason"] == "unknown"
    [issue] = issue_rows(warehouse)
    assert (issue["field"], issue["value"]) == ("discharge_reason", "went fishing")
    assert "discharge reason" in issue["reason"]
    assert warehouse.episode()["end_reason"] == "unknown"


@pytest.mark.parametrize("status", ["dna", "cancelled", "scheduled"])
def test_scores_on_row_not_attended_are_ignored_and_reported(warehouse, status):
    warehouse.load([appointment("A1", "2026-01-05", status=status, phq9="10", gad7="8", ors="20")])
    row = appointment_row(warehouse, "A1")
    assert (row["phq9"], row["gad7"], row["ors"]) == (None, None, None)
    issues = issue_rows(warehouse)
    assert [(i["field"], i["value"]) for i in issues] == [("gad7", "8"), ("ors", "20"), ("phq9", "10")]
    assert all("not attended" in i["reason"] for i in issues)


# --------------------------------------------------------------------------------------------
# duplicates and replacement (docs/loading/load-report.md)


def test_exact_duplicate_rows_are_merged_and_counted(warehouse):
    row = appointment("A1", "2026-01-05", phq9=12)
    report = warehouse.load([row, row, appointment("A2", "2026-01-12"), row])
    assert report.per_file.select("rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged").rows() == [
        (4, 2, 0, 2)]
    assert appointment_row(warehouse, "A1")["source_line"] == 2
    assert quarantine_rows(warehouse) == []


def test_conflicting_duplicate_rows_are_all_quarantined(warehouse):
    report = warehouse.load([
        appointment("A1", "2026-01-05", status="attended"),
        appointment("A2", "2026-01-12"),
        appointment("A1", "2026-01-05", status="dna"),
    ])
    assert report.totals["rows_quarantined"] == 2 and report.totals["duplicates_merged"] == 0
    quarantined = quarantine_rows(warehouse)
    assert [(q["appointment_id"], q["source_line"], q["status"]) for q in quarantined] == [
        ("A1", 2, "attended"), ("A1", 4, "dna")]
    assert all("conflicting duplicate" in q["reason"] for q in quarantined)
    assert [r["appointment_id"] for r in rows(warehouse, "SELECT appointment_id FROM appointments")] == ["A2"]


def test_duplicate_rules_look_only_at_rows_whose_id_repeats(tmp_path):
    # The rows both duplicate rules read, across every block of a load: an id seen once, an empty
    # id, or a row the reader refused is never among them (a regression let every row through,
    # which was correct but three times slower at scale).
    from pipelines.read import QUARANTINE_REASON
    from pipelines.staging import Staged, _add_ids, _id_connection, repeated_rows
    schema = Staged(folder=tmp_path).schema  # (every block's columns, a column per measure among them)

    def block(name: str, keys: list[int], ids: list[str | None], refused: list[str | None]) -> Path:
        frame = pl.DataFrame({"row_key": keys, "appointment_id": ids, QUARANTINE_REASON: refused},
                             schema_overrides={"appointment_id": pl.String, QUARANTINE_REASON: pl.String})
        frame = frame.with_columns(pl.lit(None).cast(dtype).alias(column) for column, dtype in schema.items()
                                   if column not in frame.columns).select(schema.keys())
        frame.write_parquet(tmp_path / name)
        return tmp_path / name

    def repeated(staged: Staged) -> list[int]:
        con = _id_connection(tmp_path, 2**30)
        for path in staged.blocks:
            _add_ids(con, pl.read_parquet(path))
        return repeated_rows(con, staged)["row_key"].to_list()

    staged = Staged(folder=tmp_path, blocks=[
        block("a.parquet", [0, 1, 2], ["A", "B", "C"], [None, None, None]),
        block("b.parquet", [3, 4, 5, 6], ["A", None, None, "C"], [None, None, None, "not an appointment"])])
    assert repeated(staged) == [0, 3]
    staged.blocks = staged.blocks[1:]
    assert repeated(staged) == []


exact_triple_and_conflict = [appointment("A1", "2026-01-05"), appointment("A1", "2026-01-05"),
                             appointment("A1", "2026-01-05", status="dna"), appointment("A2", "2026-01-12")]


def test_exact_copies_are_merged_before_conflicts_are_judged(warehouse):
    # Two exact copies and a third, different row: the copy merges, the two that differ are
    # quarantined as conflicting.
    report = warehouse.load(exact_triple_and_conflict)
    assert report.per_file.select("rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged").rows() == [
        (4, 1, 2, 1)]
    assert [(q["source_line"], q["status"]) for q in quarantine_rows(warehouse)] == [(2, "attended"), (4, "dna")]


@pytest.mark.parametrize("layout", ["within_second_file", "across_files"])
def test_conflicting_duplicates_in_multi_file_load_are_all_quarantined(warehouse, tmp_path, layout):
    # regression: polars panicked formatting the reason when the conflicting rows all came from a
    # later file of the load (fixed by rechunking in validate.combine_sources)
    if layout == "within_second_file":
        first_rows = [appointment("A1", "2026-01-05")]
        second_rows = [appointment("A2", "2026-01-12"), appointment("A2", "2026-01-12", status="dna")]
        expected_lines = [("b.csv", 2), ("b.csv", 3)]
    else:
        first_rows = [appointment("A1", "2026-01-05"), appointment("A2", "2026-01-12")]
        second_rows = [appointment("A2", "2026-01-12", status="dna")]
        expected_lines = [("a.csv", 3), ("b.csv", 2)]
    first = write_csv(tmp_path, first_rows, "a.csv")
    second = write_csv(tmp_path, second_rows, "b.csv")
    report = warehouse.load([first, second])
    assert report.totals["rows_loaded"] == 1 and report.totals["rows_quarantined"] == 2
    quarantined = quarantine_rows(warehouse)
    assert [(Path(q["source_file"]).name, q["source_line"]) for q in quarantined] == expected_lines
    assert all("conflicting duplicate: its appointment_id appears 2 times" in q["reason"] for q in quarantined)
    assert [r["appointment_id"] for r in rows(warehouse, "SELECT appointment_id FROM appointments")] == ["A1"]


def test_later_load_replaces_earlier_rows_with_same_appointment_id(warehouse):
    warehouse.load([appointment("A1", "2026-01-05", status="scheduled"), appointment("A2", "2026-01-12")])
    report = warehouse.load([appointment("A1", "2026-01-05", status="attended", phq9=15),
                             appointment("A3", "2026-01-19")])
    assert report.totals["rows_replacing_earlier"] == 1
    a1 = appointment_row(warehouse, "A1")
    assert (a1["status"], a1["phq9"], a1["load_id"]) == ("attended", 15, 2)
    assert appointment_row(warehouse, "A2")["load_id"] == 1
    assert rows(warehouse, "SELECT count(*) AS n FROM appointments") == [{"n": 3}]
    assert rows(warehouse, "SELECT load_id, rows_replacing_earlier FROM loads ORDER BY load_id") == [
        {"load_id": 1, "rows_replacing_earlier": 0}, {"load_id": 2, "rows_replacing_earlier": 1}]


# --------------------------------------------------------------------------------------------
# reconciliation (docs/loading/load-report.md)


def test_load_reconciles_per_file_and_in_total(warehouse, tmp_path):
    good = appointment("A1", "2026-01-05")
    first = write_csv(tmp_path, [
        good, good,                                          # 1 loaded, 1 merged
        appointment("A2", "2026-01-12", status="maybe"),     # quarantined
        appointment("A3", "2026-01-19", phq9=99),            # loaded (field problem)
    ], "first.csv", columns=[*REQUIRED, "phq9"])
    second = write_csv(tmp_path, [
        appointment("B1", "2026-01-05", client="C2"),                      # loaded
        appointment("B2", "2026-01-12", client="C2"),                      # conflicting
        appointment("B2", "2026-01-12", client="C2", status="dna"),        # conflicting
        appointment("B3", "2026-01-19", client=""),                        # quarantined
    ], "second.csv")
    report = warehouse.load([first, second])
    expected = [(str(first), 4, 2, 1, 1), (str(second), 4, 1, 3, 0)]
    columns = ["source_file", "rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged"]
    assert sorted(report.per_file.select(columns).rows()) == expected
    assert report.totals["rows_read"] == 8 == 3 + 4 + 1
    assert report.reconciles
    stored = warehouse.query(f"SELECT {', '.join(columns)} FROM loads ORDER BY source_file").rows()
    assert stored == expected
    # and the tables hold what the report says
    assert warehouse.query("SELECT source_file, count(*) FROM appointments GROUP BY 1 ORDER BY 1").rows() == [
        (str(first), 2), (str(second), 1)]
    assert warehouse.query("SELECT source_file, count(*) FROM quarantine GROUP BY 1 ORDER BY 1").rows() == [
        (str(first), 1), (str(second), 3)]


def test_file_with_no_data_rows_still_appears_in_reconciliation(warehouse, tmp_path):
    empty = write_csv(tmp_path, [], "header_only.csv", columns=list(REQUIRED))
    full = write_csv(tmp_path, [appointment("A1", "2026-01-05")], "full.csv")
    report = warehouse.load([full, empty])
    assert sorted(report.per_file.select("source_file", "rows_read", "rows_loaded").rows()) == [
        (str(full), 1, 1), (str(empty), 0, 0)]


# --------------------------------------------------------------------------------------------
# identifier columns (docs/loading/identifiers.md)


IDENTIFIER_COLUMNS = ["Name", "Client Name", "First Name", "last_name", "Surname", "Email", "E-mail Address",
                      "Phone", "Mobile Number", "Address", "Postcode", "ZIP", "Zip Code", "Date of Birth", "DOB",
                      "NHS_Number", "NHS No", "SSN", "MRN", "Medical Record Number"]


@pytest.mark.parametrize("column", IDENTIFIER_COLUMNS)
def test_identifier_column_refuses_load_naming_it(warehouse, column):
    with pytest.raises(LoadError) as caught:
        warehouse.load([appointment("A1", "2026-01-05", **{column: "Jane Doe"})])
    message = str(caught.value)
    assert column in message and "identifier" in message and "\n" not in message
    assert not warehouse.path.exists()


@pytest.mark.parametrize("column", ["Client DOB", "Patient MRN", "Client SSN", "Client Forename"])
def test_prefixed_short_identifier_column_refuses_load(warehouse, column):
    with pytest.raises(LoadError, match=column):
        warehouse.load([appointment("A1", "2026-01-05", **{column: "x"})])


def test_identifier_columns_refused_are_all_named(warehouse):
    with pytest.raises(LoadError) as caught:
        warehouse.load([appointment("A1", "2026-01-05", Email="a@b.c", **{"Date of Birth": "1980-01-01",
                                                                          "NHS_Number": "9434765919"})])
    assert all(c in str(caught.value) for c in ("Email", "Date of Birth", "NHS_Number"))


def test_dropped_identifier_columns_never_reach_the_warehouse(warehouse):
    secrets = {"Email": "jane.secret@example.org", "Date of Birth": "1911-11-11", "NHS_Number": "9434765919",
               "Full Name": "Jane Secretperson", "Postcode": "ZZ9 9ZZ"}
    report = warehouse.load([appointment("A1", "2026-01-05", **secrets)], drop_identifiers=True)
    assert report.totals["rows_loaded"] == 1
    assert sorted(report.dropped_columns[str(warehouse.folder / "log1.csv")]) == sorted(secrets)
    stored = every_value_in_warehouse(warehouse.path)
    assert "A1" in stored
    for secret in secrets.values():
        assert not any(secret in value for value in stored), secret
        assert secret.encode() not in warehouse.path.read_bytes(), secret


# --------------------------------------------------------------------------------------------
# unreadable files (docs/loading/load-report.md): one-line error naming the file; the warehouse is left as it was

HEADER = ",".join(REQUIRED) + "\n"
UNREADABLE = {
    "empty": (b"", "empty"),
    "binary": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "UTF-8"),
    "latin1": ((HEADER + "A9,C9,T9,Café,2026-01-05,attended\n").encode("latin-1"), "UTF-8"),
    "utf16": ((HEADER + "A9,C9,T9,K9,2026-01-05,attended\n").encode("utf-16"), "UTF-16"),
    "missing_status": (b"appointment_id,client_id,therapist_id,clinic_id,appointment_date\n"
                       b"A9,C9,T9,K9,2026-01-05\n", "missing required column(s) status"),
    "json": (b'{"appointment_id": "A9"}\n', "JSON, but not a FHIR resource"),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_unreadable_file_fails_load_and_leaves_warehouse_unchanged(warehouse, tmp_path, kind):
    content, what = UNREADABLE[kind]
    warehouse.load([appointment("A1", "2026-01-05")])
    before = warehouse.path.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    bad = tmp_path / f"bad_{kind}.csv"
    bad.write_bytes(content)
    good = write_csv(tmp_path, [appointment("A2", "2026-01-12")], "good.csv")
    with pytest.raises(LoadError) as caught:
        warehouse.load([good, bad])
    message = str(caught.value)
    assert "\n" not in message
    assert str(bad) in message and what in message
    assert warehouse.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*listing, bad.name, good.name])


def test_unreadable_file_on_first_load_creates_no_warehouse(warehouse, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    with pytest.raises(LoadError, match="bad.csv"):
        warehouse.load([bad])
    assert not warehouse.path.exists()


# --------------------------------------------------------------------------------------------
# mapping profiles (docs/loading/profiles.md)


def test_shipped_nhs_talking_therapies_profile_maps_columns_and_codes(warehouse, tmp_path):
    assert "nhs-talking-therapies" in available_profiles()
    path = write_lines(
        tmp_path / "iapt.csv",
        ["Care Contact ID", "Pseudonymised Patient ID", "Referral ID", "Care Professional ID", "Service ID",
         "Care Contact Date", "Attend or Did Not Attend", "Appointment Type", "PHQ9 Total", "GAD7 Total",
         "Service Discharge Date", "End Code"],
        [["CC1", "P1", "R1", "HCP1", "S1", "2026-01-05", "05", "01", "15", "11", "", ""],
         ["CC2", "P1", "R1", "HCP1", "S1", "2026-01-12", "03", "02", "", "", "", ""],
         ["CC3", "P1", "R1", "HCP1", "S1", "2026-01-19", "5", "02", "9", "6", "2026-01-19", "46"]],
    )
    report = warehouse.load([path], profile=load_profile("nhs-talking-therapies"))
    assert report.totals["rows_loaded"] == 3 and report.ignored_columns == {}
    got = warehouse.query("SELECT appointment_id, client_id, episode_id, therapist_id, clinic_id, status, "
                          f"session_type, phq9, gad7, discharge_reason FROM {APPOINTMENTS_WITH_SCORES} ORDER BY 1").rows()
    assert got == [
        ("CC1", "P1", "R1", "HCP1", "S1", "attended", "assessment", 15, 11, None),
        ("CC2", "P1", "R1", "HCP1", "S1", "dna", "treatment", None, None, None),
        ("CC3", "P1", "R1", "HCP1", "S1", "attended", "treatment", 9, 6, "planned"),
    ]
    assert warehouse.episode("P1", "R1")["end_reason"] == "planned"


def test_mapping_profile_from_toml_file_renames_maps_values_and_sets_constants(warehouse, tmp_path):
    profile_path = tmp_path / "mysystem.toml"
    profile_path.write_text("""
name = "mysystem"
[columns]
"Appt Ref" = "appointment_id"
"Patient Pseudonym" = "client_id"
"Clinician" = "therapist_id"
"Appt Date" = "appointment_date"
"Outcome" = "status"
[values.status]
"Attended On Time" = "attended"
"Client Did Not Arrive" = "no show"
[constants]
clinic_id = "K9"
""", encoding="utf-8")
    path = write_lines(tmp_path / "export.csv", ["APPT REF", "patient pseudonym", "Clinician", "Appt Date", "Outcome"], [
        ["X1", "P1", "D1", "2026-01-05", "attended on time"],
        ["X2", "P1", "D1", "2026-01-12", " CLIENT DID NOT ARRIVE "],
        ["X3", "P1", "D1", "2026-01-19", "showed"],  # built-in synonyms still apply
        ["X4", "P1", "D1", "2026-01-26", "whatever"],  # and unknown values are still quarantined
    ])
    report = warehouse.load([path], profile=load_profile(str(profile_path)))
    assert (report.totals["rows_loaded"], report.totals["rows_quarantined"]) == (3, 1)
    got = warehouse.query("SELECT appointment_id, client_id, therapist_id, clinic_id, status "
                          "FROM appointments ORDER BY 1").rows()
    assert got == [("X1", "P1", "D1", "K9", "attended"), ("X2", "P1", "D1", "K9", "dna"),
                   ("X3", "P1", "D1", "K9", "attended")]
    [q] = quarantine_rows(warehouse)
    assert (q["appointment_id"], q["source_line"], q["status"]) == ("X4", 5, "whatever")


def test_mapping_profile_mapping_to_unknown_value_is_refused(tmp_path):
    profile_path = tmp_path / "bad.toml"
    profile_path.write_text('[values.status]\n"ok" = "sort of attended"\n', encoding="utf-8")
    with pytest.raises(LoadError, match="sort of attended"):
        load_profile(str(profile_path))


# --------------------------------------------------------------------------------------------
# command line (docs/metrics/report.md)


def test_cli_ingest_prints_reconciliation_line(tmp_path):
    path = write_csv(tmp_path, [appointment("A1", "2026-01-05"), appointment("A1", "2026-01-05"),
                                appointment("A2", "2026-01-12"), appointment("A3", "2026-01-19", status="??")])
    db = tmp_path / "clinic.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db), "--extract-date", "2026-06-30"])
    assert result.exit_code == 0, result.output
    assert ("rows read = loaded + quarantined + merged: 4 = 2 + 1 + 1 (reconciles, per file and in total)"
            in result.stdout)
    assert db.is_file()


def test_cli_ingest_drop_columns_drops_identifiers(tmp_path):
    path = write_csv(tmp_path, [appointment("A1", "2026-01-05", Email="jane.secret@example.org")])
    db = tmp_path / "clinic.duckdb"
    refused = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db)])
    assert refused.exit_code != 0 and isinstance(refused.exception, LoadError)
    assert not db.exists()
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db), "--drop-columns"])
    assert result.exit_code == 0, result.output
    assert "dropped identifier-like columns" in result.stdout and "Email" in result.stdout
    assert not any("jane.secret" in v for v in every_value_in_warehouse(db))


def test_cli_ingest_missing_file_exits_1_with_one_line_error(tmp_path):
    missing = tmp_path / "nope.csv"
    result = run_cli("ingest", str(missing), "--db", str(tmp_path / "clinic.duckdb"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and str(missing) in lines[0] and "not found" in lines[0]
    assert not (tmp_path / "clinic.duckdb").exists()


def test_cli_error_output_is_exactly_one_line(tmp_path):
    result = run_cli("ingest", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "clinic.duckdb"))
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:"), repr(result.stderr)
