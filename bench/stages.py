"""Time one ingest stage by stage: `python bench/stages.py CSV DB EXTRACT_DATE`.

Prints each progress mark of `ingest` (seconds since the start, then the stage), finer than the
benchmark's four groups: every model of sql/ is its own line. The warehouse at DB is replaced.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from pipelines.warehouse import ingest


def main() -> None:
    csv, db, extract = Path(sys.argv[1]), Path(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
    start = time.perf_counter()

    def mark(stage: str) -> None:
        print(f"{time.perf_counter() - start:7.1f} {stage}", flush=True)

    db.unlink(missing_ok=True)
    ingest([csv], db, extract_date=extract, on_stage=mark)
    mark("done")


if __name__ == "__main__":
    main()
