"""The follow-up log (docs/security.md#the-follow-up-log): what staff did about a client on the
Safety page's worklist, one entry per action, in a small SQLite file of its own beside the warehouse.

The warehouse stays read-only to the dashboard and is replaced whole by every load; the log is
neither, so it lives apart, and a load never touches it. It is append-only in the file itself
(triggers refuse UPDATE and DELETE), and each write is one short IMMEDIATE transaction with a busy
timeout in WAL mode, so two dashboard processes can write at once.

Access is checked on the server for every read and write: an episode is the reader's to log (or to
see entries of) only when the reader, restricted to the clinics of the signed-in user, returns it
from the warehouse (sql/reports/risk_episode.sql).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.errors import AccessDenied, LoadError
from pipelines.identifiers import JUDGED_ON_THE_COLUMN, looks_like
from pipelines.queries import MetricsReader, Scope

LOG_ENV = "CLINIC_OUTCOMES_FOLLOWUP_LOG"
SUFFIX = ".followup.sqlite"
# outcome code -> words shown; the order of the form
OUTCOMES = {"followed_up": "followed up", "could_not_reach": "could not reach", "not_needed": "not needed"}
# The outcomes that take a row off "needs action" for the disclosure they answer (docs/dashboard.md#safety):
# "could not reach" leaves it on, someone must try again.
CLEARS = ("followed_up", "not_needed")
NOTE_LIMIT = 500  # characters
WHO_LIMIT = 200
VERIFIED = "verified e-mail"  # who_kind: the signed-in user's address, confirmed by the identity provider
NAME_GIVEN = "name given, open access"  # who_kind: typed by the person, no sign-in to confirm it
BUSY_TIMEOUT_SECONDS = 10

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS followup_log (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    clinic_id TEXT NOT NULL,
    risk_date TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ({", ".join(f"'{code}'" for code in OUTCOMES)})),
    note TEXT NOT NULL CHECK (length(note) <= {NOTE_LIMIT}),
    recorded_by TEXT NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND {WHO_LIMIT}),
    who_kind TEXT NOT NULL CHECK (who_kind IN ('{VERIFIED}', '{NAME_GIVEN}')),
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS followup_log_episode ON followup_log (client_id, episode_id);
CREATE TRIGGER IF NOT EXISTS followup_log_no_update BEFORE UPDATE ON followup_log
BEGIN SELECT RAISE(ABORT, 'the follow-up log is append-only: add an entry instead'); END;
CREATE TRIGGER IF NOT EXISTS followup_log_no_delete BEFORE DELETE ON followup_log
BEGIN SELECT RAISE(ABORT, 'the follow-up log is append-only: entries are never deleted'); END;
"""
COLUMNS = ("entry_id", "client_id", "episode_id", "clinic_id", "risk_date", "outcome", "note", "recorded_by",
           "who_kind", "recorded_at")
SCHEMA_TYPES = {"entry_id": pl.Int64, "client_id": pl.String, "episode_id": pl.String, "clinic_id": pl.String,
                "risk_date": pl.Date, "outcome": pl.String, "note": pl.String, "recorded_by": pl.String,
                "who_kind": pl.String, "recorded_at": pl.Datetime("us", "UTC")}


def log_path(db: Path) -> Path:
    """Where the log of the warehouse `db` lives: $CLINIC_OUTCOMES_FOLLOWUP_LOG, or beside it."""
    return Path(os.environ.get(LOG_ENV) or f"{db}{SUFFIX}")


def identifiers_in_note(note: str) -> list[str]:
    """The kinds of direct identifier a note seems to hold (e-mail address, NHS number, phone …)."""
    masks = looks_like(pl.Series([note], dtype=pl.String))
    return [kind for kind, mask in masks.items() if kind not in JUDGED_ON_THE_COLUMN and mask[0]]


@dataclass(frozen=True)
class Entry:
    client_id: str
    episode_id: str
    outcome: str
    note: str
    recorded_by: str
    who_kind: str


class FollowupLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        # A new log is its owner's alone (it holds staff's notes); SQLite gives its -wal and -shm
        # files the same permissions.
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def _ensure(self, con: sqlite3.Connection) -> None:
        con.executescript(SCHEMA)

    def record(self, reader: MetricsReader, entry: Entry, now: dt.datetime | None = None) -> dt.datetime:
        """Append one entry, after checking on the warehouse that the reader may see the episode.
        Returns its UTC timestamp. Raises AccessDenied (not the reader's episode) or LoadError (a
        value the log refuses), with one line saying why."""
        if entry.outcome not in OUTCOMES:
            raise LoadError(f"{entry.outcome!r} is not a follow-up outcome ({', '.join(OUTCOMES.values())})")
        if len(entry.note) > NOTE_LIMIT:
            raise LoadError(f"the note has {len(entry.note):,} characters; the limit is {NOTE_LIMIT}")
        if found := identifiers_in_note(entry.note):
            raise LoadError(f"the note seems to hold a direct identifier ({', '.join(found)}): the log must not "
                            "(docs/security.md#the-follow-up-log)")
        who = entry.recorded_by.strip()
        if not who or len(who) > WHO_LIMIT:
            raise LoadError(f"say who made this entry (1 to {WHO_LIMIT} characters)")
        episode = self._visible_episode(reader, entry.client_id, entry.episode_id)
        at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        try:
            with closing(self._connect()) as con:
                self._ensure(con)
                con.execute("BEGIN IMMEDIATE")
                con.execute(
                    "INSERT INTO followup_log (client_id, episode_id, clinic_id, risk_date, outcome, note, "
                    "recorded_by, who_kind, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [entry.client_id, entry.episode_id, episode["clinic_id"], episode["risk_date"].isoformat(),
                     entry.outcome, entry.note, who, entry.who_kind, at.isoformat(timespec="seconds")])
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LoadError(f"{self.path}: the follow-up log could not be written: {exc}") from None
        return at

    @staticmethod
    def _visible_episode(reader: MetricsReader, client_id: str, episode_id: str) -> dict[str, object]:
        rows = reader.run("risk_episode", Scope(), client_id=client_id, episode_id=episode_id)
        if rows.is_empty():
            raise AccessDenied("this episode is not one you may see, or it has no risk session; nothing was recorded")
        return rows.row(0, named=True)

    def entries(self, episodes: pl.DataFrame) -> pl.DataFrame:
        """Every entry of these episodes (client_id, episode_id: rows a scoped report returned to
        the reader, so only episodes the reader may see), oldest first."""
        empty = pl.DataFrame(schema=SCHEMA_TYPES)
        if episodes.is_empty() or not self.path.exists():
            return empty
        keys = episodes.select("client_id", "episode_id").unique()
        try:
            with closing(sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True,
                                         timeout=BUSY_TIMEOUT_SECONDS)) as con:
                if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'followup_log'").fetchall():
                    return empty  # an empty file: a first write that stopped before the table was made
                con.execute("CREATE TEMP TABLE wanted (client_id TEXT, episode_id TEXT)")
                con.executemany("INSERT INTO wanted VALUES (?, ?)", keys.iter_rows())
                rows = con.execute(
                    f"SELECT {', '.join('l.' + c for c in COLUMNS)} FROM followup_log AS l "
                    "JOIN wanted USING (client_id, episode_id) ORDER BY l.entry_id").fetchall()
        except sqlite3.Error as exc:
            raise LoadError(f"{self.path}: the follow-up log could not be read: {exc}") from None
        if not rows:
            return empty
        frame = pl.DataFrame(rows, schema={**SCHEMA_TYPES, "risk_date": pl.String, "recorded_at": pl.String},
                             orient="row")
        return frame.with_columns(pl.col("risk_date").str.to_date(),
                                  pl.col("recorded_at").str.to_datetime(time_unit="us", time_zone="UTC"))

    def history(self, reader: MetricsReader, client_id: str, episode_id: str) -> pl.DataFrame:
        """Every entry of one episode, after checking on the warehouse that the reader may see it."""
        episode = self._visible_episode(reader, client_id, episode_id)
        return self.entries(pl.DataFrame({"client_id": [episode["client_id"]], "episode_id": [episode["episode_id"]]}))


def with_latest_entry(rows: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """The worklist rows with their latest entry for their current disclosure (an entry about an
    earlier risk date does not answer a new one), and `needs_action`: no entry yet, or the latest
    is "could not reach"."""
    latest = (entries.sort("entry_id").group_by("client_id", "episode_id", "risk_date").last()
              .select("client_id", "episode_id", "risk_date", pl.col("outcome").alias("latest_outcome"),
                      pl.col("note").alias("latest_note"), pl.col("recorded_by").alias("latest_by"),
                      pl.col("recorded_at").alias("latest_at")))
    joined = rows.join(latest, on=["client_id", "episode_id", "risk_date"], how="left", maintain_order="left")
    return joined.with_columns(
        needs_action=~pl.col("latest_outcome").is_in(CLEARS).fill_null(False),
        latest_outcome=pl.col("latest_outcome").replace_strict(OUTCOMES, default=None))


def outcome_counts(rows: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """Worklist episodes by the outcome of their latest entry ("none yet" for no entry), one row
    per outcome in the form's order, for the board report: counts only."""
    latest = with_latest_entry(rows.select("client_id", "episode_id", "risk_date").unique(), entries)
    labels = [*OUTCOMES.values(), "none yet"]
    counted = latest.group_by(pl.col("latest_outcome").fill_null("none yet").alias("outcome")).len("episodes")
    return (pl.DataFrame({"outcome": labels}).join(counted, on="outcome", how="left", maintain_order="left")
            .with_columns(pl.col("episodes").fill_null(0).cast(pl.Int64)))
