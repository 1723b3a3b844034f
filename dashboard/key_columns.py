"""Key columns first (docs/dashboard.md#accessibility): a phone (390 px) shows a table's first three or four
columns, so each row-level or per-unit table leads with the columns that say who or what the row is and
what to act on; the rest follow in the report's order."""

from __future__ import annotations

import polars as pl

# table -> its key columns, in order (a column the frame lacks is skipped)
KEY_COLUMNS = {
    "risk_followup_gaps": ("client_id", "days_since", "therapist_id", "risk_date", "item9"),
    "attendance_by_clinic": ("clinic_id", "rate", "flag", "adjusted_flag"),
    "plateaued_episodes": ("client_id", "sessions_after_plateau", "therapist_id", "status"),
    "long_engagements": ("client_id", "attended_sessions", "duration_days", "therapist_id", "status"),
    "episodes": ("client_id", "episode_id", "status", "therapist_id"),
    "waits_by_clinic": ("clinic_id", "rate_within_6_weeks", "rate_within_18_weeks", "dropout_rate"),
}


def key_first(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The frame with `table`'s key columns first; the same rows, in the same order."""
    keys = [column for column in KEY_COLUMNS[table] if column in frame.columns]
    return frame.select(*keys, pl.exclude(keys))
