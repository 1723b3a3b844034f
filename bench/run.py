"""The national-scale benchmark (docs/performance.md): generate, load, report and render at a given size.

    python bench/run.py                 # 10 million appointment rows
    python bench/run.py --quick         # 1 million
    python bench/run.py --rows 50000    # any size (the smoke test uses a tiny one)

Everything is measured in this one run on this machine, so ratios are fair: DuckDB's own bare
CSV load of the same file is the floor any loader pays, and it runs in turn with the ingest,
`--runs` times each. Times are medians of `--runs` repeats; the ratio is the median of each
bare load and ingest pair's own ratio; peak memory is the largest run's. It prints a table and
writes bench/out/results-<rows>.json. It is not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS_PER_CLIENT = 9.9  # the generator's average, measured: 10,896,427 rows from 1.1 million clients
PAGES = ("overview", "first_sessions", "waits", "attendance", "therapists", "outcomes", "plateaus", "endings", "safety",
         "explore", "data_quality", "glossary")
TARGETS = {"ingest_s": 90.0, "ingest_ratio": 3.0, "peak_rss_gib": 3.0, "metrics_s": 2.0,
           "page_first_render_s": 1.5, "page_filter_change_s": 0.5, "generate_s": 60.0}

# Run inside a child process so its peak memory is the ingest's alone; prints stage timings and
# that peak.
# Its peak is the kernel's high-water mark of its own memory (VmHWM, Linux): getrusage's ru_maxrss
# also counts the parent's memory at the fork, which after the generator's ten million rows was
# gigabytes.
PEAK_KIB = """
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
INGEST_CHILD = PEAK_KIB + """
import json, sys, time, datetime as dt
from pipelines.warehouse import ingest
marks = []
start = time.perf_counter()
ingest([sys.argv[1]], sys.argv[2], extract_date=dt.date.fromisoformat(sys.argv[3]),
       on_stage=lambda stage: marks.append((stage, time.perf_counter() - start)))
marks.append(("done", time.perf_counter() - start))
print(json.dumps({"marks": marks, "peak_kib": peak_kib()}))
"""


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def median_of(runs: int, function, *args, **kwargs) -> float:
    return statistics.median(timed(function, *args, **kwargs)[0] for _ in range(runs))


def stage_split(marks: list[tuple[str, float]]) -> dict[str, float]:
    """Group the ingest's stage marks into read/validate, load, episodes and metrics."""
    groups = {"read_validate": 0.0, "load": 0.0, "episodes": 0.0, "metrics": 0.0, "swap": 0.0}
    for (stage, at), (_, until) in zip(marks, marks[1:]):
        if stage.startswith(("reading", "validating")):
            key = "read_validate"
        elif stage.startswith("loading"):
            key = "load"
        elif stage.startswith("deriving") or "staging/" in stage or "marts/" in stage:
            key = "episodes"
        elif "metrics/" in stage or stage.startswith("recording"):  # the build's flags, from the metric reports
            key = "metrics"
        else:
            key = "swap"
        groups[key] += until - at
    return {k: round(v, 3) for k, v in groups.items()}


def bench_generate(rows: int, folder: Path) -> tuple[float, Path, int]:
    from pipelines.generate import generate_appointments, write_appointments

    clients = max(10, round(rows / ROWS_PER_CLIENT))
    seconds, frame = timed(generate_appointments, clients, 20261125)
    path = write_appointments(frame, folder, "csv")
    return seconds, path, frame.height


def bench_baseline(csv: Path, folder: Path) -> float:
    import duckdb

    db = folder / "baseline.duckdb"
    con = duckdb.connect(str(db))
    seconds, _ = timed(con.execute, f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
    con.close()
    db.unlink()
    return seconds


def bench_ingest(csv: Path, db: Path, extract_date: str) -> tuple[float, dict[str, float], float]:
    """One ingest into a new warehouse at db: (seconds, stage split, peak memory in GiB)."""
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", INGEST_CHILD, str(csv), str(db), extract_date],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    seconds = time.perf_counter() - start
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, stage_split(child["marks"]), child["peak_kib"] / 1024 / 1024


def bench_loads(csv: Path, db: Path, extract_date: str, runs: int) -> dict[str, object]:
    """The bare load and the ingest, in turn, `runs` times: medians, and the ratio as the median of
    each pair's own ratio (a pair runs within a minute or two, on one state of a shared machine).
    Peak memory is the largest of the runs: its target is a ceiling."""
    pairs = []
    for run in range(1, runs + 1):
        print(f"DuckDB bare load (baseline), run {run} of {runs} …", flush=True)
        baseline = bench_baseline(csv, db.parent)
        print(f"clinic-outcomes ingest, run {run} of {runs} …", flush=True)
        pairs.append((baseline, *bench_ingest(csv, db, extract_date)))
    baselines, ingests, splits, peaks = (list(column) for column in zip(*pairs))
    return {"baseline_s": statistics.median(baselines), "baseline_runs_s": baselines,
            "ingest_s": statistics.median(ingests), "ingest_runs_s": ingests,
            "ingest_stages_s": {stage: statistics.median(split[stage] for split in splits) for stage in splits[0]},
            "ingest_ratio": statistics.median(i / b for b, i in zip(baselines, ingests)),
            "peak_rss_gib": max(peaks), "peak_rss_runs_gib": peaks}


def bench_metrics(db: Path, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """`metrics --format json` unfiltered and with each filter: the command end to end, as a user
    runs it (a new process: start-up, imports, report, JSON on stdout), and the report alone,
    in process, on an open reader."""
    from pipelines.queries import MetricsReader, Scope
    from pipelines.report import metrics_report

    reader = MetricsReader.open(db)
    try:
        options = reader.run("filter_options")
        clinic = options["clinic_id"][0]
        therapist = options["therapist_id"][0]
        year_ago = options["last_date"].max()
        year_ago = year_ago.replace(year=year_ago.year - 1)
        scopes = {
            "unfiltered": (Scope(), []),
            "clinic": (Scope(clinics=(clinic,)), ["--clinic", clinic]),
            "therapist": (Scope(therapists=(therapist,)), ["--therapist", therapist]),
            "from": (Scope(from_date=year_ago), ["--from", year_ago.isoformat()]),
            "to": (Scope(to_date=year_ago), ["--to", year_ago.isoformat()]),
        }
        report_s = {name: round(median_of(runs, metrics_report, reader, scope), 3)
                    for name, (scope, _) in scopes.items()}
    finally:
        reader.close()
    command_s = {name: round(time_metrics_command(db, flags, runs), 3) for name, (_, flags) in scopes.items()}
    return command_s, report_s


def time_metrics_command(db: Path, flags: list[str], runs: int) -> float:
    """The median time of the command, its output captured as bytes (reading the JSON back is
    checked once, after the timing: it is the benchmark's cost, not the command's)."""
    times = []
    for _ in range(runs):
        seconds, done = timed(subprocess.run, [sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(db),
                                               "--format", "json", *flags], capture_output=True, cwd=ROOT)
        times.append(seconds)
        if done.returncode != 0:
            raise SystemExit(f"metrics {' '.join(flags)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    json.loads(done.stdout)  # a whole report came out
    return statistics.median(times)


def bench_pages(db: Path, runs: int) -> dict[str, dict[str, float]]:
    """Server-side time of each page's first render and of a filter change, via AppTest."""
    import logging

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    # Clearing the caches outside a server warns twice per run ("no runtime", "missing
    # ScriptRunContext"); streamlit resets its loggers' levels, so these two are switched off.
    for name in ("streamlit.runtime.caching.cache_data_api", "streamlit.runtime.caching.cache_resource_api",
                 "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name).disabled = True

    os.environ["CLINIC_OUTCOMES_DB"] = str(db)
    app = str(ROOT / "dashboard" / "app.py")
    results: dict[str, dict[str, float]] = {}
    for page in PAGES:
        first, change = [], []
        for _ in range(runs):
            st.cache_data.clear()
            st.cache_resource.clear()
            test = AppTest.from_file(app, default_timeout=300)
            if page != "overview":
                test.switch_page(f"views/{page}.py")
            first.append(timed(test.run)[0])
            clinics = test.multiselect(key="filter_clinics")
            clinics.set_value([clinics.options[0]])
            change.append(timed(test.run)[0])
            if test.exception:
                raise RuntimeError(f"page {page} raised: {test.exception[0].value}")
        results[page] = {"first_render_s": round(statistics.median(first), 3),
                         "filter_change_s": round(statistics.median(change), 3)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="appointment rows (default 10 million)")
    parser.add_argument("--quick", action="store_true", help="1 million rows")
    parser.add_argument("--runs", type=int, default=3, help="repeats for medians (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    rows = 1_000_000 if args.quick else args.rows

    from pipelines.generate import EXTRACT_DATE

    results: dict[str, object] = {"rows_requested": rows, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as scratch:
        folder = Path(scratch)
        print(f"generating ~{rows:,} rows …", flush=True)
        results["generate_s"], csv, results["rows"] = bench_generate(rows, folder)
        results["csv_bytes"] = csv.stat().st_size
        db = folder / "bench.duckdb"
        results.update(bench_loads(csv, db, EXTRACT_DATE.isoformat(), args.runs))
        results["warehouse_bytes"] = db.stat().st_size
        print("metrics report …", flush=True)
        results["metrics_s"], results["metrics_report_s"] = bench_metrics(db, args.runs)
        print("dashboard pages …", flush=True)
        results["pages_s"] = bench_pages(db, args.runs)

    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"results-{rows}.json"
    out_file.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print_table(results)
    print(f"written to {out_file}")


def print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def verdict(value: float, target: float) -> str:
        return "ok" if value <= target else "MISSED"

    def spread(key: str) -> str:  # every run, when there were several
        runs = r[key]
        return f" ({', '.join(f'{s:.1f}' for s in runs)})" if len(runs) > 1 else ""

    table = Table(title=f"clinic-outcomes benchmark: {r['rows']:,} rows, {r['cores']} cores", title_justify="left")
    for column in ("measure", "value", "target", ""):
        table.add_column(column)
    table.add_row("generate", f"{r['generate_s']:.1f} s", f"≤ {TARGETS['generate_s']:.0f} s",
                  verdict(r["generate_s"], TARGETS["generate_s"]))
    table.add_row("DuckDB bare CSV load (baseline)", f"{r['baseline_s']:.1f} s{spread('baseline_runs_s')}", "", "")
    table.add_row("ingest, end to end", f"{r['ingest_s']:.1f} s{spread('ingest_runs_s')}",
                  f"≤ {TARGETS['ingest_s']:.0f} s", verdict(r["ingest_s"], TARGETS["ingest_s"]))
    for stage, seconds in r["ingest_stages_s"].items():
        table.add_row(f"  {stage}", f"{seconds:.1f} s", "", "")
    table.add_row("ingest / baseline (median of pairs)", f"{r['ingest_ratio']:.1f}×",
                  f"≤ {TARGETS['ingest_ratio']:.0f}×", verdict(r["ingest_ratio"], TARGETS["ingest_ratio"]))
    table.add_row("ingest peak memory (largest run)", f"{r['peak_rss_gib']:.2f} GiB",
                  f"≤ {TARGETS['peak_rss_gib']:.0f} GiB", verdict(r["peak_rss_gib"], TARGETS["peak_rss_gib"]))
    table.add_row("warehouse size", f"{r['warehouse_bytes'] / 2**20:,.0f} MiB", "", "")
    for name, seconds in r["metrics_s"].items():
        report = r["metrics_report_s"][name]
        table.add_row(f"metrics --format json ({name})", f"{seconds:.2f} s (report {report:.2f} s)",
                      f"≤ {TARGETS['metrics_s']:.0f} s", verdict(seconds, TARGETS["metrics_s"]))
    for page, times in r["pages_s"].items():
        table.add_row(f"page {page}: first render", f"{times['first_render_s']:.2f} s",
                      f"≤ {TARGETS['page_first_render_s']} s",
                      verdict(times["first_render_s"], TARGETS["page_first_render_s"]))
        table.add_row(f"page {page}: filter change", f"{times['filter_change_s']:.2f} s",
                      f"≤ {TARGETS['page_filter_change_s']} s",
                      verdict(times["filter_change_s"], TARGETS["page_filter_change_s"]))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
