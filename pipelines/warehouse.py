"""The DuckDB warehouse: one file, rebuilt beside the old one and swapped in atomically.

    ingest(files) → read and stage, block by block (staging.py) → new file ← previous rows
                  → validate, block by block, + new rows (replacing re-sent ones)
                  → derived episodes → SQL models (sql/, in MODELS order) → os.replace
    rebuild()     →                    new file ← previous rows → derived episodes → … (the same)

An incremental load (docs/operations.md#incremental-loads) starts the new file as a copy of the
previous one and computes the models for the clients it touched alone (_update_models).

A failed or killed load never touches the warehouse file in place: readers keep seeing the
previous build until the rename, which POSIX makes atomic. A lock file keeps two loads from
racing to the rename.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import functools
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from pipelines import __version__
from pipelines.config import Settings
from pipelines.episodes import derive_episode_ids
from pipelines.errors import LoadError
from pipelines.identifiers import check_key
from pipelines.measures import BUILT_IN, Measure
from pipelines.memory import default_memory_limit, hold_to, human_size
from pipelines.read import INPUT_COLUMNS, MappingProfile
from pipelines.staging import Progress, load_staged, no_progress, scores_as_list, stage_files, staging_folder

# Models run in this order; each file is one SELECT materialised as a table named after it,
# except staging models (views: they only rename and cast, as in dbt) and EPHEMERAL ones
# (temporary tables that only later models read, never written to the warehouse file).
MODELS = (
    "staging/stg_appointments",
    "marts/sessions",
    "marts/episodes",
    "marts/episode_issues",
    "marts/session_scores",
    "metrics/single_session",
    "metrics/waits",
    "metrics/outcomes",
    "metrics/nhs_paired",
    "metrics/plateaus",
    "metrics/trajectories",
    "metrics/time_to_discharge",
    "metrics/risk_followup_gaps",
    "metrics/long_engagement",
)
EPHEMERAL = ("marts/session_scores",)
# Macros stored in the warehouse for the report queries in sql/reports/ (in_scope first: the
# other uses it).
# Tables drawn whole from the model tables through the macros, after both, by every build: an
# incremental load too, once it has updated the models (so they need no client_id).
SUMMARIES = ("metrics/expected_lines",)
MACROS = ("macros/in_scope", "macros/scoped_episodes", "macros/overdispersion", "macros/binomial_limit",
          "macros/expected_change")

# The layout readers and later loads rely on. Raise it whenever a change to a model or a source
# table would break a report, the dashboard or a later load on a file built before: readers then
# refuse the older file with a one-line error (connect), and `clinic-outcomes rebuild` brings it
# up to date from the loads it holds. 1: every build before the version was recorded.
# 2: episodes.past_appointments (the Attendance page), dose_response without episode ids.
# 3: single_session's case-mix stratum (the therapist funnel's adjusted flag reads it).
# 4: the settings row's CUSUM odds ratio and threshold (the therapist CUSUM reads them), and the
#    overdispersion macros (the therapist and attendance funnels' adjusted flags call them).
# 5: the waits table (the waits report reads it) and episode_issues' referral dated after session 1;
#    nhs_paired, the national paired measures (the metrics report reads it), and outcomes.is_case_at_end.
# 6: waits' flags for the wait standards and the 28- and 90-day marks (the waits reports count them),
#    and the binomial_limit macro (the funnels' limits and the dropout trend's control band call it).
# 7: the measure catalogue: appointments.scores holds every score as (measure, score) in place of a
#    column per measure, quarantine.other_scores, and the measures table written from the catalogue
#    (the low-alliance report reads the SRS's cut-off there); the trajectories table and the
#    expected_change macro (the not-on-track reports read them; the dose-response curve reads
#    trajectories, in place of the dose_response table, gone).
SCHEMA_VERSION = 7

# appointments.client_id is stored uncompressed. DuckDB's default for text (DICT_FSST) decodes
# every row of a block that holds one wanted row, so counting the ~80,000 appointments of one
# clinic per client decoded all ten million ids (0.21 s; 0.11 s uncompressed). Measured in
# bench/RESULTS.md: the same ingest time, 37–64 MiB more on disk at 10 M rows.
TABLES_DDL = {
    "appointments": """
        appointment_id VARCHAR NOT NULL, client_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
        episode_id VARCHAR,
        therapist_id VARCHAR NOT NULL, clinic_id VARCHAR NOT NULL,
        appointment_date TIMESTAMP NOT NULL, status VARCHAR NOT NULL, session_type VARCHAR,
        phq9_item9 SMALLINT, scores STRUCT(measure VARCHAR, score DOUBLE)[],
        referral_date DATE, discharge_date DATE, discharge_reason VARCHAR,
        load_id INTEGER NOT NULL, source_file VARCHAR NOT NULL, source_line BIGINT NOT NULL""",
    "quarantine": "load_id INTEGER NOT NULL, source_file VARCHAR NOT NULL, source_line BIGINT NOT NULL, "
                  "reason VARCHAR NOT NULL, " + ", ".join(f"{c} VARCHAR" for c in INPUT_COLUMNS)
                  + ", other_scores VARCHAR",
    "data_issues": "load_id INTEGER NOT NULL, source_file VARCHAR NOT NULL, source_line BIGINT NOT NULL, "
                   "appointment_id VARCHAR NOT NULL, field VARCHAR NOT NULL, value VARCHAR, "
                   "reason VARCHAR NOT NULL",
    "loads": "load_id INTEGER NOT NULL, loaded_at TIMESTAMP NOT NULL, source_file VARCHAR NOT NULL, "
             "rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL, "
             "duplicates_merged BIGINT NOT NULL, rows_replacing_earlier BIGINT NOT NULL, "
             "extract_date DATE",
    # The history of builds and of the flags each raised (docs/operations.md#nightly-alerts): every build
    # adds its own rows and keeps the last FLAG_HISTORY_BUILDS builds' (pipelines/alerts.py).
    "build_history": "build_number INTEGER NOT NULL, build_id VARCHAR NOT NULL, built_at TIMESTAMP NOT NULL, "
                     "extract_date DATE, latest_load_id INTEGER NOT NULL, tool_version VARCHAR NOT NULL",
    "flag_history": "build_number INTEGER NOT NULL, build_id VARCHAR NOT NULL, built_at TIMESTAMP NOT NULL, "
                    "kind VARCHAR NOT NULL, therapist_id VARCHAR, clinic_id VARCHAR, client_id VARCHAR, "
                    "episode_id VARCHAR, flag VARCHAR, numerator BIGINT, denominator BIGINT, expected DOUBLE, "
                    "adjusted_z DOUBLE, signals BIGINT, first_signal_date DATE, last_signal_date DATE, "
                    "latest_cusum DOUBLE, threshold DOUBLE, risk_date DATE, item9 SMALLINT, days_since_risk BIGINT",
}
# A warehouse built before the history was kept has none: its next build starts one.
HISTORY_TABLES = ("build_history", "flag_history")


def sql_dir() -> Path:
    """The models: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sql", here.parent / "sql"):
        if (candidate / "staging").is_dir():
            return candidate
    raise LoadError("the SQL models are missing from this installation (reinstall clinic-outcomes)")


def model_sql(model: str) -> str:
    return (sql_dir() / f"{model}.sql").read_text(encoding="utf-8")


@dataclass
class LoadReport:
    load_id: int
    build_id: str
    warehouse: str
    extract_date: dt.date | None
    extract_date_source: str
    per_file: pl.DataFrame  # source_file, rows_read, rows_loaded, rows_quarantined, duplicates_merged, rows_replacing_earlier
    quarantine_reasons: pl.DataFrame  # reason, rows
    data_issue_fields: pl.DataFrame  # field, reason, rows
    dropped_columns: dict[str, list[str]]
    ignored_columns: dict[str, list[str]]
    episodes: dict[str, int]
    # file -> the mapping profile chosen for it by its content (a FHIR file given without --mapping)
    profiles_from_content: dict[str, str] = field(default_factory=dict)
    # the models were updated for the clients this load touched (how many), not all built again
    incremental: bool = False
    clients_updated: int = 0

    @property
    def totals(self) -> dict[str, int]:
        return {c: int(self.per_file[c].sum()) for c in self.per_file.columns if c != "source_file"}

    @property
    def reconciles(self) -> bool:
        t = self.totals
        files_ok = self.per_file.select(
            (pl.col("rows_read") == pl.col("rows_loaded") + pl.col("rows_quarantined")
             + pl.col("duplicates_merged")).all()).item()
        return bool(files_ok) and t["rows_read"] == t["rows_loaded"] + t["rows_quarantined"] + t["duplicates_merged"]


@dataclass
class RebuildReport:
    """What `rebuild` did: the same loads, built again by this version."""

    warehouse: str
    build_id: str
    previous_tool_version: str  # the version that built the file replaced
    loads: int
    appointments: int
    extract_date: dt.date | None
    extract_date_source: str
    settings: Settings
    episodes: dict[str, int]


Stage = Callable[[str], None]


def _no_progress(_: str) -> None:
    return None


# How the operating system and DuckDB say that a write was refused (DuckDB raises its own exception
# types, with the system's words in the text).
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, "No space left on device", "Disk quota exceeded")
NOT_WRITABLE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system", "Permission denied": "permission denied",
                "Read-only file system": "read-only file system"}


def write_failure(exc: BaseException, folder: Path, doing: str, choose: str, kept: str = "") -> LoadError | None:
    """The one line for a write that the disk or the folder refused: what happened, where, and what
    to do (docs/operations.md#when-a-write-is-refused); None for any other failure. `folder`: where
    the command writes; `doing`: what it was doing; `choose`: the option to change; `kept`: what
    was left as it was."""
    text, code, named = str(exc), getattr(exc, "errno", None), getattr(exc, "filename", None)
    # A file that is there but cannot be written (another user's lock file) is named itself; else its folder.
    if named and Path(named).is_file():
        where = str(named)
    else:
        where = str(Path(named).parent if named else folder).rstrip("/") + "/"
    if code in NO_SPACE or any(words in text for words in NO_SPACE if isinstance(words, str)):
        return LoadError(f"no space left on the disk holding {where} while {doing}{kept}; free space and try again")
    reason = NOT_WRITABLE.get(code) or next((said for words, said in NOT_WRITABLE.items()
                                             if isinstance(words, str) and words in text), None)
    if reason is None:
        return None
    return LoadError(f"cannot write to {where}: {reason}{kept}; {choose}")


def warehouse_file(db: Path) -> Path:
    """The warehouse file itself, when `db` is (or passes through) a symbolic link: the lock, the
    building file and the swap all happen beside it, so a link stays a link to the new build and
    every name of one warehouse shares one lock (docs/operations.md#a-warehouse-behind-a-link)."""
    return Path(db).resolve()


@contextmanager
def load_lock(db: Path) -> Iterator[None]:
    real = warehouse_file(db)
    lock_path = real.with_name(real.name + ".lock")
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadError(f"{db}: another load into this warehouse is running; try again when it ends") from None
        yield


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reader_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of a reader connection, reading the attached warehouse (a cursor starts in the
    in-memory default database)."""
    cursor = con.cursor()
    cursor.execute(f"USE {WAREHOUSE}")
    return cursor


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """One value. (DuckDB 2 keeps a half-fetched execute() result open, so fetch it all.)"""
    return con.sql(sql, params=params).fetchall()[0][0]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ingest(paths: list[Path], db: Path, *, extract_date: dt.date | None = None,
           settings: Settings | None = None, profile: MappingProfile | None = None,
           drop_identifiers: bool = False, pseudonymise_key: str | None = None,
           named_clinicians: bool = False, memory_limit: int | None = None,
           on_stage: Stage = _no_progress, on_progress: Progress = no_progress) -> LoadReport:
    """Load appointment logs into the warehouse at `db` and build every model again (or update the
    clients the load touched, when that is all that changed), atomically.

    A value that looks like a direct identifier, in any column, refuses the load; with
    `pseudonymise_key`, client and therapist ids are replaced by keyed pseudonyms instead of
    checked. `named_clinicians`: names in therapist_id are allowed
    (docs/loading/identifiers.md#named-clinicians). `memory_limit` (bytes, default
    pipelines.memory.default_memory_limit): what the build may use before it spills to disk.
    `on_progress`: how far reading and validating have got (pipelines.staging.Progress)."""
    settings = settings or Settings()
    key = check_key(pseudonymise_key) if pseudonymise_key is not None else None
    db = Path(db)
    if not paths:
        raise LoadError("no input files given")
    seen: set[Path] = set()
    for path in paths:
        if Path(path).resolve() in seen:
            raise LoadError(f"{path}: given twice in one load")
        seen.add(Path(path).resolve())
    if db.exists() and db.is_dir():
        raise LoadError(f"{db}: is a directory; give a warehouse file path such as clinic.duckdb")
    if not warehouse_file(db).parent.exists():
        raise LoadError(f"{db}: folder {warehouse_file(db).parent} does not exist")

    return _replace(db, lambda building, limit: _build(
        building, limit, db, paths, extract_date, settings, on_stage, on_progress,
        dict(profile=profile, drop_identifiers=drop_identifiers, key=key, named_clinicians=named_clinicians)),
        on_stage, memory_limit)


def rebuild(db: Path, *, settings: Settings | None = None, memory_limit: int | None = None,
            on_stage: Stage = _no_progress) -> RebuildReport:
    """Rebuild every model of the warehouse at `db` from the loads it holds, with no new file:
    after an upgrade (a file built by an older version), or to apply other thresholds. The
    extract date, and the thresholds unless `settings` are given, stay those of the build."""
    db = Path(db)
    if not db.is_file():
        raise LoadError(f"{db}: no warehouse here to rebuild; load data with "
                        f"`clinic-outcomes ingest FILE... --db {db}`")
    return _replace(db, lambda building, limit: _rebuild(building, limit, db, settings, on_stage), on_stage,
                    memory_limit)


T = TypeVar("T")


def _replace(db: Path, build: Callable[[Path, int], T], on_stage: Stage, memory_limit: int | None) -> T:
    """Build a new warehouse file beside `db` (the file a link points at) and swap it in
    atomically, under the load lock."""
    real = warehouse_file(db)
    limit = memory_limit or default_memory_limit()
    try:
        return _replace_under_lock(db, real, lambda building: build(building, limit), on_stage)
    except (OSError, duckdb.Error) as exc:
        # The build-beside-and-rename leaves the warehouse as it was whatever fails before the rename.
        kept = "; the warehouse was left as it was" if real.exists() else "; no warehouse was made"
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise LoadError(f"{db}: the build needed more memory than --memory-limit allows ({human_size(limit)}), "
                            f"even spilling to disk{kept}; give a larger --memory-limit "
                            "(docs/operations.md#disk-and-memory)") from None
        failure = write_failure(exc, real.parent, "building the warehouse",
                                "choose a --db in a folder you can write to", kept)
        if failure is None:
            raise
        raise failure from None


def _replace_under_lock(db: Path, real: Path, build: Callable[[Path], T], on_stage: Stage) -> T:
    with load_lock(db):
        # Holding the lock, any other build file (or its spill folder) is a leftover of a killed load.
        for stale in real.parent.glob(f".{real.name}.building-*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        building = real.with_name(f".{real.name}.building-{uuid.uuid4().hex[:12]}")
        try:
            result = build(building)
            on_stage("swapping in the new warehouse")
            if real.exists():  # a `chmod 600` on the warehouse holds across loads
                os.chmod(building, stat.S_IMODE(real.stat().st_mode))
            _fsync(building)
            os.replace(building, real)
            _fsync(real.parent)
        finally:
            for leftover in (building, building.with_name(building.name + ".wal")):
                leftover.unlink(missing_ok=True)
            for folder in (spill_folder(building), staging_folder(building)):
                shutil.rmtree(folder, ignore_errors=True)
    return result


def _build(building: Path, memory_limit: int, previous: Path, paths: list[Path], extract_date: dt.date | None,
           settings: Settings, on_stage: Stage, on_progress: Progress, reading: dict) -> LoadReport:
    on_stage("reading the files")
    staged = stage_files(paths, staging_folder(building), memory_limit=memory_limit, progress=on_progress,
                         measures=settings.measures, **reading)
    # The previous build, when a load may update it in place of building every model again
    # (docs/operations.md#incremental-loads): then the new file starts as a copy of it.
    before = _updatable_build(previous, settings, extract_date, staged.clients) if previous.exists() else None
    if before is not None:
        on_stage("copying the warehouse")
        try:
            shutil.copyfile(warehouse_file(previous), building)
        except OSError as exc:  # (a full disk is the folder's, not the warehouse file's that was read)
            raise OSError(exc.errno, exc.strerror) from None
    con = build_connection(building, memory_limit)
    loaded = building.with_name(building.name + ".loaded")
    try:
        if before is not None:
            latest = int(_scalar(con, "SELECT coalesce(max(load_id), 0) FROM loads"))
        else:
            latest = _carry_over_previous(con, previous)[0] if previous.exists() else _create_tables(con)
        load_id = latest + 1

        on_stage("validating rows")
        per_file = load_staged(con, staged, extract_date, load_id, on_progress)
        shutil.rmtree(staged.folder, ignore_errors=True)
        on_stage("loading appointments")
        # The earlier rows this load's rows replace (an appointment_id is in the warehouse once: each
        # load's rows replace earlier ones), and the clients it touches: those of its rows, and of
        # the rows they replace.
        con.execute(f"""CREATE TEMP TABLE replaced_rows AS
            SELECT n.source_file, a.client_id FROM appointments AS n JOIN appointments AS a USING (appointment_id)
            WHERE n.load_id = {load_id} AND a.load_id < {load_id}""")
        con.execute(f"""CREATE TEMP TABLE changed_clients AS
            SELECT client_id FROM appointments WHERE load_id = {load_id}
            UNION SELECT client_id FROM replaced_rows""")
        changed = int(_scalar(con, "SELECT count(*) FROM changed_clients"))
        replaced = con.sql("""SELECT source_file, count(*) AS rows_replacing_earlier FROM replaced_rows
                              GROUP BY source_file""").pl()
        if load_id > 1:  # a first load has nothing to replace
            con.execute(f"""DELETE FROM appointments WHERE load_id < {load_id} AND appointment_id IN (
                SELECT appointment_id FROM appointments WHERE load_id = {load_id})""")
            # Issues of rows that this load replaced no longer describe anything in the warehouse.
            con.execute("""DELETE FROM data_issues WHERE NOT EXISTS (
                SELECT 1 FROM appointments a WHERE a.appointment_id = data_issues.appointment_id
                AND a.load_id = data_issues.load_id)""")

        effective_date, source = _extract_date(con, extract_date)
        incremental = before is not None and _only_a_few_clients_changed(con, before, effective_date, source,
                                                                          changed)
        if before is not None and not incremental:
            # Every model is built again, from a file of its own: the copy's models go with it.
            con.close()
            os.replace(building, loaded)
            con = build_connection(building, memory_limit)
            _carry_over_previous(con, loaded)
        build_id = _models(con, settings, effective_date, source, load_id, on_stage, incremental)

        per_file = per_file.join(replaced, on="source_file", how="left").with_columns(
            pl.col("rows_replacing_earlier").fill_null(0).cast(pl.Int64))
        con.register("per_file", per_file)
        con.execute(f"""INSERT INTO loads BY NAME SELECT {load_id} AS load_id, now()::TIMESTAMP AS loaded_at,
                        ?::DATE AS extract_date, * FROM per_file""", [extract_date])
        episodes = _episode_counts(con)
        quarantine_reasons = con.sql(f"""
            SELECT reason, count(*) AS rows FROM quarantine WHERE load_id = {load_id}
            GROUP BY reason ORDER BY rows DESC, reason""").pl()
        data_issue_fields = con.sql(f"""
            SELECT field, reason, count(*) AS rows FROM data_issues WHERE load_id = {load_id}
            GROUP BY field, reason ORDER BY rows DESC, field, reason""").pl()
        con.execute("CHECKPOINT")
    finally:
        con.close()
        loaded.unlink(missing_ok=True)
        loaded.with_name(loaded.name + ".wal").unlink(missing_ok=True)
    return LoadReport(
        load_id=load_id, build_id=build_id, warehouse=str(previous), extract_date=effective_date,
        extract_date_source=source, per_file=per_file,
        quarantine_reasons=quarantine_reasons, data_issue_fields=data_issue_fields,
        dropped_columns=staged.dropped_columns, ignored_columns=staged.ignored_columns,
        episodes=episodes, profiles_from_content=staged.profiles_from_content, incremental=incremental,
        clients_updated=changed if incremental else 0,
    )


# A load updates only the clients it touches when they are at most this share of the warehouse's
# clients (docs/operations.md#incremental-loads); beyond it, building every model again is as quick.
INCREMENTAL_SHARE = 0.25


@functools.cache
def models_hash() -> str:
    """This version's models: its SQL of every model and macro, and its layout version. A load may
    update a build in place of building every model again only when that build has the same."""
    digest = hashlib.sha256(f"{SCHEMA_VERSION}\n".encode())
    for name in (*MODELS, *MACROS, *SUMMARIES):
        digest.update(f"{name}\n{model_sql(name)}\n".encode())
    return digest.hexdigest()


def _updatable_build(previous: Path, settings: Settings, extract_date: dt.date | None,
                     clients: int) -> dict[str, object] | None:
    """The previous build's settings row when a load of rows of `clients` clients may update it in
    place: built by these models with these thresholds, for the same extract date if one is given,
    and few clients touched; None when every model must be built again. (The load's own extract
    date and the clients its rows replace are known only once its rows are in: then
    _only_a_few_clients_changed decides again.)"""
    try:
        con = connect(previous)
    except LoadError:
        return None  # an older layout, or not a warehouse: the full build says which
    try:
        before = _settings_row(con, "settings", previous)
        stored = _scalar(con, "SELECT count(DISTINCT client_id) FROM appointments")
        measures = stored_catalogue(con)
    finally:
        con.close()
    same_settings = (all(before.get(name) == value for name, value in settings.as_dict().items())
                     and measures == settings.measures)
    same_date = (before.get("extract_date") == extract_date if extract_date is not None
                 else before.get("extract_date_source") != "given")
    if before.get("models_hash") != models_hash() or not same_settings or not same_date:
        return None
    return before if clients <= INCREMENTAL_SHARE * stored else None


def _only_a_few_clients_changed(con: duckdb.DuckDBPyConnection, before: dict[str, object],
                                extract_date: dt.date | None, source: str, changed: int) -> bool:
    """Whether this load's models may be updated for the `changed` clients it touches alone: the
    extract date stayed the same (every episode's status and every duration reads it), and few
    clients changed."""
    if (before.get("extract_date"), before.get("extract_date_source")) != (extract_date, source):
        return False
    return changed <= INCREMENTAL_SHARE * _scalar(con, "SELECT count(DISTINCT client_id) FROM appointments")


def spill_folder(building: Path) -> Path:
    """Where a build spills what does not fit its memory limit: beside the file being built, on the
    warehouse's disk, removed with it."""
    return building.with_name(building.name + ".spill")


def build_connection(building: Path, memory_limit: int) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the file being built, held to `memory_limit` bytes
    (docs/operations.md#disk-and-memory) and spilling beyond it into spill_folder."""
    con = duckdb.connect(str(building))
    hold_to(con, memory_limit, spill_folder(building))
    return con


def _create_tables(con: duckdb.DuckDBPyConnection) -> int:
    """The empty source tables of a first build; returns the latest load id so far (0)."""
    for table, ddl in TABLES_DDL.items():
        con.execute(f"CREATE TABLE {table} ({ddl})")
    return 0


def _carry_over_previous(con: duckdb.DuckDBPyConnection, previous: Path) -> tuple[int, dict[str, object]]:
    """Copy the previous build's source tables in; returns its latest load id and settings row."""
    try:
        con.execute(f"ATTACH {_quote(str(previous))} AS previous (READ_ONLY)")
        tables = {r[0] for r in con.sql(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'previous'").fetchall()}
    except duckdb.Error as exc:
        raise LoadError(f"{previous}: exists but is not a DuckDB warehouse ({str(exc).splitlines()[0]})") from None
    missing = {*TABLES_DDL, "settings"} - tables - set(HISTORY_TABLES)
    if missing:
        raise LoadError(f"{previous}: exists but is not a clinic-outcomes warehouse "
                        f"(no {', '.join(sorted(missing))} table); choose another --db path")
    settings = _settings_row(con, "previous.settings", previous)
    if _schema_version(settings) > SCHEMA_VERSION:  # its tables may hold what this version would drop
        raise LoadError(f"{previous}: built by a newer clinic-outcomes ({settings.get('tool_version')}); "
                        "upgrade clinic-outcomes before loading into it")
    _create_tables(con)
    for table in TABLES_DDL:
        if table in tables:
            con.execute(f"INSERT INTO {table} BY NAME SELECT {_carried_columns(con, table)} FROM previous.{table}")
    latest = _scalar(con, "SELECT coalesce(max(load_id), 0) FROM previous.loads")
    settings["measures"] = stored_catalogue(con, "previous")
    con.execute("DETACH previous")
    return int(latest), settings


# The score columns of a warehouse built before the measure catalogue (layout 6 and older).
_OLD_SCORE_COLUMNS = ("phq9", "gad7", "core10", "ors", "srs")


def _carried_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """What a table of the previous build is copied as: itself, or, for the appointments of a build
    from before the measure catalogue, with its score columns as the list of scores."""
    columns = {r[0] for r in con.sql(f"""
        SELECT column_name FROM duckdb_columns()
        WHERE database_name = 'previous' AND table_name = {_quote(table)}""").fetchall()}
    if table != "appointments" or "scores" in columns:
        return "*"
    return scores_as_list({m: m for m in _OLD_SCORE_COLUMNS})


def stored_catalogue(con: duckdb.DuckDBPyConnection, database: str | None = None) -> tuple[Measure, ...]:
    """The measure catalogue a build was made with: its measures table, or the built-in measures
    for a build from before the catalogue."""
    where = f"database_name = {_quote(database)} AND " if database else "database_name = current_database() AND "
    has = _scalar(con, f"""SELECT count(*) FROM duckdb_columns()
                           WHERE {where}table_name = 'measures' AND column_name = 'label'""")
    if not has:
        return tuple(BUILT_IN.values())
    table = f"{database}.measures" if database else "measures"
    return tuple(Measure(*row) for row in con.sql(f"""
        SELECT measure, label, lowest, highest, is_integer, is_higher_better, caseness_threshold, reliable_change
        FROM {table} ORDER BY position""").fetchall())


def _write_catalogue(con: duckdb.DuckDBPyConnection, measures: tuple[Measure, ...]) -> None:
    """The measures table (docs/metrics/measures.md): one row per measure of the build's catalogue,
    in its order."""
    rows = pl.DataFrame(
        [(i, m.name, m.label, float(m.lowest), float(m.highest), m.integer, m.higher_is_better,
          float(m.clinical_cutoff), m.reliable_change) for i, m in enumerate(measures)],
        schema={"position": pl.Int32, "measure": pl.String, "label": pl.String, "lowest": pl.Float64,
                "highest": pl.Float64, "is_integer": pl.Boolean, "is_higher_better": pl.Boolean,
                "caseness_threshold": pl.Float64, "reliable_change": pl.Float64}, orient="row")
    con.register("catalogue", rows)
    try:
        con.execute("CREATE OR REPLACE TABLE measures AS SELECT * FROM catalogue")
    finally:
        con.unregister("catalogue")


def _rebuild(building: Path, memory_limit: int, previous: Path, settings: Settings | None, on_stage: Stage) -> RebuildReport:
    con = build_connection(building, memory_limit)
    try:
        latest_load_id, before = _carry_over_previous(con, previous)
        # The build's own thresholds (an older build lacks the newer ones: those take their default).
        settings = settings or Settings(**{f.name: before[f.name] for f in fields(Settings) if f.name in before})
        given = before["extract_date"] if before.get("extract_date_source") == "given" else None
        effective_date, source = _extract_date(con, given)
        build_id = _models(con, settings, effective_date, source, latest_load_id, on_stage)
        loads = _scalar(con, "SELECT count(*) FROM loads")
        appointments = _scalar(con, "SELECT count(*) FROM appointments")
        episodes = _episode_counts(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return RebuildReport(warehouse=str(previous), build_id=build_id,
                         previous_tool_version=str(before.get("tool_version", "unknown")), loads=int(loads),
                         appointments=int(appointments), extract_date=effective_date, extract_date_source=source,
                         settings=settings, episodes=episodes)


# How the settings row stores each kind of setting.
_SQL_TYPES = {int: "INTEGER", float: "DOUBLE", str: "VARCHAR"}


def _models(con: duckdb.DuckDBPyConnection, settings: Settings, extract_date: dt.date | None,
            extract_date_source: str, latest_load_id: int, on_stage: Stage, incremental: bool = False) -> str:
    """The settings row, then every model and macro, then the build's flags in the history; returns
    the new build's id. `incremental`: the models are those of the previous build, copied, and only
    the rows of the clients in the temporary table changed_clients are computed again
    (_update_models)."""
    build_id = uuid.uuid4().hex
    con.execute("CREATE OR REPLACE TABLE settings AS SELECT ?::DATE AS extract_date, ? AS extract_date_source, "
                "? AS build_id, now()::TIMESTAMP AS built_at, ? AS tool_version, ?::INTEGER AS schema_version, "
                "?::INTEGER AS latest_load_id, ? AS models_hash, "
                + ", ".join(f"?::{_SQL_TYPES[type(v)]} AS {k}"
                            for k, v in settings.as_dict().items()),
                [extract_date, extract_date_source, build_id, __version__, SCHEMA_VERSION, latest_load_id,
                 models_hash(), *settings.as_dict().values()])
    if not incremental:  # (an incremental load has the same catalogue: _updatable_build)
        _write_catalogue(con, settings.measures)
    on_stage("deriving episodes")
    _derive_episodes(con, settings, incremental)
    if incremental:
        _update_models(con, on_stage)
    else:
        for model in MODELS:
            on_stage(f"building {model}")
            kind = ("VIEW" if model.startswith("staging/") else
                    "TEMP TABLE" if model in EPHEMERAL else "TABLE")
            con.execute(f"CREATE OR REPLACE {kind} {Path(model).name} AS {model_sql(model)}")
    for macro in MACROS:
        con.execute(model_sql(macro))
    for summary in SUMMARIES:  # (whole, after the models and macros they read: an incremental load's too)
        on_stage(f"building {summary}")
        con.execute(f"CREATE OR REPLACE TABLE {Path(summary).name} AS {model_sql(summary)}")
    on_stage("recording this build's flags")
    # Imported here: the alerts read the reports through pipelines.queries, which imports this module.
    from pipelines.alerts import record_flags

    record_flags(con)
    return build_id


def _update_models(con: duckdb.DuckDBPyConnection, on_stage: Stage) -> None:
    """Every model's rows of the changed clients, computed again from those clients' appointments
    alone, in place of their old rows (docs/operations.md#incremental-loads).

    Each model's SQL runs unchanged in a scratch database searched first, where `appointments` is a
    view of the changed clients' rows and each model, once computed, is a table of theirs: so every
    later model reads only those. Every model table has a client_id column, by which its rows are
    replaced, and works per client, which is what makes this equal to building it whole
    (tests/test_incremental_load.py compares the two, table by table). The measures table is the
    catalogue's, the same (_updatable_build); SUMMARIES are built whole afterwards (_models)."""
    build = '"' + _scalar(con, "SELECT current_database()").replace('"', '""') + '"'
    con.execute("ATTACH ':memory:' AS incremental")
    try:
        con.execute("CREATE TABLE incremental.main.changed_clients AS SELECT client_id FROM temp.main.changed_clients")
        con.execute(f"""CREATE VIEW incremental.main.appointments AS SELECT * FROM {build}.main.appointments
                        WHERE client_id IN (SELECT client_id FROM incremental.main.changed_clients)""")
        con.execute(f"SET search_path = {_quote(f'incremental.main,{build}.main')}")
        for model in MODELS:
            on_stage(f"updating {model}")
            name = Path(model).name
            kind = "VIEW" if model.startswith("staging/") else "TABLE"
            con.execute(f"CREATE {kind} incremental.main.{name} AS {model_sql(model)}")
            if kind == "VIEW" or model in EPHEMERAL:
                continue
            con.execute(f"""DELETE FROM {build}.main.{name}
                            WHERE client_id IN (SELECT client_id FROM incremental.main.changed_clients)""")
            con.execute(f"INSERT INTO {build}.main.{name} SELECT * FROM incremental.main.{name}")
    finally:
        con.execute("RESET search_path")
        con.execute("DETACH incremental")


def _settings_row(con: duckdb.DuckDBPyConnection, table: str, db: Path) -> dict[str, object]:
    rows = con.sql(f"SELECT * FROM {table}").pl()
    if rows.height != 1:
        raise LoadError(f"{db}: not a clinic-outcomes warehouse ({rows.height} settings rows, not one)")
    return rows.row(0, named=True)


def _schema_version(settings: dict[str, object]) -> int:
    """The layout version a settings row records; 1 for a build from before versions were recorded."""
    version = settings.get("schema_version")
    return version if isinstance(version, int) else 1


def _episode_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = dict(con.sql("SELECT status, count(*) FROM episodes GROUP BY status").fetchall())
    return {k: int(counts.get(k, 0)) for k in ("not_started", "open", "closed")}


def _extract_date(con: duckdb.DuckDBPyConnection, given: dt.date | None) -> tuple[dt.date | None, str]:
    """The extract date (docs/metrics/episodes.md#extract-date): the latest load's --extract-date,
    else the latest non-scheduled appointment date."""
    if given is not None:
        return given, "given"
    latest = _scalar(con, "SELECT max(CAST(appointment_date AS DATE)) FROM appointments WHERE status <> 'scheduled'")
    return latest, "latest appointment"


def _derive_episodes(con: duckdb.DuckDBPyConnection, settings: Settings, incremental: bool = False) -> None:
    """Episode ids for the appointments that came without one (docs/metrics/episodes.md), in the
    table derived_episodes; `incremental`: for the clients in changed_clients alone, in place of
    their old ones."""
    changed = " AND client_id IN (SELECT client_id FROM changed_clients)" if incremental else ""
    rows = con.sql(f"""
        SELECT appointment_id, client_id, appointment_date AS appointment_at,
               CAST(appointment_date AS DATE) AS appointment_date,
               status = 'attended' AS is_attended_status, discharge_date
        FROM appointments WHERE episode_id IS NULL{changed}""").pl()
    derived = derive_episode_ids(rows, settings.episode_gap_days)
    con.register("derived", derived)
    if incremental:
        con.execute("""DELETE FROM derived_episodes WHERE appointment_id IN (SELECT appointment_id FROM appointments
                       WHERE client_id IN (SELECT client_id FROM changed_clients))""")
        con.execute("INSERT INTO derived_episodes SELECT * FROM derived")
    else:
        con.execute("CREATE TABLE derived_episodes AS SELECT * FROM derived")
    con.unregister("derived")


# The catalog name readers attach the warehouse under (cursors must `USE` it: see reader_cursor).
WAREHOUSE = "warehouse"


def connect(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, locked-down connection to a built warehouse, with a one-line error when
    there is none.

    The file is attached read-only to a fresh in-memory database rather than opened with
    duckdb.connect(path): DuckDB's Python client reuses a database it already has open for the
    same path, so after a load swapped the file in, a new connect(path) would still read the
    replaced build. Once attached, the connection can read the warehouse and nothing else: no
    files, no network, no extensions, and the settings locked so no statement can turn them on."""
    db = Path(db)
    if not db.is_file():
        raise LoadError(f"{db}: no warehouse here yet; load data first with "
                        f"`clinic-outcomes ingest FILE... --db {db}`")
    try:
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False})
        # The file itself, not a link to it: the build a load swapped in, whichever name it was given.
        con.execute(f"ATTACH ? AS {WAREHOUSE} (READ_ONLY)", [str(warehouse_file(db))])
        con.execute(f"USE {WAREHOUSE}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        settings = _settings_row(con, "settings", db)
    except duckdb.Error as exc:
        raise LoadError(f"{db}: not a clinic-outcomes warehouse ({str(exc).splitlines()[0]})") from None
    version, built_by = _schema_version(settings), settings.get("tool_version", "unknown")
    if version != SCHEMA_VERSION:
        con.close()
        if version < SCHEMA_VERSION:
            raise LoadError(f"{db}: built by an older clinic-outcomes ({built_by}); rebuild it from the loads "
                            f"it holds with `clinic-outcomes rebuild --db {db}`")
        raise LoadError(f"{db}: built by a newer clinic-outcomes ({built_by}); upgrade clinic-outcomes to read it")
    return con
