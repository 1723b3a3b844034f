"""What keeping each build's flags costs (docs/operations.md#nightly-alerts):
`python bench/alerts.py DB [--builds 7]`.

DB is a built warehouse (bench/run.py's at 10 million rows, or any). On a copy of it, the step
every build ends with, record_flags (the build's row in build_history and its flags in
flag_history), runs `--builds` times, each time as a new build: the median of its times is the
cost a load or a rebuild pays; the history tables those builds made, written to a file of their
own, less the same file empty, divided by their number, is what each build kept adds. Then
`clinic-outcomes alerts --format json` runs on the copy, as a nightly job runs it (a new process),
three times. It prints the numbers and the flags per kind of one build; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines.alerts import record_flags
from pipelines.warehouse import HISTORY_TABLES, MACROS, TABLES_DDL, model_sql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--builds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db.parent) as folder:
        copy = Path(folder) / "copy.duckdb"
        shutil.copyfile(args.db, copy)
        con = duckdb.connect(str(copy))
        try:
            for table in HISTORY_TABLES:  # a warehouse built before the history was kept has none yet
                con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({TABLES_DDL[table]})")
            for macro in MACROS:  # and this version's macros, which the reports call, as a build stores them
                con.execute(model_sql(macro))
            seconds = []
            for _ in range(args.builds):
                con.execute("UPDATE settings SET build_id = replace(uuid()::VARCHAR, '-', ''), built_at = now()")
                start = time.perf_counter()
                record_flags(con)
                seconds.append(time.perf_counter() - start)
            # The warehouse file reuses the blocks a build freed, so its growth says little: the history
            # is measured in a file of its own, against the same file with the tables empty.
            empty, kept = (Path(folder) / name for name in ("empty.duckdb", "kept.duckdb"))
            for path, rows in ((empty, "LIMIT 0"), (kept, "")):
                con.execute(f"ATTACH '{path}' AS history")
                for table in HISTORY_TABLES:
                    con.execute(f"CREATE TABLE history.{table} AS SELECT * FROM {table} {rows}")
                con.execute("DETACH history")
            size_before, size_after = empty.stat().st_size, kept.stat().st_size
            per_kind = con.sql("""SELECT kind, count(*) // count(DISTINCT build_id) AS flags
                                  FROM flag_history GROUP BY kind ORDER BY kind""").fetchall()
            appointments = con.sql("SELECT count(*) FROM appointments").fetchall()[0][0]
        finally:
            con.close()
        command = []
        for _ in range(3):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pipelines.cli", "alerts", "--db", str(copy), "--format",
                                   "json"], capture_output=True)
            command.append(time.perf_counter() - start)
            if done.returncode not in (0, 3):
                raise SystemExit(done.stderr.decode())
    print(f"{appointments:,} appointments; {args.builds} builds recorded")
    print(f"record_flags: median {statistics.median(seconds):.3f} s ({', '.join(f'{s:.3f}' for s in seconds)})")
    print(f"history per build: {(size_after - size_before) / args.builds / 2**20:.2f} MiB "
          f"({size_after / 2**20:,.1f} MiB for {args.builds}, in a file of their own)")
    print(f"alerts --format json: median {statistics.median(command):.2f} s ({', '.join(f'{s:.2f}' for s in command)})")
    for kind, flags in per_kind:
        print(f"  {kind}: {flags:,} flags a build")


if __name__ == "__main__":
    main()
