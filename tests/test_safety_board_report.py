"""The board report's follow-up counts (docs/board-report.md#safety-follow-up-recorded): the Safety
worklist's episodes by the outcome of their latest log entry, counts only, disclosure-controlled in
the shareable version."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import Warehouse, appointment

from dashboard.board_report import board_report_html
from pipelines.followup import VERIFIED, Entry, FollowupLog
from pipelines.queries import MetricsReader

# Extract date 2026-06-30. R1, R2 at risk with nothing ahead; R3 a gap (nothing within 14 days, a
# missed appointment since); R4 nobody's concern (seen again the next week).
ROWS = [
    appointment("A1", "2026-06-20", client="R1", phq9_item9=2),
    appointment("A2", "2026-06-25", client="R2", phq9_item9=1),
    appointment("A3", "2026-05-04", client="R3", phq9_item9=1),
    appointment("A4", "2026-05-25", "dna", client="R3"),
    appointment("A5", "2026-07-07", "scheduled", client="R3"),
    appointment("A6", "2026-05-04", client="R4", phq9_item9=1),
    appointment("A7", "2026-05-11", client="R4", phq9_item9=0),
]
SECRET_NOTE = "Spoke to the client, plan agreed NOTE-7Q"


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, FollowupLog]:
    built = Warehouse(tmp_path)
    built.load(ROWS)
    log = FollowupLog(tmp_path / "followup.sqlite")
    reader = MetricsReader.open(built.path)
    try:
        log.record(reader, Entry("R1", "1", "could_not_reach", "no answer", "lead@clinic.example", VERIFIED),
                   now=dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC))
        log.record(reader, Entry("R1", "1", "followed_up", SECRET_NOTE, "lead@clinic.example", VERIFIED),
                   now=dt.datetime(2026, 7, 1, 15, tzinfo=dt.UTC))
        log.record(reader, Entry("R3", "1", "could_not_reach", "voicemail", "lead@clinic.example", VERIFIED))
    finally:
        reader.close()
    return built.path, log


def followup_rows(report: str) -> list[tuple[str, str]]:
    part = re.search(r'<section id="followup">(.*?)</section>', report, re.S).group(1)
    return re.findall(r'<tr><td class="key">([^<]*)</td><td class="count">([^<]*)</td></tr>', part)


def board(db: Path, log: FollowupLog | None, shareable: bool = False) -> str:
    reader = MetricsReader.open(db)
    try:
        return board_report_html(reader, shareable=shareable, followup_log=log)
    finally:
        reader.close()


def test_board_report_counts_the_worklist_by_latest_followup_outcome_without_notes_ids_or_names(logged):
    db, log = logged
    text = board(db, log)
    assert followup_rows(text) == [("followed up", "1"), ("could not reach", "1"), ("not needed", "0"),
                                   ("none yet", "1")]
    for private in (SECRET_NOTE, "no answer", "voicemail", "lead@clinic.example", "R1", "R2", "R3"):
        assert private not in text


def test_shareable_board_report_suppresses_small_followup_counts(logged):
    db, log = logged
    rows = followup_rows(board(db, log, shareable=True))
    assert [outcome for outcome, _ in rows] == ["followed up", "could not reach", "not needed", "none yet"]
    assert all(count in ("*", "0") for _, count in rows), rows


def test_board_report_without_a_followup_log_says_so(logged):
    db, _ = logged
    assert "No follow-up log was given to this report." in board(db, None)
