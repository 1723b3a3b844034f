"""An incremental load against a full one, at national scale (docs/operations.md#incremental-loads).

    python bench/incremental.py CSV EXTRACT_DATE [--share 0.01] [--runs 3]

Loads CSV into a new warehouse (the full load, timed), then loads a later extract that re-sends
`--share` of the log's rows (the appointments of the first clients, in id order, each fourth
attended one now a DNA) with the same extract date: the incremental load, timed. Each load runs in
a child process, as `clinic-outcomes ingest` would; its peak memory is reported too. Prints the
medians and the ratio of the medians; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PEAK_KIB, ROOT  # noqa: E402
CHILD = PEAK_KIB + """
import json, sys, datetime as dt
from pipelines.warehouse import ingest
report = ingest([sys.argv[1]], sys.argv[2], extract_date=dt.date.fromisoformat(sys.argv[3]))
print(json.dumps({"incremental": report.incremental, "peak_gib": peak_kib() / 2**20}))
"""


def load(csv: Path, db: Path, extract_date: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(csv), str(db), extract_date], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    return time.perf_counter() - start, json.loads(done.stdout.strip().splitlines()[-1])


def later_extract(csv: Path, share: float, out: Path) -> int:
    """The later extract: every row of the first clients (by id) until `share` of the rows."""
    log = pl.scan_csv(csv, infer_schema=False)
    per_client = log.group_by("client_id").len().sort("client_id").collect()
    wanted = per_client.filter(pl.col("len").cum_sum() <= share * per_client["len"].sum())["client_id"]
    later = (log.filter(pl.col("client_id").is_in(wanted.implode())).with_row_index().with_columns(
        pl.when((pl.col("status") == "attended") & (pl.col("index") % 4 == 0)).then(pl.lit("dna"))
        .otherwise(pl.col("status")).alias("status")).drop("index").collect())
    later.write_csv(out)
    return later.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("extract_date")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-incremental-", dir=args.csv.parent) as folder:
        folder = Path(folder)
        later = folder / "later.csv"
        rows = later_extract(args.csv, args.share, later)
        full, incremental, peaks = [], [], []
        for run in range(1, args.runs + 1):
            db = folder / "clinic.duckdb"
            db.unlink(missing_ok=True)
            print(f"full load, run {run} of {args.runs} …", flush=True)
            seconds, child = load(args.csv, db, args.extract_date)
            full.append(seconds)
            peaks.append(child["peak_gib"])
            print(f"incremental load of {rows:,} rows, run {run} of {args.runs} …", flush=True)
            seconds, child = load(later, db, args.extract_date)
            assert child["incremental"], "the later load built every model again"
            incremental.append(seconds)
            peaks.append(child["peak_gib"])
        shutil.rmtree(folder / "clinic.duckdb", ignore_errors=True)
    result = {"rows_changed": rows, "full_s": full, "incremental_s": incremental,
              "full_median_s": statistics.median(full), "incremental_median_s": statistics.median(incremental),
              "ratio": statistics.median(incremental) / statistics.median(full), "peak_gib": max(peaks)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
