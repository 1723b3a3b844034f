"""The ingest's peak memory against the size of the log, and a log larger than memory would hold
(docs/performance.md).

    python bench/memory.py                          # 2 and 8 million rows: the ratio of the peaks
    python bench/memory.py --rows 2000000 8000000 50000000

For each size: a log written by the project's generator as bench/run.py writes it (in parts of at
most ten million rows, each part's ids prefixed so that no two parts share one), then one `ingest`
into a new warehouse in a child process, timed, with the child's own peak memory (its resident
set's high-water mark) and the warehouse's size. Prints a table and writes bench/out/memory.json; nothing here asserts a time or a size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, ROWS_PER_CLIENT, bench_ingest  # noqa: E402

PART_ROWS = 10_000_000  # the generator holds a part in memory: about 3 GiB at ten million rows


def generate(rows: int, path: Path) -> int:
    """A log of about `rows` rows at `path`, written part by part; returns the rows written."""
    import polars as pl

    from pipelines.generate import CSV_FORMAT, generate_appointments

    written = 0
    with open(path, "wb") as out:
        for part in range(-(-rows // PART_ROWS)):
            clients = max(10, round(min(PART_ROWS, rows - part * PART_ROWS) / ROWS_PER_CLIENT))
            frame = generate_appointments(clients, 20261125 + part).with_columns(
                (pl.lit(f"P{part}") + pl.col("client_id")).alias("client_id"),
                (pl.lit(f"P{part}") + pl.col("appointment_id")).alias("appointment_id"))
            frame.write_csv(out, include_header=part == 0, **CSV_FORMAT)
            written += frame.height
            del frame
    return written


def ingest(csv: Path, db: Path, extract_date: str) -> dict[str, float]:
    seconds, stages, peak_gib = bench_ingest(csv, db, extract_date)
    return {"ingest_s": round(seconds, 1), "stages_s": stages, "peak_gib": round(peak_gib, 3),
            "warehouse_gib": round(db.stat().st_size / 2**30, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 8_000_000])
    parser.add_argument("--folder", type=Path, default=None, help="where the logs and warehouses go (default: a "
                                                                  "temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()

    from pipelines.generate import EXTRACT_DATE

    results = []
    with tempfile.TemporaryDirectory(prefix="clinic-memory-", dir=args.folder) as scratch:
        for rows in args.rows:
            csv, db = Path(scratch) / f"log-{rows}.csv", Path(scratch) / f"w-{rows}.duckdb"
            print(f"generating ~{rows:,} rows …", flush=True)
            written = generate(rows, csv)
            print(f"ingest of {written:,} rows …", flush=True)
            results.append({"rows": written, "csv_gib": round(csv.stat().st_size / 2**30, 3),
                            **ingest(csv, db, EXTRACT_DATE.isoformat())})
            csv.unlink()
            db.unlink()
    if len(results) > 1:
        print(f"peak at {results[-1]['rows']:,} rows ÷ peak at {results[0]['rows']:,} rows: "
              f"{results[-1]['peak_gib'] / results[0]['peak_gib']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
