"""Shipped mapping profiles (README "Mapping profiles", "FHIR input"): each loads its fixture in
tests/fixtures/ end to end through the command line and reconciles exactly; one test per rule.

    us_practice_export.csv    a US practice-management export: US dates, Show / No Show / Late
                              Cancel, CPT codes (`--mapping us-practice`)
    fhir_appointments.ndjson  FHIR R4 Appointment resources, one per line (no --mapping: chosen
                              from the content)
    fhir_bundle.json          the same Appointments as a searchset Bundle, with the Patient and
                              Practitioner a search included
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import tempfile
from importlib.resources import files
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.errors import LoadError
from pipelines.read import available_profiles, load_profile
from pipelines.warehouse import ingest
from test_loading_rules import every_value_in_warehouse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
US_EXPORT = FIXTURES / "us_practice_export.csv"
FHIR_NDJSON = FIXTURES / "fhir_appointments.ndjson"
FHIR_BUNDLE = FIXTURES / "fhir_bundle.json"
EXTRACT = dt.date(2026, 3, 31)


def cli_ingest(db: Path, *args: object):
    return CliRunner().invoke(app, ["ingest", *map(str, args), "--db", str(db), "--extract-date", EXTRACT.isoformat()])


def loaded(db: Path, *args: object) -> str:
    """Load through the command line; its stdout (the load report)."""
    result = cli_ingest(db, *args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql, params=params).fetchall()
    finally:
        con.close()


def counts(db: Path) -> tuple[int, int, int, int]:
    """(rows_read, rows_loaded, rows_quarantined, duplicates_merged) of the warehouse's loads."""
    return query(db, "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined), sum(duplicates_merged) "
                     "FROM loads")[0]


def refused(db: Path, *args: object) -> str:
    """Load through the command line expecting a refusal; its one-line message."""
    result = cli_ingest(db, *args)
    assert result.exit_code != 0 and isinstance(result.exception, LoadError), result.output
    message = str(result.exception)
    assert message.splitlines() == [message]
    assert not db.exists()
    return message


def test_every_shipped_profile_loads_by_name():
    assert {"nhs-talking-therapies", "us-practice", "fhir-r4"} <= set(available_profiles())
    for name in available_profiles():
        assert load_profile(name).name == name


# --------------------------------------------------------------------------------------------
# us-practice


@pytest.fixture(scope="module")
def us_practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("us_practice") / "clinic.duckdb"
    return db, loaded(db, US_EXPORT, "--mapping", "us-practice")


def test_us_practice_export_loads_and_reconciles_exactly(us_practice):
    db, report = us_practice
    assert "rows read = loaded + quarantined + merged: 15 = 13 + 2 + 0 (reconciles, per file and in total)" in report
    assert counts(db) == (15, 13, 2, 0)
    assert f"ignored unrecognised columns in {US_EXPORT}: Time, Units, Fee" in report


def test_us_practice_statuses_cpt_codes_clinicians_and_locations_map_to_ours(us_practice):
    db, _ = us_practice
    got = query(db, "SELECT appointment_id, client_id, therapist_id, clinic_id, status, session_type "
                    "FROM appointments ORDER BY appointment_id")
    assert got == [
        ("100001", "ACC-0001", "CLN-01", "Main Street Office", "attended", "assessment"),  # Show, 90791
        ("100002", "ACC-0001", "CLN-01", "Main Street Office", "attended", "treatment"),  # Show, 90834
        ("100003", "ACC-0001", "CLN-01", "Main Street Office", "dna", "treatment"),  # No Show
        ("100004", "ACC-0001", "CLN-01", "Main Street Office", "cancelled_client", "treatment"),  # Late Cancel
        ("100005", "ACC-0001", "CLN-01", "Main Street Office", "cancelled_client", "treatment"),  # Late Canceled
        ("100006", "ACC-0002", "CLN-02", "Telehealth", "attended", "treatment"),  # Checked Out, 90837
        ("100007", "ACC-0002", "CLN-02", "Telehealth", "cancelled_clinic", "treatment"),  # Clinician Canceled
        ("100008", "ACC-0002", "CLN-02", "Telehealth", "cancelled_client", "treatment"),  # Canceled
        ("100009", "ACC-0002", "CLN-02", "Telehealth", "attended", "other"),  # 90785, an add-on code
        ("100010", "ACC-0003", "CLN-01", "Main Street Office", "attended", "treatment"),  # 90853, group
        ("100012", "ACC-0003", "CLN-01", "Main Street Office", "attended", "other"),  # 99213, an E/M visit
        ("100013", "ACC-0003", "CLN-01", "Main Street Office", "scheduled", "treatment"),
        ("100015", "ACC-0004", "CLN-02", "Telehealth", "attended", "assessment"),
    ]
    assert query(db, "SELECT count(*) FROM data_issues") == [(0,)]


def test_us_practice_dates_are_read_in_the_profiles_us_format(us_practice):
    db, _ = us_practice
    got = dict(query(db, "SELECT appointment_id, appointment_date FROM appointments "
                         "WHERE appointment_id IN ('100001', '100006', '100013', '100015')"))
    assert got == {"100001": dt.datetime(2026, 1, 5), "100006": dt.datetime(2026, 1, 6),  # 01/05/2026, 1/6/2026
                   "100013": dt.datetime(2026, 4, 14), "100015": dt.datetime(2026, 2, 24)}  # ISO is read too


def test_us_practice_date_with_a_time_keeps_the_time(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Date of Service,Appointment ID,Client ID,Clinician,Location,Status,CPT Code\n"
                      "01/05/2026 2:30 PM,1,ACC-1,CLN-1,Main,Show,90791\n"
                      "01/12/2026 14:30,2,ACC-1,CLN-1,Main,Show,90834\n", encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    loaded(db, export, "--mapping", "us-practice")
    assert query(db, "SELECT appointment_date FROM appointments ORDER BY 1") == [
        (dt.datetime(2026, 1, 5, 14, 30),), (dt.datetime(2026, 1, 12, 14, 30),)]


def test_us_practice_date_not_in_the_profiles_format_is_quarantined_naming_its_line(us_practice):
    db, _ = us_practice
    [(reason,)] = query(db, "SELECT reason FROM quarantine WHERE source_line = 15")  # 13/02/2026: no 13th month
    assert reason == ("appointment_date is not a date in the mapping profile's formats "
                      "(%m/%d/%Y, %m/%d/%Y %I:%M %p, %m/%d/%Y %I:%M:%S %p, %m/%d/%Y %H:%M) or ISO 8601")


def test_us_practice_rescheduled_appointment_is_quarantined_with_its_reason(us_practice):
    db, _ = us_practice
    assert query(db, "SELECT source_line, appointment_id, status, reason FROM quarantine WHERE source_line = 12") == [
        (12, "100011", "Rescheduled",
         "rescheduled: the appointment was moved and its new booking is a row of its own")]


def test_us_practice_client_name_column_is_refused_unless_dropped(tmp_path):
    lines = US_EXPORT.read_text(encoding="utf-8").splitlines()
    export = tmp_path / "with_names.csv"
    export.write_text("\n".join([lines[0] + ",Client Name",
                                 *(f"{line},Client {chr(65 + i)}" for i, line in enumerate(lines[1:]))]) + "\n",
                      encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    message = refused(db, export, "--mapping", "us-practice")
    assert "refusing columns that look like direct identifiers: Client Name" in message
    report = loaded(db, export, "--mapping", "us-practice", "--drop-columns")
    assert f"dropped identifier-like columns from {export}: Client Name" in report
    assert counts(db) == (15, 13, 2, 0)
    assert not any(value.startswith("Client ") for value in every_value_in_warehouse(db))


# --------------------------------------------------------------------------------------------
# Profile rules the shipped profiles use


def test_profile_date_format_that_does_not_read_a_date_back_is_refused(tmp_path):
    profile = tmp_path / "times_only.toml"
    profile.write_text('date_formats = ["%H:%M"]\n', encoding="utf-8")
    with pytest.raises(LoadError, match="date format '%H:%M' does not read back the date it writes"):
        load_profile(str(profile))


def test_profile_value_both_mapped_and_quarantined_is_refused(tmp_path):
    profile = tmp_path / "both.toml"
    profile.write_text('[values.status]\n"void" = "cancelled"\n[quarantine.status]\n"Void" = "voided"\n',
                       encoding="utf-8")
    with pytest.raises(LoadError, match="'void' is both mapped in"):
        load_profile(str(profile))


# --------------------------------------------------------------------------------------------
# FHIR R4 Appointment resources (fhir-r4)

FHIR_APPOINTMENTS = [  # the fixture's Appointments as loaded (appt-1007 was entered in error)
    ("appt-1001", "0042", "pr-7", "loc-main", dt.datetime(2026, 1, 5, 9), "attended", "assessment"),
    ("appt-1002", "0042", "pr-7", "loc-main", dt.datetime(2026, 1, 12, 9), "attended", "treatment"),
    ("appt-1003", "0042", "pr-7", "loc-main", dt.datetime(2026, 1, 19, 9), "dna", "treatment"),
    ("appt-1004", "0042", "pr-7", "loc-main", dt.datetime(2026, 1, 26, 9), "cancelled_client", "treatment"),
    ("appt-1005", "0042", "pr-7", "loc-main", dt.datetime(2026, 2, 2, 9), "cancelled_clinic", "treatment"),
    ("appt-1006", "0042", "pr-7", "loc-main", dt.datetime(2026, 4, 6, 9), "scheduled", "treatment"),
    ("appt-2001", "1017", "role-3", "loc-tele", dt.datetime(2026, 1, 6, 23, 30), "attended", "treatment"),
    ("appt-2002", "1017", "role-3", "loc-tele", dt.datetime(2026, 1, 13, 10), "attended", None),
    ("appt-2003", "1017", "role-3", "loc-tele", dt.datetime(2026, 1, 20, 10), "cancelled_client", "treatment"),
]
APPOINTMENT_COLUMNS = ("appointment_id, client_id, therapist_id, clinic_id, appointment_date, status, session_type")


def appointments(db: Path) -> list[tuple]:
    return query(db, f"SELECT {APPOINTMENT_COLUMNS} FROM appointments ORDER BY appointment_id")


@pytest.fixture(scope="module")
def fhir_ndjson(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("fhir_ndjson") / "clinic.duckdb"
    return db, loaded(db, FHIR_NDJSON)  # no --mapping: the content says FHIR


@pytest.fixture(scope="module")
def fhir_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("fhir_bundle") / "clinic.duckdb"
    return db, loaded(db, FHIR_BUNDLE, "--mapping", "fhir-r4")


def test_fhir_ndjson_loads_and_reconciles_exactly(fhir_ndjson):
    db, report = fhir_ndjson
    assert "rows read = loaded + quarantined + merged: 10 = 9 + 1 + 0 (reconciles, per file and in total)" in report
    assert counts(db) == (10, 9, 1, 0)
    assert "ignored unrecognised columns" not in report


def test_fhir_statuses_service_types_and_participants_map_to_ours(fhir_ndjson):
    # fulfilled, checked-in and arrived are attended; noshow is dna; booked is scheduled; the
    # participants' references give client, therapist (a PractitionerRole when there is no
    # Practitioner) and clinic; CPT codes in serviceType give the session type.
    db, _ = fhir_ndjson
    assert appointments(db) == FHIR_APPOINTMENTS


def test_fhir_cancellation_reason_code_says_who_cancelled(fhir_ndjson):
    db, _ = fhir_ndjson
    got = dict(query(db, "SELECT appointment_id, status FROM appointments WHERE appointment_id IN "
                         "('appt-1004', 'appt-1005', 'appt-2003')"))
    assert got == {"appt-1004": "cancelled_client",  # cancelationReason pat-cpp (the patient portal)
                   "appt-1005": "cancelled_clinic",  # prov-pers (the provider, personal)
                   "appt-2003": "cancelled_client"}  # no reason: counted as the client's


def test_fhir_start_keeps_its_wall_clock_date_and_time(fhir_ndjson):
    db, _ = fhir_ndjson
    got = dict(query(db, "SELECT appointment_id, appointment_date FROM appointments "
                         "WHERE appointment_id IN ('appt-1001', 'appt-2001')"))
    assert got == {"appt-1001": dt.datetime(2026, 1, 5, 9),  # 2026-01-05T09:00:00-05:00
                   "appt-2001": dt.datetime(2026, 1, 6, 23, 30)}  # 2026-01-06T23:30:00Z, not the 7th


def test_fhir_entered_in_error_is_quarantined_with_its_reason(fhir_ndjson):
    db, report = fhir_ndjson
    reason = "entered in error: the source system says this appointment record should not exist"
    assert query(db, "SELECT source_line, appointment_id, status, reason FROM quarantine") == [
        (7, "appt-1007", "entered-in-error", reason)]
    assert f"quarantined 1: {reason}" in report


def test_fhir_file_without_mapping_is_read_with_the_fhir_r4_profile(tmp_path):
    chosen = ingest([FHIR_NDJSON], tmp_path / "chosen.duckdb", extract_date=EXTRACT)
    assert chosen.profiles_from_content == {str(FHIR_NDJSON): "fhir-r4"}
    given = ingest([FHIR_NDJSON], tmp_path / "given.duckdb", extract_date=EXTRACT, profile=load_profile("fhir-r4"))
    assert given.profiles_from_content == {}
    assert appointments(tmp_path / "chosen.duckdb") == appointments(tmp_path / "given.duckdb") == FHIR_APPOINTMENTS


def test_fhir_profile_chosen_from_content_is_said_in_the_load_report(fhir_ndjson, fhir_bundle):
    assert f"read {FHIR_NDJSON} with the fhir-r4 mapping profile (chosen from its content)" in fhir_ndjson[1]
    assert "chosen from its content" not in fhir_bundle[1]  # --mapping fhir-r4 given


def test_fhir_bundle_and_ndjson_load_the_same_appointments(fhir_ndjson, fhir_bundle):
    assert appointments(fhir_bundle[0]) == appointments(fhir_ndjson[0]) == FHIR_APPOINTMENTS


def test_fhir_bundle_entry_number_is_the_line_and_other_resources_are_quarantined(fhir_bundle):
    db, report = fhir_bundle
    assert "rows read = loaded + quarantined + merged: 12 = 9 + 3 + 0" in report
    assert query(db, "SELECT source_line, appointment_id, client_id, reason FROM quarantine ORDER BY 1") == [
        (7, "appt-1007", "0042", "entered in error: the source system says this appointment record should not exist"),
        (11, None, None, "a Patient resource, not an Appointment"),
        (12, None, None, "a Practitioner resource, not an Appointment"),
    ]
    assert query(db, "SELECT source_line FROM appointments WHERE appointment_id = 'appt-2001'") == [(8,)]


def test_fhir_gzipped_ndjson_loads_like_the_plain_file(tmp_path, fhir_ndjson):
    packed = tmp_path / "appointments.ndjson.gz"
    packed.write_bytes(gzip.compress(FHIR_NDJSON.read_bytes()))
    db = tmp_path / "clinic.duckdb"
    loaded(db, packed)
    assert counts(db) == (10, 9, 1, 0)
    assert appointments(db) == appointments(fhir_ndjson[0])


def resource_line(**changes: object) -> str:
    """An Appointment of the fixture (appt-1001), changed, as one NDJSON line."""
    resource = json.loads(FHIR_NDJSON.read_text(encoding="utf-8").splitlines()[0])
    resource.update(changes)
    return json.dumps(resource)


def test_fhir_reference_ids_are_text_even_when_numeric(tmp_path):
    path = tmp_path / "numeric.ndjson"
    path.write_text(resource_line(id=5001, participant=[
        {"actor": {"reference": "Patient/000123"}}, {"actor": {"reference": "Practitioner/77"}},
        {"actor": {"reference": "https://fhir.example.org/r4/Location/9/_history/2"}}]) + "\n", encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    loaded(db, path)
    assert query(db, "SELECT appointment_id, client_id, therapist_id, clinic_id FROM appointments") == [
        ("5001", "000123", "77", "9")]


def test_fhir_group_appointment_is_quarantined_not_split(tmp_path):
    path = tmp_path / "group.ndjson"
    path.write_text(resource_line(id="grp-1", participant=[
        {"actor": {"reference": "Patient/1"}}, {"actor": {"reference": "Patient/2"}},
        {"actor": {"reference": "Practitioner/7"}}, {"actor": {"reference": "Location/main"}}]) + "\n"
        + resource_line(id="one-1") + "\n", encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    loaded(db, path)
    assert query(db, "SELECT source_line, appointment_id, reason FROM quarantine") == [
        (1, "grp-1", "an Appointment with 2 Patient participants (a group session)")]
    assert counts(db) == (2, 1, 1, 0)


@pytest.mark.parametrize("shape", ["ndjson", "bundle"])
def test_fhir_malformed_json_fails_with_one_line_error_naming_the_line(tmp_path, shape):
    if shape == "ndjson":
        lines = FHIR_NDJSON.read_text(encoding="utf-8").splitlines()
        lines[3] = lines[3][:40]  # line 4 cut short
        broken, line = "\n".join(lines) + "\n", 4
    else:
        text = FHIR_BUNDLE.read_text(encoding="utf-8")
        at = text.index('"appt-1003"')
        broken, line = text[:at] + text[at + 1:], text.count("\n", 0, at) + 1  # a quote lost
    path = tmp_path / f"broken.{shape}"
    path.write_text(broken, encoding="utf-8")
    message = refused(tmp_path / "clinic.duckdb", path)
    assert message.startswith(f"{path}: line {line}, column ") and ": not valid JSON (" in message


def test_fhir_file_without_appointments_is_refused(tmp_path):
    path = tmp_path / "patients.ndjson"
    path.write_text('{"resourceType": "Patient", "id": "1"}\n{"resourceType": "Patient", "id": "2"}\n',
                    encoding="utf-8")
    message = refused(tmp_path / "clinic.duckdb", path)
    assert message == f"{path}: holds no FHIR Appointment resources (found: 2 Patient)"


def test_json_that_is_not_fhir_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"appointments": []}\n', encoding="utf-8")
    message = refused(tmp_path / "clinic.duckdb", path)
    assert message == f"{path}: line 1: JSON, but not a FHIR resource or Bundle (no resourceType)"


def test_fhir_without_location_participants_takes_the_clinic_from_a_profile_constant(tmp_path):
    path = tmp_path / "no_location.ndjson"
    path.write_text(resource_line(participant=[{"actor": {"reference": "Patient/1"}},
                                               {"actor": {"reference": "Practitioner/7"}}]) + "\n", encoding="utf-8")
    message = refused(tmp_path / "clinic.duckdb", path)
    assert "missing required column(s) clinic_id" in message and "[constants]" in message
    profile = tmp_path / "our-fhir.toml"
    shipped = (files("pipelines.profiles") / "fhir-r4.toml").read_text(encoding="utf-8")
    profile.write_text(shipped + '\n[constants]\nclinic_id = "main"\n', encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    loaded(db, path, "--mapping", profile)
    assert query(db, "SELECT appointment_id, clinic_id FROM appointments") == [("appt-1001", "main")]


def test_fhir_file_and_csv_load_together_without_mapping(tmp_path):
    csv_log = tmp_path / "log.csv"
    csv_log.write_text("appointment_id,client_id,therapist_id,clinic_id,appointment_date,status\n"
                       "A1,C1,T1,K1,2026-01-05,attended\n", encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    loaded(db, csv_log, FHIR_NDJSON)
    assert counts(db) == (11, 10, 1, 0)
    assert query(db, "SELECT status FROM appointments WHERE appointment_id IN ('A1', 'appt-2001')") == [
        ("attended",), ("attended",)]


# --------------------------------------------------------------------------------------------
# Property: any list of Appointment resources (and other resources among them) loads with every
# resource accounted for exactly once, loaded or quarantined, as computed here independently.

LOADABLE_STATUSES = ("proposed", "pending", "booked", "waitlist", "arrived", "checked-in", "fulfilled",
                     "noshow", "cancelled")


@st.composite
def fhir_resource(draw, index: int) -> tuple[dict, bool]:
    """(resource, whether it should load)."""
    if draw(st.integers(0, 4)) == 0:
        return {"resourceType": draw(st.sampled_from(["Patient", "Practitioner", "OperationOutcome"])),
                "id": f"x{index}"}, False
    status = draw(st.sampled_from([*LOADABLE_STATUSES, "entered-in-error", "rescheduled", None]))
    start = draw(st.sampled_from(["2026-01-05T09:00:00Z", "2026-02-01T10:30:00+01:00", "2026-03-02", "soon", None]))
    patients = draw(st.integers(0, 2))
    has = draw(st.fixed_dictionaries({"id": st.booleans(), "practitioner": st.booleans(), "location": st.booleans()}))
    participant = [{"actor": {"reference": f"Patient/{index}{p}"}} for p in range(patients)]
    participant += [{"actor": {"reference": "Practitioner/7"}}] if has["practitioner"] else []
    participant += [{"actor": {"reference": "Location/main"}}] if has["location"] else []
    resource = {"resourceType": "Appointment", "participant": participant,
                **({"id": f"h{index}"} if has["id"] else {}), **({"status": status} if status else {}),
                **({"start": start} if start else {})}
    loads = (has["id"] and status in LOADABLE_STATUSES and start not in (None, "soon") and patients == 1
             and has["practitioner"] and has["location"])
    return resource, loads


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), count=st.integers(1, 8), shape=st.sampled_from(["ndjson", "bundle"]))
def test_any_fhir_resources_each_become_exactly_one_loaded_or_quarantined_row(data, count, shape):
    drawn = [data.draw(fhir_resource(i)) for i in range(count)]
    # Every element some Appointment needs: a file where none has one is refused instead (tested above).
    drawn.append(({"resourceType": "Appointment", "id": "anchor", "status": "fulfilled", "start": "2026-01-02",
                   "participant": [{"actor": {"reference": r}} for r in ("Patient/a", "Practitioner/a", "Location/a")]},
                  True))
    resources = [resource for resource, _ in drawn]
    text = ("\n".join(json.dumps(r) for r in resources) + "\n" if shape == "ndjson" else
            json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"resources.{shape}"
        path.write_text(text, encoding="utf-8")
        report = ingest([path], Path(folder) / "clinic.duckdb", extract_date=EXTRACT)
        db = Path(folder) / "clinic.duckdb"
        loaded_lines = [line for (line,) in query(db, "SELECT source_line FROM appointments")]
        quarantined_lines = [line for (line,) in query(db, "SELECT source_line FROM quarantine")]
    assert report.reconciles
    assert report.totals["rows_read"] == len(resources) and report.totals["duplicates_merged"] == 0
    assert sorted(loaded_lines + quarantined_lines) == list(range(1, len(resources) + 1))
    assert sorted(loaded_lines) == [line for line, (_, loads) in enumerate(drawn, start=1) if loads]


# --------------------------------------------------------------------------------------------
# Direct identifiers in FHIR references and mapped columns (docs/loading/identifiers.md)


def fhir_with(tmp_path: Path, participants: list[dict]) -> Path:
    path = tmp_path / "identifiers.ndjson"
    path.write_text(resource_line(participant=participants) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("reference", "column", "kind"), [
    ("Patient/John Smith", "client_id", "personal names"),
    ("Patient/John%20Smith%209434765919", "client_id", "NHS numbers"),
    ("Practitioner/Dr%20Jane%20Doe", "therapist_id", "personal names"),
    ("Location/1%20High%20Street%2C%20London%20SW1A%201AA", "clinic_id", "postcodes"),
    ("Location/1 High Street, London SW1A 1AA", "clinic_id", "postcodes"),
])
def test_fhir_reference_holding_a_direct_identifier_is_refused(tmp_path, reference, column, kind):
    participants = [{"actor": {"reference": "Patient/0042"}}, {"actor": {"reference": "Practitioner/pr-7"}},
                    {"actor": {"reference": "Location/loc-main"}}]
    kept = [p for p in participants if p["actor"]["reference"].split("/")[0] != reference.split("/")[0]]
    message = refused(tmp_path / "clinic.duckdb", fhir_with(tmp_path, [*kept, {"actor": {"reference": reference}}]))
    assert f"line 1: column {column} holds values that look like {kind}" in message
    assert reference.split("/")[1] not in message and "Smith" not in message and "High" not in message


def test_fhir_location_display_is_never_stored(tmp_path):
    """Only references are read: an address written as a Location's display text goes nowhere."""
    address = {"reference": "Location/loc-main", "display": "1 High Street, London SW1A 1AA"}
    path = fhir_with(tmp_path, [{"actor": {"reference": "Patient/0042"}}, {"actor": {"reference": "Practitioner/pr-7"}},
                                {"actor": address}])
    db = tmp_path / "clinic.duckdb"
    loaded(db, path)
    assert not any("High Street" in value for value in every_value_in_warehouse(db))


def test_profile_mapping_an_identifier_named_column_onto_an_id_is_refused(tmp_path):
    profile = tmp_path / "names.toml"
    profile.write_text('[columns]\n"Patient Name" = "client_id"\n', encoding="utf-8")
    export = tmp_path / "names.csv"
    export.write_text("appointment_id,Patient Name,therapist_id,clinic_id,appointment_date,status\n"
                      "A1,C1,T1,K1,2026-01-05,attended\n", encoding="utf-8")
    message = refused(tmp_path / "clinic.duckdb", export, "--mapping", profile)
    assert "maps column 'Patient Name', which looks like a direct identifier, onto client_id" in message


# --------------------------------------------------------------------------------------------
# nhs-talking-therapies: appointment types that count as treatment (docs/loading/profiles.md#nhs-talking-therapies)

NHS_COLUMNS = ["Care Contact ID", "Pseudonymised Patient ID", "Referral ID", "Care Professional ID", "Service ID",
               "Care Contact Date", "Attend or Did Not Attend", "Appointment Type", "Service Discharge Date",
               "End Code"]
# The national statistics count an attended contact (attendance code 5 or 6) of appointment type 02, 03
# or 05 as a treatment appointment; a referral that ended with two or more finished a course of treatment.
NATIONAL_ATTENDED = {"5", "05", "6", "06"}
NATIONAL_TREATMENT_TYPES = {"2", "02", "3", "03", "5", "05"}
# (referral, [(attendance code, appointment type), …], discharged on the last contact)
NHS_REFERRALS = [
    ("R1", [("05", "01"), ("05", "02"), ("05", "02")], True),  # finished: two of 02
    ("R2", [("05", "03"), ("05", "02")], True),  # finished: 03 (assessment and treatment) and 02
    ("R3", [("05", "01"), ("05", "04"), ("05", "02")], True),  # not: 04 is a review without treatment
    ("R4", [("05", "01"), ("05", "05"), ("05", "02")], True),  # finished: 05 (review and treatment) and 02
    ("R5", [("05", "01"), ("05", "02"), ("03", "02")], True),  # not: the second 02 was missed (03 = DNA)
    ("R6", [("5", "3"), ("6", "5")], True),  # finished: the codes without their leading zero
    ("R7", [("05", "02"), ("05", "06"), ("05", "07")], True),  # not: 06 and 07 are not treatment
    ("R8", [("05", "02"), ("05", "02")], False),  # open (seen this month): not counted
    ("R9", [("06", "02"), ("06", "02")], True),  # finished: attended late (06) counts
]
NHS_FINISHED_BY_HAND = {"R1", "R2", "R4", "R6", "R9"}


def nhs_log_rows() -> list[list[str]]:
    rows = []
    for referral, contacts, discharged in NHS_REFERRALS:
        first = dt.date(2026, 1, 5) if discharged else dt.date(2026, 3, 2)
        for k, (attendance, app_type) in enumerate(contacts):
            day = (first + dt.timedelta(days=7 * k)).isoformat()
            last = k == len(contacts) - 1
            rows.append([f"{referral}-{k}", f"P{referral}", referral, "HCP1", "S1", day, attendance, app_type,
                         day if discharged and last else "", "46" if discharged and last else ""])
    return rows


def national_finished_treatment(rows: list[list[str]]) -> set[str]:
    """The national rule, read straight off the extract: ended referrals with >= 2 attended treatment contacts."""
    ended = {row[2] for row in rows if row[8]}
    treatment = [row[2] for row in rows if row[6] in NATIONAL_ATTENDED and row[7] in NATIONAL_TREATMENT_TYPES]
    return {referral for referral in ended if treatment.count(referral) >= 2}


def test_nhs_profile_finished_treatment_counts_what_the_national_statistics_count(tmp_path):
    rows = nhs_log_rows()
    assert national_finished_treatment(rows) == NHS_FINISHED_BY_HAND
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(",".join(line) for line in [NHS_COLUMNS, *rows]) + "\n", encoding="utf-8")
    db = tmp_path / "clinic.duckdb"
    report = loaded(db, path, "--mapping", "nhs-talking-therapies")
    assert "not a recognised session type" not in report
    finished = {episode for (episode,) in query(db, "SELECT episode_id FROM nhs_paired WHERE is_finished_treatment")}
    assert finished == NHS_FINISHED_BY_HAND
    metrics = CliRunner().invoke(app, ["metrics", "--db", str(db), "--format", "json"])
    assert json.loads(metrics.stdout)["nhs_paired"]["finished_treatment"] == len(NHS_FINISHED_BY_HAND)
