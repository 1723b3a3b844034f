"""Every value from the data is text in the terminal (docs/security.md#values-from-the-data-are-text):
Rich markup in a status, an id or a path is printed as those characters, a printing problem never
turns a committed load into a failure, and control characters are shown, not obeyed."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, appointment, run_cli, write_csv
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from pipelines.plain import plain, visible

EXTRACT = "2026-06-30"
OSC_HYPERLINK = "\x1b]8;"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold, which a forced terminal adds around text
RAW_LINK = "\x1b]8;;http://evil.example\x1b\\click here\x1b]8;;\x1b\\"


def run_cli_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """run_cli with extra environment (FORCE_COLOR: Rich writes as to a terminal), output as bytes."""
    base = {k: v for k, v in os.environ.items() if k != "CLINIC_OUTCOMES_DEBUG"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
                          timeout=120, env={**base, "COLUMNS": "200", **env})


def log_with_statuses(folder: Path, *statuses: str, name: str = "log.csv") -> Path:
    rows = [appointment("A0", "2026-01-05", client="C0")]
    rows += [appointment(f"A{i}", "2026-01-05", status, client=f"C{i}") for i, status in enumerate(statuses, 1)]
    return write_csv(folder, rows, name)


def funnel_log(folder: Path, therapist: str) -> Path:
    """Thirty clients who stay three sessions with T-steady, and ten one-session dropouts with
    `therapist`: far above the funnel limits, so `metrics --format table` lists that therapist."""
    rows = []
    for c in range(30):
        rows += [appointment(f"S{c}-{s}", f"2026-01-{5 + 7 * s:02d}", client=f"CS{c}", therapist="T-steady")
                 for s in range(3)]
    rows += [appointment(f"H{c}", "2026-01-05", client=f"CH{c}", therapist=therapist) for c in range(10)]
    return write_csv(folder, rows)


# --- the rule, for every value ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from("[]/\\:=ab \x1b\x07\x9b\u202e\n;$*#") | st.characters(), max_size=40))
def test_plain_value_prints_exactly_as_it_reads_with_controls_shown(value: str):
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=400, emoji=False, highlight=False)
    console.print(Text.assemble(("<", "bold"), plain(value), "> [bold]not data[/bold]"), soft_wrap=True)
    assert buffer.getvalue() == f"<{visible(value)}> [bold]not data[/bold]\n"
    assert not any(ord(c) < 0x20 and c != "\n" for c in buffer.getvalue())


def test_control_characters_are_shown_as_their_escapes():
    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("\x9b\x7f\u202e\u2066") == "\\x9b\\x7f\\u202e\\u2066"
    assert visible("plain T-01 ✓") == "plain T-01 ✓"


# --- ingest ----------------------------------------------------------------------------------------


def quarantined_rows(stdout: str) -> int:
    return sum(int(count.replace(",", "")) for count in re.findall(r"^  quarantined ([\d,]+): ", stdout, re.M))


def test_markup_in_a_status_is_printed_as_text_and_the_load_exits_0(tmp_path: Path):
    log = log_with_statuses(tmp_path, "[/bold]", "bad[red]x")
    done = run_cli("ingest", str(log), "--db", str(tmp_path / "w.duckdb"), "--extract-date", EXTRACT)
    assert done.returncode == 0, done.stderr
    assert quarantined_rows(done.stdout) == 2
    # where a reason quotes the value (docs/loading/load-report.md#quarantine), it is quoted whole
    assert "/bold" not in done.stdout or "[/bold]" in done.stdout
    assert "red" not in done.stdout or "bad[red]x" in done.stdout


def test_markup_in_a_file_path_is_printed_as_text_and_the_load_exits_0(tmp_path: Path):
    folder = tmp_path / "exports["
    folder.mkdir()
    log = log_with_statuses(folder, "attended", name="]north.csv")
    assert str(log).endswith("exports[/]north.csv")
    done = run_cli("ingest", str(log), "--db", str(folder / "]w.duckdb"), "--extract-date", EXTRACT)
    assert done.returncode == 0, done.stderr
    assert "exports[/]north.csv" in done.stdout and "exports[/]w.duckdb" in done.stdout


def test_control_characters_in_a_status_and_a_file_name_are_shown_not_obeyed(tmp_path: Path):
    log = log_with_statuses(tmp_path, RAW_LINK, "\u202eevil", name="log\x1b[8m\u202e.csv")
    done = run_cli_with({"FORCE_COLOR": "1"}, "ingest", str(log), "--db", str(tmp_path / "w.duckdb"),
                        "--extract-date", EXTRACT)
    assert done.returncode == 0, done.stderr
    text = SGR.sub("", done.stdout.decode("utf-8"))
    assert "\x1b" not in text and "\u202e" not in text
    assert "log\\x1b[8m\\u202e.csv" in text
    assert quarantined_rows(text) == 2
    # where a reason quotes the value, it is quoted with its control characters shown
    assert "click here" not in text or "\\x1b]8;;http://evil.example\\x1b\\click here" in text
    assert "evil" not in text.replace("evil.example", "") or "\\u202eevil" in text


def test_a_load_report_that_cannot_be_printed_leaves_the_committed_load_at_exit_0(tmp_path: Path):
    log = log_with_statuses(tmp_path, "attended", name="café.csv")
    done = run_cli_with({"PYTHONIOENCODING": "ascii"}, "ingest", str(log), "--db", str(tmp_path / "w.duckdb"),
                         "--extract-date", EXTRACT)
    assert done.returncode == 0, done.stderr
    assert b"was committed" in done.stderr
    assert run_cli("metrics", "--db", str(tmp_path / "w.duckdb")).returncode == 0


def test_a_load_whose_report_meets_a_closed_pipe_exits_0(tmp_path: Path):
    """`clinic-outcomes ingest … | head -0`: the reader has gone before the report is printed."""
    log = log_with_statuses(tmp_path, "attended")
    reading, writing = os.pipe()
    os.close(reading)  # every write to the pipe now fails (EPIPE)
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_OUTCOMES_DEBUG"}
    try:
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "ingest", str(log), "--db",
                               str(tmp_path / "w.duckdb"), "--extract-date", EXTRACT], cwd=REPO, stdout=writing,
                              stderr=subprocess.PIPE, timeout=120, env=env)
    finally:
        os.close(writing)
    assert done.returncode == 0, done.stderr
    assert b"was committed" in done.stderr
    assert run_cli("metrics", "--db", str(tmp_path / "w.duckdb")).returncode == 0


def test_an_error_naming_a_file_shows_its_control_characters(tmp_path: Path):
    log = tmp_path / "bad\x1b[31m.csv"
    log.write_text("x\n")
    done = run_cli("ingest", str(log), "--db", str(tmp_path / "w.duckdb"))
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "bad\\x1b[31m.csv" in done.stderr


def test_an_option_name_quoted_by_the_command_line_parser_is_text(tmp_path: Path):
    done = run_cli_with({"FORCE_COLOR": "1"}, "ingest", "--db", str(tmp_path / "w.duckdb"), "--bad[red]" + RAW_LINK)
    assert done.returncode == 2
    text = SGR.sub("", done.stderr.decode("utf-8"))
    assert OSC_HYPERLINK not in text and "--bad[red]\\x1b]8;;http://evil.example" in text


# --- metrics --format table ------------------------------------------------------------------------


# therapist id -> how the table must show it
THERAPIST_SHOWN = {
    "[/]": "[/]",  # a closing tag with nothing to close: the print failed
    "[link=http://evil.example]T2[/link]": "[link=http://evil.example]T2[/link]",  # a hidden hyperlink
    "T3" + RAW_LINK: "T3\\x1b]8;;http://evil.example\\x1b\\click here",  # a raw terminal hyperlink
    ":red_circle:": ":red_circle:",  # an emoji code
}


@pytest.mark.parametrize("therapist", THERAPIST_SHOWN,
                         ids=["closing-tag", "link-markup", "raw-hyperlink", "emoji-code"])
def test_markup_in_a_therapist_id_is_printed_as_text_in_the_metrics_table(tmp_path: Path, therapist: str):
    db = tmp_path / "w.duckdb"
    config = tmp_path / "settings.toml"
    config.write_text("min_caseload = 5\n")
    loaded = run_cli("ingest", str(funnel_log(tmp_path, therapist)), "--db", str(db), "--extract-date", EXTRACT,
                     "--config", str(config))
    assert loaded.returncode == 0, loaded.stderr
    done = run_cli_with({"FORCE_COLOR": "1"}, "metrics", "--db", str(db), "--format", "table")
    assert done.returncode == 0, done.stderr
    text = SGR.sub("", done.stdout.decode("utf-8"))
    assert OSC_HYPERLINK not in text, "a therapist id became a hidden hyperlink"
    assert "\x1b" not in text
    assert THERAPIST_SHOWN[therapist] in text, text
