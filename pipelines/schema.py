"""The appointment row after parsing, declared once (docs/loading/input.md, docs/loading/load-report.md).

validate.py parses the text columns into these types; a row that breaks a rule here is a
*row problem* and goes to quarantine. Field problems on optional columns were already turned
into nulls (and data issues) before this check, so their bounds here are guarantees.
"""

from __future__ import annotations

import dataframely as dy
import polars as pl

from pipelines.codes import DISCHARGE_REASONS, SESSION_TYPES, STATUSES


class Appointment(dy.Schema):
    row_key = dy.Int64(nullable=False)
    appointment_id = dy.String(nullable=False)
    client_id = dy.String(nullable=False)
    therapist_id = dy.String(nullable=False)
    clinic_id = dy.String(nullable=False)
    appointment_date = dy.Datetime(nullable=False, time_unit="us")
    status = dy.Enum(STATUSES, nullable=False)
    episode_id = dy.String(nullable=True)
    session_type = dy.Enum(SESSION_TYPES, nullable=True)
    phq9_item9 = dy.Int16(nullable=True, min=0, max=3)
    # The scores on each measure (score__phq9, ...) travel beside this schema: which measures there
    # are is the catalogue's to say (docs/metrics/measures.md), and each was checked against its
    # range as it was parsed.
    referral_date = dy.Date(nullable=True)
    discharge_date = dy.Date(nullable=True)
    discharge_reason = dy.Enum(DISCHARGE_REASONS, nullable=True)
    source_file = dy.String(nullable=False)
    source_line = dy.Int64(nullable=False)
    # Load context, dropped after validation: the load's extract date (if given) and whether
    # the row's file had an episode_id column (then an empty episode_id is a row problem).
    extract_date = dy.Date(nullable=True)
    episode_id_required = dy.Bool(nullable=False)

    @dy.rule()
    def attended_not_after_extract_date(cls) -> pl.Expr:
        return (
            (pl.col("status") != "attended")
            | pl.col("extract_date").is_null()
            | (pl.col("appointment_date").dt.date() <= pl.col("extract_date"))
        )

    @dy.rule()
    def episode_id_present_when_column_given(cls) -> pl.Expr:
        return ~pl.col("episode_id_required") | pl.col("episode_id").is_not_null()


LOAD_CONTEXT_COLUMNS = ("extract_date", "episode_id_required")
