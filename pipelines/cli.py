"""The `clinic-outcomes` command: a thin layer over the pipeline modules."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipelines.config import load_settings
from pipelines.errors import LoadError
from pipelines.memory import parse_memory_limit
from pipelines.plain import plain, visible

if TYPE_CHECKING:  # imported where used: `clinic-outcomes --help` should not load DuckDB
    from pipelines.queries import Scope

app = typer.Typer(
    name="clinic-outcomes",
    help="Outcome monitoring for psychotherapy and counselling clinics. The manual: docs/index.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Not a terminal (a pipe, a log): wide enough that file paths are never cut. No emoji codes: an id
# `:red_circle:` prints as those twelve characters (docs/security.md#values-from-the-data-are-text).
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200, emoji=False)
err = Console(stderr=True, emoji=False)
# --memory-limit of ingest and rebuild.
MEMORY_LIMIT_HELP = ("Memory the build may use before it spills to disk beside the warehouse: a size (4GiB, 2000MB) "
                     "or a share of this machine's memory (50%); default half the machine's memory, at most 1 GiB "
                     "(docs/operations.md#disk-and-memory).")


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LoadError(f"{option} '{value}' is not a date (use YYYY-MM-DD)") from None


@app.command()
def generate(
    clients: Annotated[int, typer.Option(min=1, help="Number of synthetic clients.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (0 or more); the same seed gives the same data.")] = 42,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write appointments.csv/.parquet into.")] = Path("sample_data"),
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write a synthetic appointment log with planted patterns (docs/sample-data.md)."""
    from pipelines.generate import generate_appointments, write_appointments

    if fmt not in ("csv", "parquet"):
        raise LoadError(f"--format '{fmt}' is not csv or parquet")
    with err.status(f"generating {clients:,} clients"):
        frame = generate_appointments(clients, seed)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = write_appointments(frame, out_dir, fmt)
        except Exception as exc:  # noqa: BLE001 - polars says a write failed with its own exception types
            raise _write_failure(exc, out_dir, "writing the sample data",
                                 "choose an --out folder you can write to") from None
    out.print(f"wrote {frame.height:,} appointments for {clients:,} clients to {visible(path)}", markup=False)


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(
        help="Appointment logs: CSV (optionally .gz or .zip), Parquet or FHIR JSON (docs/loading/input.md).")],
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file (created if missing).")],
    extract_date: Annotated[str | None, typer.Option(help="Date the extract was taken (YYYY-MM-DD).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="TOML file overriding thresholds (see docs/loading/settings.md).")] = None,
    mapping: Annotated[str | None, typer.Option(help="Mapping profile: a shipped name or a .toml path.")] = None,
    drop_columns: Annotated[bool, typer.Option("--drop-columns", help="Drop identifier-like columns instead of refusing the load.")] = False,
    pseudonymise_key: Annotated[str | None, typer.Option(
        "--pseudonymise-key", envvar="CLINIC_OUTCOMES_PSEUDONYMISE_KEY", show_envvar=True,
        help="Replace client and therapist ids by keyed pseudonyms (HMAC-SHA256); the same secret for "
             "every load. Prefer the environment variable: a command line shows in process lists.")] = None,
    named_clinicians: Annotated[bool, typer.Option(
        "--named-clinicians", help="Allow clinicians' names in therapist_id; every other identifier check "
                                   "still applies (docs/loading/identifiers.md#named-clinicians).")] = False,
    memory_limit: Annotated[str | None, typer.Option(
        help=MEMORY_LIMIT_HELP)] = None,
) -> None:
    """Load appointment logs and rebuild every metric table, atomically (docs/loading/load-report.md)."""
    from pipelines.read import load_profile
    from pipelines.warehouse import MODELS
    from pipelines.warehouse import ingest as run_ingest

    settings = load_settings(config)
    profile = load_profile(mapping) if mapping else None
    given_date = _parse_date(extract_date, "--extract-date")
    limit = parse_memory_limit(memory_limit) if memory_limit is not None else None
    with _stage_progress("loading", len(MODELS) + 5) as (on_stage, on_progress):
        report = run_ingest(files, db, extract_date=given_date, settings=settings, profile=profile,
                            drop_identifiers=drop_columns, pseudonymise_key=pseudonymise_key,
                            named_clinicians=named_clinicians, memory_limit=limit, on_stage=on_stage,
                            on_progress=on_progress)
    print_load_report(report)


@app.command()
def rebuild(
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file to rebuild.")],
    config: Annotated[Path | None, typer.Option(
        help="TOML file of thresholds to rebuild with (default: the ones the warehouse was built with).")] = None,
    memory_limit: Annotated[str | None, typer.Option(
        help=MEMORY_LIMIT_HELP)] = None,
) -> None:
    """Rebuild every metric table from the stored loads, after an upgrade or with --config (docs/operations.md)."""
    from pipelines.warehouse import MODELS
    from pipelines.warehouse import rebuild as run_rebuild

    settings = load_settings(config) if config is not None else None
    limit = parse_memory_limit(memory_limit) if memory_limit is not None else None
    with _stage_progress("rebuilding", len(MODELS) + 3) as (on_stage, _):
        report = run_rebuild(db, settings=settings, memory_limit=limit, on_stage=on_stage)
    out.print(f"Rebuilt {visible(report.warehouse)} (built by clinic-outcomes {report.previous_tool_version}) from "
              f"{report.loads:,} load{'' if report.loads == 1 else 's'}, {report.appointments:,} appointments, with "
              f"{'the thresholds of --config' if config is not None else 'its own thresholds'}", markup=False)
    print_build_line(report)


@contextmanager
def _stage_progress(description: str, steps: int) -> Iterator[tuple[Callable[[str], None],
                                                                     Callable[[str, int, int], None]]]:
    """A progress bar on a terminal's stderr (none elsewhere): advanced by each stage a long command
    reports, and within reading and validating by bytes read and rows validated, with the rows so far."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(description, total=steps)
        stages = 0

        def on_stage(stage: str) -> None:
            nonlocal stages
            stages += 1
            progress.update(task, description=visible(stage), total=steps, completed=stages, refresh=True)

        def on_progress(what: str, done: int, total: int) -> None:  # once a block: drawn at once
            progress.update(task, description=visible(what), total=max(total, 1), completed=done, refresh=True)

        yield on_stage, on_progress


# The filters of `metrics` and `report` (docs/metrics/index.md#filters), declared once.
ClinicOption = Annotated[str | None, typer.Option(help="Only episodes attributed to this clinic.")]
TherapistOption = Annotated[str | None, typer.Option(help="Only episodes attributed to this therapist.")]
FromOption = Annotated[str | None, typer.Option("--from", help="First attended session on or after (YYYY-MM-DD).")]
ToOption = Annotated[str | None, typer.Option("--to", help="First attended session on or before (YYYY-MM-DD).")]


def _scope(clinic: str | None, therapist: str | None, from_date: str | None, to_date: str | None) -> Scope:
    """The filters of `metrics` and `report` as a query scope (docs/metrics/index.md#filters)."""
    from pipelines.queries import Scope

    return Scope(
        clinics=(clinic,) if clinic is not None else None,
        therapists=(therapist,) if therapist is not None else None,
        from_date=_parse_date(from_date, "--from"),
        to_date=_parse_date(to_date, "--to"),
    )


@app.command()
def metrics(
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file.")],
    fmt: Annotated[str, typer.Option("--format", help="json (the machine-readable report) or table.")] = "json",
    clinic: ClinicOption = None,
    therapist: TherapistOption = None,
    from_date: FromOption = None,
    to_date: ToOption = None,
) -> None:
    """Print every outcome metric for the episodes selected by the filters (docs/metrics/report.md)."""
    from pipelines.queries import MetricsReader
    from pipelines.report import metrics_json, metrics_report

    if fmt not in ("json", "table"):
        raise LoadError(f"--format '{fmt}' is not json or table")
    scope = _scope(clinic, therapist, from_date, to_date)
    reader = MetricsReader.open(db)
    try:
        if fmt == "json":  # as UTF-8 bytes, whatever the terminal's encoding
            sys.stdout.flush()
            sys.stdout.buffer.write(metrics_json(reader, scope).encode("utf-8") + b"\n")
            sys.stdout.buffer.flush()
        else:
            print_metrics_table(metrics_report(reader, scope))
    finally:
        reader.close()


REPORT_SUFFIXES = (".html", ".pdf")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1024:,.0f} KB" if n_bytes < 1024 * 1024 else f"{n_bytes / 1024 / 1024:,.1f} MB"


@app.command()
def report(
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file.")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write: .html (self-contained) or .pdf.")],
    clinic: ClinicOption = None,
    therapist: TherapistOption = None,
    from_date: FromOption = None,
    to_date: ToOption = None,
    shareable: Annotated[bool, typer.Option("--shareable", help="Apply disclosure control for sharing "
                                            "outside the clinic.")] = False,
) -> None:
    """Write the board report: one self-contained HTML file, or a PDF (docs/board-report.md)."""
    # The report draws the dashboard's own charts, so this command reaches into the dashboard
    # package (Altair and vl-convert only; Streamlit is not imported).
    from dashboard.board_report import board_report_html, pdf_bytes
    from pipelines.followup import FollowupLog, log_path
    from pipelines.queries import MetricsReader

    if out_path.suffix.lower() not in REPORT_SUFFIXES:
        raise LoadError(f"--out '{out_path}' must end in .html or .pdf")
    if not out_path.parent.is_dir():
        raise LoadError(f"--out '{out_path}': there is no folder {out_path.parent}")
    scope = _scope(clinic, therapist, from_date, to_date)
    reader = MetricsReader.open(db)
    try:
        with err.status("drawing the board report"):
            html = board_report_html(reader, scope, shareable=shareable, followup_log=FollowupLog(log_path(db)))
    finally:
        reader.close()
    if out_path.suffix.lower() == ".pdf":
        with err.status("printing the PDF"):
            content = pdf_bytes(html)
    else:
        content = html.encode("utf-8")
    try:
        out_path.write_bytes(content)
    except OSError as exc:
        raise _write_failure(exc, out_path.parent, "writing the report",
                             "choose an --out path in a folder you can write to") from None
    version = "shareable" if shareable else "internal (not for sharing)"
    out.print(f"wrote the {version} board report to {visible(out_path)} ({_size(len(content))})", markup=False)


@app.command()
def alerts(
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file.")],
    since_build: Annotated[str | None, typer.Option(
        help="Compare with this earlier build (its id, or its first characters) instead of the previous one.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json (docs/operations.md#the-alerts-json).")] = "text",
    shareable: Annotated[bool, typer.Option("--shareable", help="Apply disclosure control for sharing "
                                            "outside the clinic: no client ids, no small counts.")] = False,
) -> None:
    """What is new in this build since the previous one: therapists newly flagged, new CUSUM signals, new
    unresolved risk follow-up gaps. Exit status 3 when anything is new (docs/operations.md#nightly-alerts)."""
    import json

    from pipelines.alerts import SOMETHING_NEW, alerts_json, alerts_text, whats_new
    from pipelines.queries import MetricsReader

    if fmt not in ("text", "json"):
        raise LoadError(f"--format '{fmt}' is not text or json")
    reader = MetricsReader.open(db)
    try:
        news = whats_new(reader, db, since_build)
    finally:
        reader.close()
    if fmt == "json":  # as UTF-8 bytes, whatever the terminal's encoding
        sys.stdout.flush()
        sys.stdout.buffer.write(json.dumps(alerts_json(news, shareable), ensure_ascii=False).encode("utf-8") + b"\n")
        sys.stdout.buffer.flush()
    else:
        for line in alerts_text(news, shareable):
            out.print(visible(line), markup=False, highlight=False)
    if news.count:
        raise typer.Exit(SOMETHING_NEW)


def _percent(part: dict) -> str:
    if part["rate"] is None:
        return f"– (0 of {part['denominator']:,})"
    return f"{part['rate']:.1%} ({part['numerator']:,} of {part['denominator']:,})"


def print_metrics_table(report: dict) -> None:
    episodes = report["episodes"]
    out.print(Text.assemble(plain(f"Data as of {report['extract_date']}", "bold"),
                            f": {episodes['total']:,} episodes ({episodes['open']:,} open, "
                            f"{episodes['closed']:,} closed, {episodes['not_started']:,} not started)"))
    headline = Table(title="Warning signs", title_justify="left")
    headline.add_column("metric")
    headline.add_column("value", justify="right")
    single = report["single_session"]
    headline.add_row("Ended after one session", _percent(single["ended_after_one"]))
    headline.add_row("Single-session dropout", _percent(single["dropout"]))
    for measure, outcome in report["outcomes"].items():
        headline.add_row(plain(f"{measure}: reliable improvement"), _percent(outcome["reliable_improvement"]))
        headline.add_row(plain(f"{measure}: recovery"), _percent(outcome["recovery"]))
        headline.add_row(plain(f"{measure}: reliable deterioration"), _percent(outcome["reliable_deterioration"]))
    plateaus = report["plateaus"]
    headline.add_row(plain(f"Plateaued ({plateaus['measure']}, window {plateaus['window']})"),
                     f"{plateaus['plateaued']:,} of {plateaus['assessed']:,} assessed; "
                     f"{plateaus['sessions_after_plateau']:,} sessions after plateau")
    ttd = report["time_to_discharge"]
    median = "not reached" if ttd["median_days"] is None else f"{ttd['median_days']} days"
    headline.add_row("Median time to discharge", f"{median} ({ttd['events']:,} discharged, {ttd['censored']:,} open)")
    headline.add_row("Risk follow-up gaps", f"{len(report['risk_followup_gaps']):,} "
                     f"({sum(not g['returned_later'] for g in report['risk_followup_gaps']):,} unresolved)")
    headline.add_row("Long engagements", f"{len(report['long_engagement']):,}")
    out.print(headline)
    flagged = [t for t in report["therapists"] if t["flag"] in ("alarm", "alert")]
    therapists = Table(title="Therapists above the funnel limits", title_justify="left")
    for column in ("therapist", "dropout", "95% limit", "99.8% limit", "flag"):
        therapists.add_column(column, justify="left" if column in ("therapist", "flag") else "right")
    for t in flagged:
        therapists.add_row(plain(t["therapist_id"]), _percent(t), f"{t['limit95']:.1%}", f"{t['limit998']:.1%}",
                           plain(t["flag"]))
    if flagged:
        out.print(therapists)
    else:
        out.print("No therapist is above the 95% funnel limit.")


def _serve(db: Path, port: int, headless: bool, access: Path | None = None, address: str = "localhost",
           base_url_path: str = "") -> None:
    """Run the dashboard until it is stopped; no prompt of any library's stands before the page."""
    from pipelines.access import load_access_file
    from pipelines.serve import LOCAL_ADDRESSES, check_port_is_free, serve, url_path

    path = url_path(base_url_path)
    check_port_is_free(address, port)
    if access is not None:
        load_access_file(access)  # a broken file stops here with a one-line error, not in the browser
    elif address not in LOCAL_ADDRESSES:
        err.print(f"warning: serving on {visible(address)} without --access: everyone who can reach it sees "
                  "every clinic",
                  markup=False, highlight=False, soft_wrap=True)
    status = serve(db, port, address, headless, access, path=path,
                   say=lambda line: out.print(visible(line), markup=False))
    raise typer.Exit(status)


@app.command()
def dashboard(
    db: Annotated[Path, typer.Option(help="The DuckDB warehouse file.")] = Path("clinic.duckdb"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    headless: Annotated[bool, typer.Option("--headless", help="Open no browser once the page answers.")] = False,
    access: Annotated[Path | None, typer.Option(
        help="Access file: who may see which clinics (users sign in with Streamlit's OIDC login). "
             "Without it the dashboard is open to everyone who can reach it.")] = None,
    address: Annotated[str, typer.Option(help="Address to listen on; localhost keeps it to this machine.")] = "localhost",
    base_url_path: Annotated[str, typer.Option(
        help="Serve under this path (https://host/PATH/), for a web server that forwards it.")] = "",
) -> None:
    """Start the dashboard on a warehouse and open your browser on it (docs/dashboard.md)."""
    _serve(db, port, headless, access, address, base_url_path)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="Warehouse for the sample data.")] = Path("demo.duckdb"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on (localhost).")] = 8501,
    headless: Annotated[bool, typer.Option("--headless", help="Open no browser once the page answers.")] = False,
) -> None:
    """Load the bundled synthetic sample (if not loaded yet) and start the dashboard on it (docs/quick-start.md)."""
    import tempfile

    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments
    from pipelines.warehouse import ingest as run_ingest

    if not db.exists():
        bundled = Path(__file__).resolve().parent.parent / "sample_data" / "appointments.csv"
        with tempfile.TemporaryDirectory() as folder:
            if bundled.is_file():
                sample = bundled
            else:  # an installed package carries the generator, not the file: make the same data
                sample = write_appointments(generate_appointments(2000, 42), Path(folder), "csv")
            with err.status(plain(f"loading the sample data from {sample.name}")):
                report = run_ingest([sample], db, extract_date=EXTRACT_DATE)
        print_load_report(report)
    _serve(db, port, headless)


def print_load_report(report) -> None:
    """The load report. The load is committed by now, so a report that cannot be printed in full (a
    closed pipe, a terminal that cannot encode a file name) says so in one line and leaves the exit
    status at 0: the status tells a script whether the data went in."""
    try:
        _print_load_report(report)
    # Any printing failure: the load itself succeeded. Rich turns a closed pipe into SystemExit(1).
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        try:
            err.print(f"warning: the load report could not be printed in full ({type(exc).__name__}); load "
                      f"{report.load_id} was committed: {report.totals['rows_loaded']:,} rows loaded",
                      markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001, S110 - nowhere left to say it
            pass


def _print_load_report(report) -> None:
    table = Table(title=plain(f"Load {report.load_id} into {report.warehouse}"), title_justify="left")
    for column, label in (("source_file", "file"), ("rows_read", "read"), ("rows_loaded", "loaded"),
                          ("rows_quarantined", "quarantined"), ("duplicates_merged", "merged"),
                          ("rows_replacing_earlier", "replacing earlier")):
        table.add_column(label, justify="left" if column == "source_file" else "right")
    for row in report.per_file.iter_rows(named=True):
        table.add_row(plain(row["source_file"]), *(f"{row[c]:,}" for c in list(row)[1:]))
    totals = report.totals
    table.add_row("total", *(f"{totals[c]:,}" for c in report.per_file.columns[1:]), style="bold")
    out.print(table)
    verdict = "reconciles" if report.reconciles else "DOES NOT RECONCILE"
    out.print(f"rows read = loaded + quarantined + merged: {totals['rows_read']:,} = {totals['rows_loaded']:,} + "
              f"{totals['rows_quarantined']:,} + {totals['duplicates_merged']:,} ({verdict}, per file and in total)")
    lines = [f"  quarantined {rows:,}: {reason}" for reason, rows in report.quarantine_reasons.iter_rows()]
    lines += [f"  data issue {rows:,}: {field}: {reason}"
              for field, reason, rows in report.data_issue_fields.iter_rows()]
    lines += [f"  read {path} with the {name} mapping profile (chosen from its content)"
              for path, name in report.profiles_from_content.items()]
    lines += [f"  dropped identifier-like columns from {path}: {', '.join(columns)}"
              for path, columns in report.dropped_columns.items()]
    lines += [f"  ignored unrecognised columns in {path}: {', '.join(columns)}"
              for path, columns in report.ignored_columns.items()]
    for line in lines:
        out.print(visible(line), markup=False)
    print_build_line(report)
    if report.incremental:
        out.print(f"models updated for the {report.clients_updated:,} clients this load touched, not built again "
                  "(docs/operations.md#incremental-loads)", markup=False)


def print_build_line(report) -> None:
    """The last line of a load or a rebuild: the extract date the build used and its episodes."""
    episodes = report.episodes
    out.print(visible(f"extract date {report.extract_date} ({report.extract_date_source}); episodes: "
                      f"{episodes['open']:,} open, {episodes['closed']:,} closed, "
                      f"{episodes['not_started']:,} not started"), markup=False)


def _write_failure(exc: Exception, folder: Path, doing: str, choose: str) -> Exception:
    """A refused write as its one line (docs/operations.md#when-a-write-is-refused); any other failure as it was."""
    from pipelines.warehouse import write_failure

    return write_failure(exc, folder, doing, choose) or exc


def main() -> None:
    """Entry point: every expected failure is one line on stderr and exit status 1."""
    try:
        app()
    except LoadError as exc:
        err.print(f"error: {visible(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; the warehouse was left as it was", markup=False)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the promise is "no traceback", so say what broke instead
        if os.environ.get("CLINIC_OUTCOMES_DEBUG"):
            raise
        named = getattr(exc, "filename", None)  # a refused write no command expected: still the line that says what
        failure = exc if not named else _write_failure(exc, Path(named).parent, "writing",
                                                       "choose a folder you can write to")
        if isinstance(failure, LoadError):
            err.print(f"error: {visible(failure)}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)
        err.print(f"error: unexpected {type(exc).__name__}: {visible(' '.join(str(exc).split()))} "
                  "(set CLINIC_OUTCOMES_DEBUG=1 for details)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
