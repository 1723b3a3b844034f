"""A load's rows on their way into the warehouse, a block at a time (docs/loading/input.md#large-files).

    stage_files: each file is read block by block (read.py); each block is checked for
                 identifiers, pseudonymised if asked, and written to a Parquet file of its own
                 in a staging folder beside the build; its ids go to an in-memory DuckDB table
                 (which spills what does not fit the memory limit), where the ids that repeat
                 anywhere in the load are found at the end
    load_staged: the duplicate rules judge the rows of those ids, together; then each block is
                 validated (validate.py) and written to the warehouse's tables in turn

So the memory a load needs grows little with the size of its files: at any time it holds a block
or two, and the rows whose appointment_id repeats. Each block is validated with the rules of the
whole load (every file's profile), which is why reading ends before validating begins.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from pipelines.identifiers import PSEUDONYMISED_COLUMNS, pseudonymise, refuse_identifier_values
from pipelines.measures import BUILT_IN, Measure
from pipelines.memory import hold_to
from pipelines.read import QUARANTINE_REASON, MappingProfile, read_appointment_file
from pipelines.validate import (
    ISSUE_SCHEMA, QUARANTINE_SCHEMA, RAW_SCHEMA, SCORE_PREFIX, Duplicates, find_duplicates, load_rules,
    more_scores, raw_schema, validate_block,
)

# (what is being done, how much of it is done, of how much): bytes of the files while they are
# read, rows while they are validated.
Progress = Callable[[str, int, int], None]


def no_progress(_: str, __: int, ___: int) -> None:
    return None


@dataclass
class Staged:
    """The blocks of one load, staged, and what reading the files found."""

    folder: Path
    measures: tuple[Measure, ...] = tuple(BUILT_IN.values())  # the catalogue the files were read with
    blocks: list[Path] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)  # per file, in the order given
    profiles: list[MappingProfile] = field(default_factory=list)
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    profiles_from_content: dict[str, str] = field(default_factory=dict)  # file -> profile chosen by its content
    repeated: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RAW_SCHEMA))  # repeated_rows
    clients: int = 0  # different client ids among the rows the reader did not refuse

    @property
    def rows(self) -> int:
        return sum(self.rows_read.values())

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Each staged block's columns: RAW_SCHEMA and a column for each further measure."""
        return raw_schema(more_scores(self.measures))


def staging_folder(building: Path) -> Path:
    """Where a build stages the blocks it reads: beside the file being built, removed with it."""
    return building.with_name(building.name + ".staged")


def stage_files(paths: list[Path], folder: Path, *, profile: MappingProfile | None, drop_identifiers: bool,
                key: bytes | None, named_clinicians: bool, memory_limit: int,
                measures: tuple[Measure, ...] = tuple(BUILT_IN.values()), progress: Progress = no_progress) -> Staged:
    """Read every file, block by block, into Parquet files in `folder`, and find the rows whose
    appointment_id repeats; a LoadError names the file and line of anything that refuses the load
    (a direct identifier, a damaged file). `memory_limit`: what finding the repeated ids may use
    before it spills to disk."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    staged = Staged(folder=folder, measures=measures)
    ids = _id_connection(folder, memory_limit)
    try:
        row_key = 0
        total = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
        done = 0
        for path in paths:
            source = read_appointment_file(Path(path), profile, drop_identifiers, more_scores(measures))
            staged.rows_read[source.path] = 0
            staged.profiles.append(source.profile)
            if source.dropped_columns:
                staged.dropped_columns[source.path] = source.dropped_columns
            if source.ignored_columns:
                staged.ignored_columns[source.path] = source.ignored_columns
            if source.profile_from_content:
                staged.profiles_from_content[source.path] = source.profile.name
            for block in source.blocks:
                refuse_identifier_values(source.path, block, skip=PSEUDONYMISED_COLUMNS if key else (),
                                         named_clinicians=named_clinicians)
                if key is not None:
                    block = pseudonymise(block, key)
                block = block.with_columns(
                    pl.int_range(row_key, row_key + block.height, dtype=pl.Int64).alias("row_key"),
                    pl.lit(source.path).alias("source_file"),
                    pl.lit(source.has_episode_column).alias("episode_id_required"),
                ).select(staged.schema.keys())
                staged.blocks.append(folder / f"block-{len(staged.blocks):06d}.parquet")
                try:
                    block.write_parquet(staged.blocks[-1], compression="lz4", statistics=False)
                except (OSError, pl.exceptions.PolarsError) as exc:  # a full disk: said as the system says it
                    raise OSError(getattr(exc, "errno", None), str(exc)) from None
                _add_ids(ids, block)
                row_key += block.height
                staged.rows_read[source.path] += block.height
                progress(f"reading {source.path} ({staged.rows:,} rows)", done + source.read, total)
                del block
            done += source.size
        staged.repeated = repeated_rows(ids, staged)
        staged.clients = ids.sql("SELECT count(DISTINCT client_id) FROM ids").fetchall()[0][0]
    finally:
        ids.close()
    return staged


def _id_connection(folder: Path, memory_limit: int) -> duckdb.DuckDBPyConnection:
    """An in-memory database for the ids of a load's rows, held to `memory_limit`, spilling into
    `folder`."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    hold_to(con, memory_limit, folder / "spill")
    con.execute("CREATE TABLE ids (appointment_id VARCHAR NOT NULL, client_id VARCHAR)")
    return con


def _add_ids(con: duckdb.DuckDBPyConnection, block: pl.DataFrame) -> None:
    """The block's ids the duplicate rules may look at (not empty, on a row the reader did not
    refuse), with their client ids: how many clients a load touches (Staged.clients)."""
    kept = block.filter(pl.col(QUARANTINE_REASON).is_null() & pl.col("appointment_id").is_not_null())
    con.register("block_ids", kept.select("appointment_id", "client_id"))
    try:
        con.execute("INSERT INTO ids SELECT appointment_id, client_id FROM block_ids")
    finally:
        con.unregister("block_ids")


def repeated_rows(con: duckdb.DuckDBPyConnection, staged: Staged) -> pl.DataFrame:
    """Every staged row the reader did not refuse whose non-empty appointment_id appears more than
    once among those: the only rows either duplicate rule needs (most extracts have none). `con`
    holds the ids of those rows (_add_ids)."""
    repeated = con.sql("SELECT appointment_id FROM ids GROUP BY appointment_id HAVING count(*) > 1").pl()
    if repeated.is_empty():
        return pl.DataFrame(schema=staged.schema)
    wanted = pl.col(QUARANTINE_REASON).is_null() & pl.col("appointment_id").is_in(repeated["appointment_id"].implode())
    return pl.concat([pl.read_parquet(block, glob=False).filter(wanted) for block in staged.blocks]).cast(staged.schema)


def load_staged(con: duckdb.DuckDBPyConnection, staged: Staged, extract_date: dt.date | None, load_id: int,
                progress: Progress = no_progress) -> pl.DataFrame:
    """Validate the staged blocks and write their rows to the appointments, quarantine and
    data_issues tables, as load `load_id`; returns the per-file counts (source_file, rows_read,
    rows_loaded, rows_quarantined, duplicates_merged), each file's rows_read the sum of the other
    three. Each block file is removed once it is in."""
    rules = load_rules(staged.profiles, extract_date, staged.measures)
    duplicates: Duplicates = find_duplicates(staged.repeated)
    counts = {path: {"rows_loaded": 0, "rows_quarantined": 0} for path in staged.rows_read}
    done = 0
    for path in staged.blocks:
        raw = pl.read_parquet(path, glob=False).cast(staged.schema)
        validation = validate_block(raw, rules, duplicates)
        for name, frame in (("rows_loaded", validation.appointments), ("rows_quarantined", validation.quarantine)):
            for file, rows in frame.group_by("source_file").len().iter_rows():
                counts[file][name] += rows
        _insert(con, "appointments", validation.appointments.drop("row_key").with_columns(
            pl.col(pl.Enum).cast(pl.String)), load_id, scores=[m.name for m in staged.measures])
        _insert(con, "quarantine", validation.quarantine.select(QUARANTINE_SCHEMA.keys()), load_id)
        _insert(con, "data_issues", validation.data_issues.select(ISSUE_SCHEMA.keys()), load_id)
        done += raw.height
        del raw, validation
        path.unlink()
        progress(f"validating rows ({done:,} of {staged.rows:,})", done, staged.rows)
    merged = dict(duplicates.merged.group_by("source_file").len().iter_rows())
    return pl.DataFrame(
        [{"source_file": file, "rows_read": read, **counts[file], "duplicates_merged": merged.get(file, 0)}
         for file, read in staged.rows_read.items()],
        schema={"source_file": pl.String, "rows_read": pl.Int64, "rows_loaded": pl.Int64,
                "rows_quarantined": pl.Int64, "duplicates_merged": pl.Int64})


def scores_as_list(columns: dict[str, str]) -> str:
    """The SQL select list that turns a column per measure (measure -> column name) into
    appointments.scores: every other column, and the list of (measure, score) of those the row has.
    Loading and carrying a warehouse from before the catalogue over both use it."""
    entries = ", ".join(f"{{'measure': '{m}', 'score': CAST(\"{c}\" AS DOUBLE)}}" for m, c in columns.items())
    excluded = ", ".join(f'"{c}"' for c in columns.values())
    return f"* EXCLUDE ({excluded}), list_filter([{entries}], lambda s: s.score IS NOT NULL) AS scores"


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, load_id: int,
            scores: list[str] | None = None) -> None:
    """The rows into the table, as load `load_id`. (In one chunk per column: DuckDB inserts that in
    about half the time of the reader's many, bench/RESULTS.md.) `scores`: the measures whose
    score__NAME columns become the row's list of scores (appointments.scores), those it has."""
    if rows.is_empty():
        return
    columns = "*"
    if scores is not None:
        columns = scores_as_list({m: f"{SCORE_PREFIX}{m}" for m in scores})
    con.register("block_rows", rows.rechunk())
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT {int(load_id)} AS load_id, {columns} FROM block_rows")
    finally:
        con.unregister("block_rows")
