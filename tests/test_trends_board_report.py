"""The board report's single-session dropout by clinic (docs/board-report.md#1-the-first-session-is-wasted):
the board's first question, where dropout is highest, with counts, under disclosure control in the
shareable version like the report's other tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Warehouse, appointment
from test_board_report import Marked, as_shown, cli, section, write_report

from dashboard.board_report import board_report_html
from pipelines.queries import MetricsReader

# clinic -> (single-session dropouts, planned single sessions): one-session episodes closed the same day
CLINICS = {"K1": (5, 25), "K2": (12, 28)}


@pytest.fixture(scope="module")
def two_clinics(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    built = Warehouse(tmp_path_factory.mktemp("two_clinics"))
    rows, n = [], 0
    for clinic, (dropouts, planned) in CLINICS.items():
        for reason in ["dropout"] * dropouts + ["planned"] * planned:
            n += 1
            rows.append(appointment(f"A{n}", "2026-01-05", client=f"C{n}", clinic=clinic, therapist=f"T{clinic}",
                                    discharge_date="2026-01-05", discharge_reason=reason))
    built.load(rows)
    return built


def by_clinic(text: str) -> dict[str, list[tuple[str, str]]]:
    return {metric.removeprefix("single_session.by_clinic."): shown
            for metric, shown in Marked(section(text, "first_session")).metrics.items()
            if metric.startswith("single_session.by_clinic.")}


def report(warehouse: Warehouse, shareable: bool) -> str:
    reader = MetricsReader.open(warehouse.path)
    try:
        return board_report_html(reader, shareable=shareable)
    finally:
        reader.close()


def test_board_report_shows_dropout_by_clinic_with_counts(two_clinics: Warehouse) -> None:
    assert "<h3>By clinic</h3>" in report(two_clinics, shareable=False)
    assert by_clinic(report(two_clinics, shareable=False)) == {
        "K1": [("rate", "16.7%"), ("count", "5"), ("count", "30")],
        "K2": [("rate", "30.0%"), ("count", "12"), ("count", "40")],
    }


def test_board_report_dropout_by_clinic_is_disclosure_controlled_when_shared(two_clinics: Warehouse) -> None:
    """K1's 5 dropouts are `*`; beside the total of 17 that would give them back, so K2's 12 are `*` too
    (complementary suppression), and so is every rate over a `*`; the closed episodes round to 5."""
    assert by_clinic(report(two_clinics, shareable=True)) == {
        "K1": [("rate", "*"), ("count", "*"), ("count", "30")],
        "K2": [("rate", "*"), ("count", "*"), ("count", "40")],
    }


def test_board_report_dropout_by_clinic_equals_the_metrics_report(sample_like_warehouse: Warehouse,
                                                                  tmp_path: Path) -> None:
    import json

    text = write_report(sample_like_warehouse.path, tmp_path / "report.html")
    metrics = json.loads(cli("metrics", "--db", str(sample_like_warehouse.path), "--format", "json"))
    expected = {row["clinic_id"]: as_shown(row) for row in metrics["single_session"]["by_clinic"]
                if row["denominator"]}
    assert by_clinic(text) == expected
    assert len(expected) >= 2
