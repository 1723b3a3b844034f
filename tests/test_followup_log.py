"""The follow-up log (docs/security.md#the-follow-up-log): append-only in its own file beside the
warehouse, untouched by loads and rebuilds, and scoped on the server by the same access rules."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO, Warehouse, appointment
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.errors import AccessDenied, LoadError
from pipelines.followup import (
    CLEARS,
    NAME_GIVEN,
    NOTE_LIMIT,
    OUTCOMES,
    VERIFIED,
    Entry,
    FollowupLog,
    log_path,
    outcome_counts,
    with_latest_entry,
)
from pipelines.queries import MetricsReader, Scope
from pipelines.warehouse import rebuild

# One client at risk at each clinic: R1 at K1, R2 at K2 (no follow-up, nothing booked).
ROWS = [
    appointment("A1", "2026-06-01", client="R1", clinic="K1", phq9_item9=2),
    appointment("A2", "2026-06-02", client="R2", clinic="K2", therapist="T2", phq9_item9=1),
]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    monkeypatch.delenv("CLINIC_OUTCOMES_FOLLOWUP_LOG", raising=False)
    warehouse = Warehouse(tmp_path)
    warehouse.load(ROWS)
    return warehouse


@pytest.fixture
def reader(built: Warehouse) -> Iterator[MetricsReader]:
    """A reader on the built warehouse, seeing every clinic."""
    opened = MetricsReader.open(built.path)
    yield opened
    opened.close()


def entry(client: str, outcome: str = "followed_up", note: str = "Phoned, safety plan agreed.",
          who: str = "lead@clinic.example") -> Entry:
    return Entry(client, "1", outcome, note, who, VERIFIED)


def entries_of(log: FollowupLog, *clients: str) -> pl.DataFrame:
    return log.entries(pl.DataFrame({"client_id": list(clients), "episode_id": ["1"] * len(clients)}))


def test_followup_log_lives_beside_the_warehouse_unless_a_path_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("CLINIC_OUTCOMES_FOLLOWUP_LOG", raising=False)
    assert log_path(tmp_path / "clinic.duckdb") == tmp_path / "clinic.duckdb.followup.sqlite"
    monkeypatch.setenv("CLINIC_OUTCOMES_FOLLOWUP_LOG", str(tmp_path / "elsewhere.sqlite"))
    assert log_path(tmp_path / "clinic.duckdb") == tmp_path / "elsewhere.sqlite"


def test_followup_log_survives_a_reload_and_a_rebuild(built: Warehouse):
    log = FollowupLog(log_path(built.path))
    reader = MetricsReader.open(built.path)
    try:
        at = log.record(reader, entry("R1"), now=dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC))
    finally:
        reader.close()
    before = log.path.stat()
    built.load(ROWS)  # a reload: the warehouse file is replaced
    rebuild(built.path)  # and rebuilt
    after = log.path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    kept = entries_of(log, "R1")
    assert kept.select("client_id", "outcome", "note", "recorded_by", "who_kind").rows() == [
        ("R1", "followed_up", "Phoned, safety plan agreed.", "lead@clinic.example", VERIFIED)]
    assert kept["recorded_at"][0] == at and kept["risk_date"][0] == dt.date(2026, 6, 1)


def test_restricted_user_can_neither_read_nor_write_another_clinics_entries(built: Warehouse,
                                                                           reader: MetricsReader):
    log = FollowupLog(log_path(built.path))
    log.record(reader, entry("R2", note="K2's own note"))
    k1 = reader.restricted(("K1",))
    with pytest.raises(AccessDenied):
        log.record(k1, entry("R2", note="written from K1"))
    with pytest.raises(AccessDenied):
        log.history(k1, "R2", "1")
    assert entries_of(log, "R2")["note"].to_list() == ["K2's own note"]  # nothing was added
    # what K1 reads is the entries of the episodes its scoped worklist returns: never R2's
    worklist = k1.run("at_risk_nothing_ahead", Scope(clinics=("K2",)))
    assert worklist.is_empty()
    mine = k1.run("at_risk_nothing_ahead", Scope())
    assert mine["client_id"].to_list() == ["R1"] and log.entries(mine).is_empty()
    log.record(k1, entry("R1"))
    assert log.history(k1, "R1", "1")["client_id"].to_list() == ["R1"]


def test_an_empty_log_file_reads_as_no_entries(tmp_path: Path):
    (tmp_path / "followup.sqlite").touch()
    assert entries_of(FollowupLog(tmp_path / "followup.sqlite"), "R1").is_empty()


def test_a_new_followup_log_is_readable_and_writable_by_its_owner_only(built: Warehouse, reader: MetricsReader):
    log = FollowupLog(log_path(built.path))
    log.record(reader, entry("R1"))
    for path in log.path.parent.glob(f"{log.path.name}*"):
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))


def test_followup_log_is_append_only_update_and_delete_are_refused(built: Warehouse, reader: MetricsReader):
    log = FollowupLog(log_path(built.path))
    log.record(reader, entry("R1"))
    con = sqlite3.connect(log.path)
    try:
        for statement in ("UPDATE followup_log SET note = 'changed'", "DELETE FROM followup_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(statement)
        assert con.execute("SELECT note FROM followup_log").fetchall() == [("Phoned, safety plan agreed.",)]
    finally:
        con.close()


WRITER = """
import sys
from pathlib import Path
from pipelines.followup import Entry, FollowupLog, VERIFIED
from pipelines.queries import MetricsReader
db, name = Path(sys.argv[1]), sys.argv[2]
reader = MetricsReader.open(db)
log = FollowupLog(Path(f"{db}.followup.sqlite"))
for n in range(25):
    log.record(reader, Entry("R1", "1", "could_not_reach", f"{name} try {n}", name, VERIFIED))
reader.close()
"""


def test_two_processes_writing_at_once_lose_no_entry(built: Warehouse):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(built.path), who], cwd=REPO,
                                stderr=subprocess.PIPE, text=True) for who in ("first", "second")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    written = entries_of(FollowupLog(log_path(built.path)), "R1")
    assert written.height == 50
    assert sorted(written["note"]) == sorted(f"{who} try {n}" for who in ("first", "second") for n in range(25))


@pytest.mark.parametrize(("note", "why"), [
    ("x" * (NOTE_LIMIT + 1), "limit"),
    ("Called John Smith on 943 476 5919", "NHS number"),
    ("left a message on 020 7946 0018", "phone number"),
    ("emailed john.smith@example.org", "e-mail address"),
])
def test_a_note_over_the_limit_or_holding_an_identifier_is_refused(built: Warehouse, reader: MetricsReader,
                                                                   note: str, why: str):
    log = FollowupLog(log_path(built.path))
    with pytest.raises(LoadError, match=why):
        log.record(reader, entry("R1", note=note))
    assert entries_of(log, "R1").is_empty()


def test_an_entry_without_who_or_with_an_unknown_outcome_is_refused(built: Warehouse, reader: MetricsReader):
    log = FollowupLog(log_path(built.path))
    with pytest.raises(LoadError, match="say who"):
        log.record(reader, Entry("R1", "1", "followed_up", "", "  ", NAME_GIVEN))
    with pytest.raises(LoadError, match="not a follow-up outcome"):
        log.record(reader, entry("R1", outcome="sorted"))


# --- which entry answers a row ---------------------------------------------------------------------

RISK = dt.date(2026, 6, 1)


def logged(outcomes: list[str], risk_dates: list[dt.date] | None = None) -> pl.DataFrame:
    n = len(outcomes)
    return pl.DataFrame({
        "entry_id": list(range(1, n + 1)), "client_id": ["R1"] * n, "episode_id": ["1"] * n,
        "risk_date": risk_dates or [RISK] * n, "outcome": outcomes, "note": [f"note {i}" for i in range(n)],
        "recorded_by": ["lead@clinic.example"] * n,
        "recorded_at": [dt.datetime(2026, 7, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(n)]},
        schema={"entry_id": pl.Int64, "client_id": pl.String, "episode_id": pl.String, "risk_date": pl.Date,
                "outcome": pl.String, "note": pl.String, "recorded_by": pl.String,
                "recorded_at": pl.Datetime("us", "UTC")})


WORKLIST = pl.DataFrame({"client_id": ["R1"], "episode_id": ["1"], "risk_date": [RISK]})


@given(st.lists(st.sampled_from(list(OUTCOMES)), max_size=6))
@settings(max_examples=60, deadline=None)
def test_a_row_needs_action_until_its_latest_entry_is_followed_up_or_not_needed(outcomes):
    row = with_latest_entry(WORKLIST, logged(outcomes)).row(0, named=True)
    assert row["needs_action"] is (not outcomes or outcomes[-1] not in CLEARS)
    assert row["latest_outcome"] == (OUTCOMES[outcomes[-1]] if outcomes else None)


def test_an_entry_about_an_earlier_disclosure_does_not_answer_a_new_one():
    earlier = logged(["followed_up"], [RISK - dt.timedelta(days=30)])
    row = with_latest_entry(WORKLIST, earlier).row(0, named=True)
    assert row["needs_action"] and row["latest_outcome"] is None


def test_outcome_counts_count_worklist_episodes_by_their_latest_entry():
    worklist = pl.DataFrame({"client_id": ["R1", "R2", "R3"], "episode_id": ["1"] * 3, "risk_date": [RISK] * 3})
    r2 = logged(["could_not_reach"]).with_columns(client_id=pl.lit("R2"), entry_id=pl.lit(9, pl.Int64))
    entries = pl.concat([logged(["could_not_reach", "followed_up"]), r2])
    assert outcome_counts(worklist, entries).rows() == [
        ("followed up", 1), ("could not reach", 1), ("not needed", 0), ("none yet", 1)]
