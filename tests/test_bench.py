"""The benchmark stays runnable: a tiny run end to end (it measures, it asserts no time); and a
storage choice it measured stays in place."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import appointment
from dashboard_fixtures import PAGES

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runs_at_tiny_size_and_writes_every_measure(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--rows", "3000", "--runs", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results-3000.json").read_text())
    assert results["rows"] > 2000
    assert set(results["ingest_stages_s"]) == {"read_validate", "load", "episodes", "metrics", "swap"}
    assert abs(sum(results["ingest_stages_s"].values()) - results["ingest_s"]) < results["ingest_s"]
    assert results["baseline_s"] > 0 and results["peak_rss_gib"] > 0 and results["warehouse_bytes"] > 0
    # the bare load and the ingest each ran --runs times, in turn; medians and the largest peak
    assert len(results["baseline_runs_s"]) == len(results["ingest_runs_s"]) == len(results["peak_rss_runs_gib"]) == 2
    assert results["ingest_s"] == statistics.median(results["ingest_runs_s"])
    assert results["baseline_s"] == statistics.median(results["baseline_runs_s"])
    assert results["peak_rss_gib"] == max(results["peak_rss_runs_gib"])
    assert min(results["peak_rss_runs_gib"]) > 0.05  # the child's own peak: a Python with polars and DuckDB
    ratios = sorted(i / b for b, i in zip(results["baseline_runs_s"], results["ingest_runs_s"]))
    assert results["ingest_ratio"] == pytest.approx(statistics.median(ratios))
    assert set(results["metrics_s"]) == set(results["metrics_report_s"]) == {"unfiltered", "clinic", "therapist",
                                                                            "from", "to"}
    # the command end to end includes the report (and a Python start-up)
    assert all(results["metrics_s"][name] > results["metrics_report_s"][name] for name in results["metrics_s"])
    assert list(results["pages_s"]) == list(PAGES)  # every dashboard page, in sidebar order
    assert all(set(times) == {"first_render_s", "filter_change_s"} for times in results["pages_s"].values())
    assert "ingest, end to end" in done.stdout
    assert "No runtime found" not in done.stderr, "AppTest's notices drown the progress lines"


def test_memory_benchmark_runs_at_tiny_sizes_and_writes_each_peak(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), "--rows", "2000", "4000",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "memory.json").read_text())
    assert [r["rows"] > 1000 for r in results] == [True, True] and results[1]["rows"] > results[0]["rows"]
    assert all(r["peak_gib"] > 0.05 and r["ingest_s"] > 0 and r["warehouse_gib"] > 0 for r in results)
    assert "peak at" in done.stdout


def test_incremental_benchmark_loads_a_share_of_the_rows_again_incrementally(tmp_path):
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments

    csv = write_appointments(generate_appointments(400, 3), tmp_path, "csv")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "incremental.py"), str(csv), EXTRACT_DATE.isoformat(),
                           "--share", "0.05", "--runs", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert 0 < result["rows_changed"] < 0.1 * 4000 and result["incremental_median_s"] > 0 and result["ratio"] > 0


def test_stage_timer_prints_every_model_of_one_ingest(tmp_path):
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments
    from pipelines.warehouse import MODELS, SUMMARIES

    csv = write_appointments(generate_appointments(50, 3), tmp_path, "csv")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "stages.py"), str(csv), str(tmp_path / "w.duckdb"),
                           EXTRACT_DATE.isoformat()], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    stages = [line.split(maxsplit=1)[1] for line in done.stdout.splitlines()]
    assert [f"building {model}" for model in (*MODELS, *SUMMARIES)] == [s for s in stages if s.startswith("building")]
    assert stages[0].startswith("reading") and stages[-1] == "done"


def test_appointment_client_ids_stay_uncompressed_through_loads_and_rebuilds(warehouse):
    """Attendance counts a filtered selection of appointments per client; DuckDB's default text
    compression would decode every client id of the table to do it (bench/RESULTS.md)."""
    from pipelines.warehouse import rebuild

    def client_id_compression() -> set[str]:
        return set(warehouse.query(
            "SELECT DISTINCT compression FROM pragma_storage_info('appointments') "
            "WHERE column_name = 'client_id' AND segment_type = 'VARCHAR'")["compression"])

    warehouse.load([appointment("A1", "2026-03-01", client="C1")])
    assert client_id_compression() == {"Uncompressed"}
    warehouse.load([appointment("A2", "2026-03-08", client="C2")])  # the first load's rows are copied over
    assert client_id_compression() == {"Uncompressed"}
    rebuild(warehouse.path)
    assert client_id_compression() == {"Uncompressed"}


def test_validated_rows_reach_duckdb_in_one_chunk_per_column():
    """DuckDB inserts a frame of one chunk per column in about half the time of the CSV reader's
    hundred (bench/RESULTS.md): each validated block is joined into one before it is inserted."""
    import duckdb
    import polars as pl

    from pipelines.staging import _insert

    parts = [pl.DataFrame({"appointment_id": [f"A{i}"], "status": [["attended", "dna"][i % 2]]}) for i in range(5)]
    rows = pl.concat(parts, rechunk=False)
    assert rows.n_chunks() == 5
    con = duckdb.connect()
    con.execute("CREATE TABLE appointments (load_id INTEGER, appointment_id VARCHAR, status VARCHAR)")
    registered = []

    class Watched:  # the connection, noting each frame registered with it
        def register(self, name, frame):
            registered.append(frame)
            return con.register(name, frame)

        def __getattr__(self, name):
            return getattr(con, name)

    _insert(Watched(), "appointments", rows, load_id=3)
    assert [registered[0].get_column(c).n_chunks() for c in rows.columns] == [1, 1]
    assert con.sql("SELECT * FROM appointments ORDER BY appointment_id").fetchall()[1] == (3, "A1", "dna")


def test_cusum_design_calculation_prints_a_line_per_dropout_rate():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cusum.py"), "--runs", "40", "--threshold", "3"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 0.")]
    assert [row.split(" | ")[0] for row in rows] == ["| 0.1", "| 0.2", "| 0.35"]
    assert "threshold 3," in done.stdout
