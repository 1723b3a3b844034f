"""Nobody in where they don't belong: the access file, the query layer's clinic restriction, the
dashboard's sign-in gate, and the locked-down reader connection."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from dashboard_fixtures import APP, PAGES, sample_db, _release_cached_connections  # noqa: F401
from streamlit.testing.v1 import AppTest

from dashboard.data import DB_ENV
from dashboard.gate import ACCESS_ENV
from pipelines.access import load_access_file
from pipelines.errors import AccessDenied, LoadError
from pipelines.queries import MetricsReader, Scope
from pipelines.warehouse import connect, sql_dir

REPO = Path(__file__).resolve().parent.parent
ALL_REPORTS = sorted(p.stem for p in (sql_dir() / "reports").glob("*.sql"))
# The reports with no clinics parameter: about the whole warehouse, for users who see every clinic.
SPANNING_EVERY_CLINIC = ("build_history", "flag_history", "load_history")
CLINIC_ID = re.compile(r"\bK0\d\b")
THERAPIST_ID = re.compile(r"\bT0\d{3}\b")


@pytest.fixture(scope="module")
def reader(sample_db: Path):  # noqa: F811
    opened = MetricsReader.open(sample_db)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def attribution(reader: MetricsReader) -> pl.DataFrame:
    """clinic_id, therapist_id of every started episode (the sample's truth, unrestricted)."""
    return reader.run("filter_options").select("clinic_id", "therapist_id").unique()


def extras(reader: MetricsReader, report: str) -> dict[str, object]:
    """The report-specific parameters, pointing at another clinic's episode for drill-downs."""
    other = reader.run("episode_list", Scope(clinics=("K02",)), limit=1).row(0, named=True)
    return {"min_caseload": None, "by_clinic": True, "load_id": 1, "limit": 100_000,
            "client_id": other["client_id"], "episode_id": other["episode_id"]}


# --- the access file -----------------------------------------------------------------------------


def test_access_file_maps_users_to_clinics_and_star_to_every_clinic(tmp_path: Path):
    path = tmp_path / "access.toml"
    path.write_text('[users]\n"Lead@North.example" = ["K01", "K02"]\n"director@x.example" = "*"\n'
                    '"nobody@x.example" = []\n')
    access = load_access_file(path)
    assert access.clinics_for("lead@north.example") == ("K01", "K02")
    assert access.clinics_for("director@x.example") is None
    assert access.clinics_for("nobody@x.example") == ()
    assert access.clinics_for("stranger@x.example") is False
    assert access.clinics_for(None) is False


@pytest.mark.parametrize("text", ['[users]\n"a@x" = "K01"\n', 'users = 3\n', '[users\n', '[users]\n"a@x" = [1]\n'])
def test_malformed_access_file_is_a_one_line_error_naming_it(tmp_path: Path, text: str):
    path = tmp_path / "access.toml"
    path.write_text(text)
    with pytest.raises(LoadError) as caught:
        load_access_file(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_addresses_differing_by_case_or_spaces_are_an_error_naming_both(tmp_path: Path):
    path = tmp_path / "access.toml"
    path.write_text('[users]\n"lead@x.example" = ["K01"]\n"Lead@X.example " = "*"\n')
    with pytest.raises(LoadError) as caught:
        load_access_file(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "'lead@x.example'" in message and "'Lead@X.example '" in message


VERIFIED, UNVERIFIED, SILENT = ({"email_verified": True}, {"email_verified": False}, {})


@pytest.mark.parametrize(("required", "claim", "trusted"), [
    (True, VERIFIED, True), (True, UNVERIFIED, False), (True, SILENT, False),
    (False, VERIFIED, True), (False, UNVERIFIED, False), (False, SILENT, True),
    (True, {"email_verified": "true"}, True), (True, {"email_verified": "false"}, False),
    (False, {"email_verified": "no"}, False), (False, {"email_verified": 1}, False),
])
def test_email_verified_false_is_never_trusted_and_a_missing_claim_only_when_the_file_allows_it(
        tmp_path: Path, required: bool, claim: dict, trusted: bool):
    path = tmp_path / "access.toml"
    setting = "" if required else "require_verified_email = false\n"
    path.write_text(f'{setting}[users]\n"director@x.example" = "*"\n')
    access = load_access_file(path)
    assert access.require_verified_email is required
    claims = {"is_logged_in": True, "email": "director@x.example", **claim}
    assert access.trusted_email(claims) == ("director@x.example" if trusted else None)


def test_require_verified_email_must_be_true_or_false(tmp_path: Path):
    path = tmp_path / "access.toml"
    path.write_text('require_verified_email = "no"\n[users]\n"a@x.example" = "*"\n')
    with pytest.raises(LoadError, match="require_verified_email must be true or false"):
        load_access_file(path)


# --- the query layer ------------------------------------------------------------------------------


@pytest.mark.parametrize("report", ALL_REPORTS)
def test_restricted_reader_never_returns_another_clinics_rows(reader, attribution, report):
    restricted = reader.restricted(("K01",))
    k01_therapists = set(attribution.filter(pl.col("clinic_id") == "K01")["therapist_id"])
    try:
        rows = restricted.run(report, Scope(), **extras(reader, report))
    except AccessDenied:
        assert report in SPANNING_EVERY_CLINIC, f"{report} was refused but takes a clinics parameter"
        return
    if "clinic_id" in rows.columns:
        assert set(rows["clinic_id"].drop_nulls()) <= {"K01"}
    if "therapist_id" in rows.columns:
        assert set(rows["therapist_id"].drop_nulls()) <= k01_therapists
    if report == "single_session":
        keys = set(rows.filter(pl.col("breakdown").is_in(["clinic", "therapist"]))["key"])
        assert keys <= {"K01"} | k01_therapists


@pytest.mark.parametrize("report", SPANNING_EVERY_CLINIC)
def test_reports_spanning_every_clinic_are_refused_to_a_restricted_reader(reader, report):
    with pytest.raises(AccessDenied):
        reader.restricted(("K01",)).run(report)


def test_filters_cannot_widen_a_restricted_scope(reader):
    restricted = reader.restricted(("K01",))
    asked_for_other = restricted.run("episode_counts", Scope(clinics=("K02",))).row(0, named=True)
    assert asked_for_other["total"] == 0
    own = restricted.run("episode_counts", Scope()).row(0, named=True)
    assert own == reader.run("episode_counts", Scope(clinics=("K01",))).row(0, named=True)
    assert own["total"] > 0


def test_drill_down_into_another_clinics_episode_returns_nothing(reader):
    params = extras(reader, "episode_appointments")
    assert reader.run("episode_appointments", Scope(), **params).height > 0
    assert reader.restricted(("K01",)).run("episode_appointments", Scope(), **params).height == 0


def test_a_reader_with_no_clinics_sees_no_episode(reader):
    assert reader.restricted(()).run("episode_counts").row(0, named=True)["total"] == 0
    assert reader.restricted(()).run("filter_options").is_empty()


# --- the connection ------------------------------------------------------------------------------


def test_reader_connection_is_read_only_without_external_access(sample_db: Path):  # noqa: F811
    con = connect(sample_db)
    try:
        settings = con.sql("SELECT current_setting('enable_external_access'), "
                           "current_setting('autoload_known_extensions'), "
                           "current_setting('autoinstall_known_extensions')").fetchall()[0]
        assert settings == (False, False, False)
        for statement in ("SELECT * FROM read_csv('/etc/hostname')", "SET enable_external_access = true",
                          "CREATE TABLE x AS SELECT 1", "ATTACH '/tmp/other.duckdb'", "INSTALL httpfs",
                          "COPY episodes TO '/tmp/episodes.csv'"):
            with pytest.raises(Exception):  # noqa: B017 - any refusal will do; success is the failure
                con.sql(statement).fetchall()
    finally:
        con.close()


def test_no_sql_text_is_written_in_the_dashboard():
    """The UI reaches DuckDB only through the query layer's report files, values bound."""
    for path in (REPO / "dashboard").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import duckdb" not in text, path
        assert not re.search(r"\.(sql|execute|query)\(", text), f"{path} runs SQL text itself"


# --- the dashboard, with simulated users ----------------------------------------------------------


@pytest.fixture
def access_file(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    path = tmp_path / "access.toml"
    path.write_text('[users]\n"north@clinic.example" = ["K01"]\n"director@clinic.example" = "*"\n'
                    '"idle@clinic.example" = []\n')
    monkeypatch.setenv(DB_ENV, str(sample_db))
    monkeypatch.setenv(ACCESS_ENV, str(path))
    return path


def app_as(user: dict | None, page: str = "overview") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.user = user
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown_text(at: AppTest) -> str:
    """Everything a page shows: text elements, tables, metric tiles, widget options, chart data."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "subheader", "title", "info", "warning", "success", "error"):
        parts += [str(element.value) for element in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [element.value.to_csv() for element in at.dataframe]
    for box in at.multiselect:
        parts += [str(option) for option in box.options]
    for chart in at.get("vega_lite_chart"):
        parts.append(chart.proto.spec)
        for dataset in [*chart.proto.datasets, chart.proto.data]:
            payload = getattr(dataset, "data", dataset)
            if getattr(payload, "data", b""):
                table = pa.ipc.open_stream(io.BytesIO(payload.data)).read_all()
                parts.append(json.dumps(table.to_pylist(), default=str))
    return "\n".join(parts)


def test_signed_out_user_sees_only_a_sign_in_message(access_file: Path):
    at = app_as({"is_logged_in": False})
    assert any("Sign in" in info.value for info in at.info)
    assert not at.dataframe and not at.metric and not at.get("vega_lite_chart")
    assert not CLINIC_ID.search(shown_text(at))


def test_signed_in_user_without_clinics_sees_a_clear_message_and_nothing_else(access_file: Path):
    for email in ("idle@clinic.example", "stranger@elsewhere.example"):
        at = app_as({"is_logged_in": True, "email_verified": True, "email": email})
        assert any("no clinics are assigned" in w.value for w in at.warning)
        assert not at.dataframe and not at.metric and not at.get("vega_lite_chart")
        assert not CLINIC_ID.search(shown_text(at)) and not THERAPIST_ID.search(shown_text(at))


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_another_clinics_rows_to_a_restricted_user(access_file: Path, page: str):
    at = app_as({"is_logged_in": True, "email_verified": True, "email": "north@clinic.example"}, page)
    text = shown_text(at)
    assert set(CLINIC_ID.findall(text)) <= {"K01"}, f"{page} shows {set(CLINIC_ID.findall(text)) - {'K01'}}"
    assert all(t.startswith("T01") for t in THERAPIST_ID.findall(text)), page
    assert at.multiselect(key="filter_clinics").options == ["K01"]


def test_restricted_users_link_to_another_clinic_shows_nothing_of_it(access_file: Path):
    def linked(clinic: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.user = {"is_logged_in": True, "email_verified": True, "email": "north@clinic.example"}
        at.query_params["clinic"] = clinic
        at.run()
        assert not at.exception
        return at

    at = linked("K02")
    # the link's own words come back as "unknown", exactly as for a clinic that does not exist
    [notice] = [w.value for w in at.warning if "this link" in w.value]
    assert notice == next(w.value for w in linked("K99").warning if "this link" in w.value).replace("K99", "K02")
    assert set(CLINIC_ID.findall(shown_text(at).replace(notice, ""))) <= {"K01"}


@pytest.mark.parametrize("claim", [UNVERIFIED, SILENT])
def test_director_whose_email_is_not_verified_sees_nothing(access_file: Path, claim: dict):
    at = app_as({"is_logged_in": True, "email": "director@clinic.example", **claim})
    assert any("has not confirmed" in w.value for w in at.warning)
    assert not at.dataframe and not at.metric and not at.get("vega_lite_chart")
    assert not CLINIC_ID.search(shown_text(at)) and not THERAPIST_ID.search(shown_text(at))


def test_a_missing_email_verified_claim_is_accepted_when_the_access_file_says_so(access_file: Path):
    access_file.write_text("require_verified_email = false\n" + access_file.read_text())
    at = app_as({"is_logged_in": True, "email": "director@clinic.example"})
    assert at.multiselect(key="filter_clinics").options == ["K01", "K02", "K03", "K04", "K05"]
    explicit_false = app_as({"is_logged_in": True, "email": "director@clinic.example", **UNVERIFIED})
    assert not explicit_false.dataframe and not explicit_false.metric


def test_user_with_every_clinic_sees_every_clinic(access_file: Path):
    at = app_as({"is_logged_in": True, "email_verified": True, "email": "director@clinic.example"})
    assert at.multiselect(key="filter_clinics").options == ["K01", "K02", "K03", "K04", "K05"]
    assert any("Signed in as ` director@clinic.example `" in c.value for c in at.sidebar.caption)


def test_without_an_access_file_the_app_runs_open_and_says_so(sample_db: Path, monkeypatch):  # noqa: F811
    monkeypatch.setenv(DB_ENV, str(sample_db))
    monkeypatch.delenv(ACCESS_ENV, raising=False)
    at = app_as(None)
    assert any("Open access" in c.value for c in at.sidebar.caption)
    assert len(at.multiselect(key="filter_clinics").options) == 5


def test_a_missing_access_file_shows_an_error_and_no_data(sample_db: Path, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv(DB_ENV, str(sample_db))
    monkeypatch.setenv(ACCESS_ENV, str(tmp_path / "missing.toml"))
    at = app_as({"is_logged_in": True, "email_verified": True, "email": "director@clinic.example"})
    assert any("access file" in e.value for e in at.error)
    assert not at.dataframe and not at.metric


# --- a client who moves between clinics -------------------------------------------------------------

# Two clients whose one episode runs across K01 and K02: C0001 starts at K01 and goes on at K02,
# C0002 starts at K02 and comes on to K01. Plus a client at each clinic alone.
MOVING_CLIENTS = [
    ("A0101", "C0001", "T0101", "K01", "2026-01-05"), ("A0102", "C0001", "T0201", "K02", "2026-01-12"),
    ("A0103", "C0001", "T0201", "K02", "2026-01-19"),
    ("A0201", "C0002", "T0202", "K02", "2026-01-06"), ("A0202", "C0002", "T0102", "K01", "2026-01-13"),
    ("A0301", "C0003", "T0101", "K01", "2026-01-07"), ("A0302", "C0003", "T0101", "K01", "2026-01-14"),
    ("A0401", "C0004", "T0202", "K02", "2026-01-08"),
]
OTHER_CLINIC = re.compile(r"\bK02\b|\bT02\d\d\b|\bA01(02|03)\b|\bA0201\b|\bA0401\b")


@pytest.fixture(scope="module")
def moving_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.warehouse import ingest

    folder = tmp_path_factory.mktemp("moving")
    log = folder / "log.csv"
    log.write_text("appointment_id,client_id,therapist_id,clinic_id,appointment_date,status\n"
                   + "".join(f"{a},{c},{t},{k},{d},attended\n" for a, c, t, k, d in MOVING_CLIENTS))
    ingest([log], folder / "clinic.duckdb", extract_date=dt.date(2026, 6, 30))
    return folder / "clinic.duckdb"


def test_drill_down_hides_an_episodes_appointments_at_other_clinics(moving_db: Path):
    reader = MetricsReader.open(moving_db)
    try:
        everything = reader.run("episode_appointments", Scope(), client_id="C0001", episode_id="1")
        assert everything["clinic_id"].to_list() == ["K01", "K02", "K02"]
        own = reader.restricted(("K01",)).run("episode_appointments", Scope(), client_id="C0001", episode_id="1",
                                               visible_clinics=None)  # a caller cannot widen it
        assert own["appointment_id"].to_list() == ["A0101"]
        # C0002's episode is attributed to K02 (its first session): not K01's to open at all
        assert reader.restricted(("K01",)).run("episode_appointments", Scope(), client_id="C0002",
                                               episode_id="1").is_empty()
    finally:
        reader.close()


@pytest.mark.parametrize("page", PAGES)
def test_restricted_user_sees_nothing_of_another_clinic_for_a_client_at_two_clinics(
        moving_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str):
    access = tmp_path / "access.toml"
    access.write_text('[users]\n"north@clinic.example" = ["K01"]\n')
    monkeypatch.setenv(DB_ENV, str(moving_db))
    monkeypatch.setenv(ACCESS_ENV, str(access))
    at = app_as({"is_logged_in": True, "email_verified": True, "email": "north@clinic.example"}, page)
    texts = [shown_text(at)]
    if page == "explore":  # open every episode listed, as a click on its row does
        listed = at.dataframe[0].value
        assert listed["client_id"].to_list() == ["C0001", "C0003"]
        for row in range(len(listed)):
            at.session_state["episodes"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
            at.run()
            assert not at.exception, [e.message for e in at.exception]
            assert any("outside your access are not shown" in c.value for c in at.caption)
            texts.append(shown_text(at))
        assert "A0101" in texts[1]
    for text in texts:
        assert not OTHER_CLINIC.search(text), f"{page} shows {OTHER_CLINIC.findall(text)}"
