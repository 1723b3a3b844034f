"""The benchmark stays runnable: a tiny run end to end (it measures, it asserts no time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dashboard_fixtures import PAGES

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runs_at_tiny_size_and_writes_every_measure(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--rows", "3000", "--runs", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results-3000.json").read_text())
    assert results["rows"] > 2000
    assert set(results["ingest_stages_s"]) == {"read_validate", "load", "episodes", "metrics", "swap"}
    assert abs(sum(results["ingest_stages_s"].values()) - results["ingest_s"]) < results["ingest_s"]
    assert results["baseline_s"] > 0 and results["peak_rss_gib"] > 0 and results["warehouse_bytes"] > 0
    assert set(results["metrics_s"]) == {"unfiltered", "clinic", "therapist", "from", "to"}
    assert list(results["pages_s"]) == list(PAGES)  # every dashboard page, in sidebar order
    assert all(set(times) == {"first_render_s", "filter_change_s"} for times in results["pages_s"].values())
    assert "ingest, end to end" in done.stdout
