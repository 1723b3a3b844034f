"""Nothing is silently lost (docs/loading/load-report.md).

Text rows from read.py become typed appointments, quarantined rows or merged duplicates,
and every row is counted in exactly one of those: rows_read = loaded + quarantined + merged.

    quarantine_refused_rows → merge_exact_duplicates → quarantine_conflicting_duplicates
        → parse_fields → check_rows

The duplicate rules look at the whole load at once (find_duplicates, on the rows whose
appointment_id repeats anywhere in it); every other rule looks at one row, so a load is
validated block by block (validate_block), as pipelines/staging.py reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from pipelines.codes import CODED_COLUMNS, DISCHARGE_REASONS, SESSION_TYPES, STATUSES
from pipelines.measures import BUILT_IN, Measure
from pipelines.read import INPUT_COLUMNS, QUARANTINE_REASON, REQUIRED_COLUMNS, MappingProfile
from pipelines.schema import LOAD_CONTEXT_COLUMNS, Appointment

# The PHQ-9's item 9 (thoughts of self-harm) is a risk flag, not a measure: (lowest, highest).
ITEM9_RANGE = (0, 3)
DATE_FIELDS = ("referral_date", "discharge_date")
# A loaded row's score on a measure, as validation hands it to the warehouse (which keeps a row's
# scores as one list, docs/architecture.md): `score__phq9`, ...
SCORE_PREFIX = "score__"

# The original values of a quarantined row: the canonical columns, and any score of a measure
# beyond them as `name=value` pairs in other_scores.
QUARANTINE_SCHEMA = {"source_file": pl.String, "source_line": pl.Int64, "reason": pl.String,
                     **{c: pl.String for c in INPUT_COLUMNS}, "other_scores": pl.String}
ISSUE_SCHEMA = {"source_file": pl.String, "source_line": pl.Int64, "appointment_id": pl.String,
                "field": pl.String, "value": pl.String, "reason": pl.String}
# A block of rows as validation takes it: the reader's columns, where each row came from, its key
# (its place in the whole load) and whether its file had an episode_id column.
RAW_SCHEMA = {"row_key": pl.Int64, **{c: pl.String for c in INPUT_COLUMNS}, "source_line": pl.Int64,
              QUARANTINE_REASON: pl.String, "source_file": pl.String, "episode_id_required": pl.Boolean}


@dataclass(frozen=True)
class Rules:
    """What every row of one load is read with: the value maps and date formats of the profiles its
    files were read with (one --mapping, or fhir-r4 chosen for FHIR files beside canonical ones),
    and the extract date."""

    synonyms: dict[str, dict[str, str]]
    date_formats: tuple[str, ...]
    extract_date: dt.date | None
    measures: tuple[Measure, ...] = tuple(BUILT_IN.values())


def more_scores(measures: tuple[Measure, ...]) -> tuple[str, ...]:
    """The catalogue's measures beyond the canonical columns: each is read as a column of its own."""
    return tuple(m.name for m in measures if m.name not in INPUT_COLUMNS)


def raw_schema(extra: tuple[str, ...] = ()) -> dict[str, pl.DataType]:
    """RAW_SCHEMA with a text column for each of the `extra` measures, after the canonical ones."""
    schema = dict(RAW_SCHEMA)
    position = list(schema).index("source_line")
    items = list(schema.items())
    return dict(items[:position] + [(m, pl.String) for m in extra] + items[position:])


def row_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of a raw frame that hold the row's own values: the canonical ones and the
    scores of any further measure."""
    return [c for c in frame.columns if c in INPUT_COLUMNS or c not in RAW_SCHEMA]


def originals(frame: pl.DataFrame) -> list[pl.Expr]:
    """A raw row's values as quarantine keeps them (QUARANTINE_SCHEMA's value columns)."""
    extra = [c for c in frame.columns if c not in RAW_SCHEMA]
    other = (pl.concat_str([pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c}=") + pl.col(c)) for c in extra],
                           separator="; ", ignore_nulls=True) if extra else pl.lit(""))
    return [*map(pl.col, INPUT_COLUMNS), pl.when(other != "").then(other).alias("other_scores")]


def load_rules(profiles: list[MappingProfile], extract_date: dt.date | None,
               measures: tuple[Measure, ...] = tuple(BUILT_IN.values())) -> Rules:
    synonyms = {column: dict(base) for column, base in CODED_COLUMNS.items()}
    for profile in profiles:
        for column, values in profile.values.items():
            synonyms[column].update(values)
    date_formats = tuple(dict.fromkeys(f for p in profiles for f in p.date_formats))
    return Rules(synonyms, date_formats, extract_date, measures)


@dataclass
class Duplicates:
    """The duplicate rules' verdict on a whole load: the rows merged into an earlier exact copy, and
    the conflicting rows quarantined (QUARANTINE_SCHEMA plus row_key)."""

    merged: pl.DataFrame  # row_key, source_file
    conflicting: pl.DataFrame


def find_duplicates(repeated: pl.DataFrame) -> Duplicates:
    """`repeated`: every row of the load (RAW_SCHEMA) that the reader did not refuse and whose
    non-empty appointment_id appears more than once among those."""
    merged_keys = merge_exact_duplicates(repeated)
    conflicting = quarantine_conflicting_duplicates(without_rows(repeated, merged_keys))
    merged = repeated.filter(pl.col("row_key").is_in(merged_keys.implode())).select("row_key", "source_file")
    return Duplicates(merged=merged, conflicting=conflicting)


@dataclass
class Validation:
    appointments: pl.DataFrame  # Appointment schema minus the load context columns
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: original text values, file, line, reason
    data_issues: pl.DataFrame  # ISSUE_SCHEMA: one row per field problem on a loaded row


def validate_block(raw: pl.DataFrame, rules: Rules, duplicates: Duplicates) -> Validation:
    """One block of a load's rows (RAW_SCHEMA), validated: every row ends loaded, quarantined or
    merged, as `duplicates` (the whole load's) decides for those whose id repeats."""
    refused = quarantine_refused_rows(raw)
    first, last = raw["row_key"].min(), raw["row_key"].max()
    here = pl.col("row_key").is_between(first, last) if raw.height else pl.lit(False)
    conflicting = duplicates.conflicting.filter(here)
    candidates = without_rows(without_rows(raw, refused["row_key"]),
                              pl.concat([duplicates.merged.filter(here)["row_key"], conflicting["row_key"]]))
    typed, field_issues = parse_fields(candidates, rules.synonyms, rules.extract_date, rules.date_formats,
                                       rules.measures)
    checked = Appointment.filter(typed)
    # (the schema's check keeps its own columns: the scores, one column per measure, are put back)
    scores = typed.select("row_key", pl.selectors.starts_with(SCORE_PREFIX))
    appointments = checked.result.drop(LOAD_CONTEXT_COLUMNS)
    appointments = (appointments.hstack(scores.drop("row_key")) if appointments["row_key"].equals(typed["row_key"])
                    else appointments.join(scores, on="row_key", how="left", maintain_order="left"))
    row_problems = describe_row_problems(checked.failure.details(), candidates, rules.date_formats)

    quarantine = pl.concat([refused, conflicting, row_problems]).sort("row_key")
    data_issues = (field_issues.join(appointments.select("row_key", "appointment_id"), on="row_key")
                   .sort("row_key", "field")
                   .select(ISSUE_SCHEMA.keys()))
    return Validation(appointments=appointments, quarantine=quarantine.select(QUARANTINE_SCHEMA.keys()),
                      data_issues=data_issues)


def without_rows(frame: pl.DataFrame, row_keys: pl.Series) -> pl.DataFrame:
    """The frame less the given rows; the same frame, not a copy, when there are none."""
    return frame.filter(~pl.col("row_key").is_in(row_keys.implode())) if len(row_keys) else frame


def quarantine_refused_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Rows the reader already refused, with its reason: a FHIR resource that is not an
    Appointment, a value the mapping profile quarantines (FHIR's entered-in-error)."""
    reason = pl.col(QUARANTINE_REASON)
    return raw.filter(reason.is_not_null()).select("row_key", "source_file", "source_line", *originals(raw),
                                                   reason.alias("reason"))


def merge_exact_duplicates(repeated: pl.DataFrame) -> pl.Series:
    """Row keys of exact copies (every column equal) of an earlier row; they are merged into it.
    `repeated`: the rows whose appointment_id repeats (find_duplicates)."""
    if repeated.is_empty():
        return pl.Series("row_key", [], dtype=pl.Int64)
    is_copy = ~pl.struct(row_columns(repeated)).is_first_distinct()
    return repeated.sort("row_key").filter(is_copy)["row_key"]


def quarantine_conflicting_duplicates(repeated: pl.DataFrame) -> pl.DataFrame:
    """Rows whose appointment_id still repeats once exact copies are merged; `repeated` holds
    every row whose id repeats among the rows kept."""
    repeated = repeated.filter(pl.col("appointment_id").is_duplicated())
    return repeated.select(
        "row_key", "source_file", "source_line", *originals(repeated),
        # The reason names no value from the row: reasons are counted and shown in shareable outputs,
        # where an id must not appear (docs/security.md#no-direct-identifiers).
        pl.format("conflicting duplicate: its appointment_id appears {} times with different values",
                  pl.len().over("appointment_id")).alias("reason"),
    )


def parse_datetime(text: pl.Expr) -> pl.Expr:
    """ISO 8601 date or date-time; a zone suffix (Z, +01:00) is dropped: the clinic's wall clock
    date is the appointment's date."""
    wall = text.str.replace(
        r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:Z|[+-]\d{2}(?::?\d{2})?)?$",
        "${1}T${2}")
    full = (pl.when(wall.str.len_chars() == 10).then(wall + "T00:00:00")
            .when(wall.str.len_chars() == 16).then(wall + ":00")
            .otherwise(wall))
    return full.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")


def parse_datetime_column(text: pl.Series, date_formats: tuple[str, ...] = (), dates: bool = False) -> pl.Series:
    """parse_datetime, with a fast path: most exports write one plain ISO shape, which parses
    directly; only the values that do not are normalised (zones, short times, dates). Values
    still unparsed are tried in a mapping profile's date formats (`01/05/2026`), in order.
    `dates`: a date column (referral, discharge), whose plain shape is a bare date: tried first."""
    if dates:
        parsed = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    else:
        parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
        if (parsed.is_null() & text.is_not_null()).any():
            parsed = parsed.fill_null(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
    parsers = [lambda t: pl.select(parse_datetime(pl.lit(t))).to_series()]
    parsers += [lambda t, f=f: t.str.to_datetime(f, strict=False, time_unit="us") for f in date_formats]
    for parse in parsers:
        unparsed = parsed.is_null() & text.is_not_null()
        if not unparsed.any():
            break
        rows = unparsed.arg_true()
        parsed = parsed.scatter(rows, parse(text.gather(rows)))
    return parsed


def date_shapes(date_formats: tuple[str, ...], iso: str) -> str:
    """What a date must be, for messages: `iso` ("an ISO 8601 date") unless a profile gave formats."""
    if not date_formats:
        return iso
    plural = "s" if len(date_formats) > 1 else ""
    return f"a date in the mapping profile's format{plural} ({', '.join(date_formats)}) or ISO 8601"


def code_column(text: pl.Series, synonyms: dict[str, str], categories: tuple[str, ...]) -> pl.Series:
    """Coded values (case-insensitive synonyms) as an Enum; null where a value is not a code.
    Exports mostly write one spelling, often already lower case: values are looked up as written
    first, and only those not found are lower-cased and looked up again (lower-casing ten million
    values costs more than the lookup)."""
    enum = pl.Enum(categories)
    coded = text.replace_strict(synonyms, default=None, return_dtype=enum)
    missed = coded.is_null() & text.is_not_null()
    if missed.any():
        rows = missed.arg_true()
        coded = coded.scatter(rows, text.gather(rows).str.to_lowercase().replace_strict(
            synonyms, default=None, return_dtype=enum))
    return coded


def parse_fields(rows: pl.DataFrame, synonyms: dict[str, dict[str, str]], extract_date: dt.date | None,
                 date_formats: tuple[str, ...] = (),
                 measures: tuple[Measure, ...] = tuple(BUILT_IN.values())) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed columns for the schema check, plus a score__NAME column per measure, and the field
    problems found on the way (long form).

    Row problems (a required value that does not parse) become nulls here and are caught by
    the schema's nullability rules; field problems become nulls plus a data issue. A measure
    the rows have no column for (a frame made without it, as some tests make theirs) has no
    scores."""
    rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(m.name) for m in measures
                             if m.name not in rows.columns)
    # (lowest, highest, whole numbers only) of each scored column
    ranges = {"phq9_item9": (*ITEM9_RANGE, True), **{m.name: (m.lowest, m.highest, m.integer) for m in measures}}
    # Stage 1: each value parsed once (its own column), so the rules below only compare.
    rows = rows.with_columns(
        code_column(rows["status"], synonyms["status"], STATUSES).alias("code__status"),
        code_column(rows["session_type"], synonyms["session_type"], SESSION_TYPES).alias("code__session_type"),
        code_column(rows["discharge_reason"], synonyms["discharge_reason"], DISCHARGE_REASONS)
        .alias("code__discharge_reason"),
        *(pl.col(m).cast(pl.Float64, strict=False).alias(f"number__{m}") for m in ranges),
        parse_datetime_column(rows["appointment_date"], date_formats).alias("parsed__appointment_date"),
        *(parse_datetime_column(rows[c], date_formats, dates=True).alias(f"parsed__{c}") for c in DATE_FIELDS),
    )

    status = pl.col("code__status")
    problems: dict[str, pl.Expr] = {}
    typed: dict[str, pl.Expr] = {}
    for measure, (lowest, highest, whole) in ranges.items():
        text, number = pl.col(measure), pl.col(f"number__{measure}")
        problem = (
            pl.when(text.is_null()).then(None)
            .when(number.is_null() | number.is_nan() | number.is_infinite()).then(pl.lit("not a number"))
            .when(pl.lit(whole) & (number != number.floor())).then(pl.lit("not a whole number"))
            .when((number < lowest) | (number > highest)).then(pl.lit(f"out of range {lowest:g}–{highest:g}"))
            .when(status != "attended").then(pl.lit("score on a row that is not attended; ignored"))
        )
        problems[measure] = problem
        value = pl.when(problem.is_null()).then(number)
        if measure == "phq9_item9":
            typed[measure] = value.cast(pl.Int16)
        else:
            typed[f"{SCORE_PREFIX}{measure}"] = value

    for column in DATE_FIELDS:
        parsed = pl.col(f"parsed__{column}").dt.date()
        problems[column] = pl.when(pl.col(column).is_not_null() & parsed.is_null()).then(
            pl.lit(f"not {date_shapes(date_formats, 'an ISO 8601 date')}"))
        typed[column] = parsed

    session_type = pl.col("code__session_type")
    problems["session_type"] = pl.when(pl.col("session_type").is_not_null() & session_type.is_null()).then(
        pl.lit("not a recognised session type"))
    typed["session_type"] = session_type

    # An unrecognised discharge reason is kept as `unknown` (docs/loading/input.md) and reported.
    reason = pl.col("code__discharge_reason")
    problems["discharge_reason"] = pl.when(pl.col("discharge_reason").is_not_null() & reason.is_null()).then(
        pl.lit("not a recognised discharge reason; counted as unknown"))
    typed["discharge_reason"] = pl.when(pl.col("discharge_reason").is_null()).then(None).otherwise(
        reason.fill_null("unknown"))

    parsed = rows.select(
        "row_key",
        *(pl.col(c) for c in ("appointment_id", "client_id", "therapist_id", "clinic_id")),
        pl.col("parsed__appointment_date").alias("appointment_date"),
        status.alias("status"),
        "episode_id",
        *(expr.alias(name) for name, expr in typed.items()),
        "source_file", "source_line",
        pl.lit(extract_date, dtype=pl.Date).alias("extract_date"),
        "episode_id_required",
        *(expr.alias(f"problem__{name}") for name, expr in problems.items()),
    )
    issues = pl.concat([
        parsed.filter(pl.col(f"problem__{field}").is_not_null()).select(
            "row_key", "source_file", "source_line", pl.lit(field).alias("field"),
            pl.col(f"problem__{field}").alias("reason"))
        for field in problems
    ]).join(rows.select("row_key", *problems), on="row_key")
    issues = issues.with_columns(
        pl.coalesce(pl.when(pl.col("field") == f).then(pl.col(f)) for f in problems).alias("value"))
    typed_rows = parsed.select(*Appointment.column_names(), pl.selectors.starts_with(SCORE_PREFIX))
    return typed_rows, issues


def describe_row_problems(details: pl.DataFrame, candidates: pl.DataFrame,
                          date_formats: tuple[str, ...] = ()) -> pl.DataFrame:
    """One reason line per quarantined row, from the schema rules it broke."""
    values = candidates.select("row_key", *originals(candidates))
    failed = details.select("row_key", "source_file", "source_line", pl.selectors.by_dtype(pl.Enum)
                            .exclude("status", "session_type", "discharge_reason"))
    failed = failed.join(values, on="row_key")
    messages = []
    for column in (*REQUIRED_COLUMNS, "episode_id"):
        rule = f"{column}|nullability"
        if rule not in failed.columns:
            continue
        message = pl.when(pl.col(column).is_null()).then(pl.lit(f"required column {column} is empty"))
        if column == "appointment_date":
            shapes = date_shapes(date_formats, "an ISO 8601 date or date-time")
            message = message.otherwise(pl.lit(f"appointment_date is not {shapes}"))
        elif column == "status":  # (the value itself stays in the row, never in its reason)
            message = message.otherwise(pl.lit("status is not a recognised status"))
        messages.append(pl.when(pl.col(rule) == "invalid").then(message))
    messages.append(pl.when(pl.col("attended_not_after_extract_date") == "invalid").then(
        pl.lit("attended appointment dated after the extract date")))
    messages.append(pl.when(pl.col("episode_id_present_when_column_given") == "invalid").then(
        pl.lit("required column episode_id is empty (the file has an episode_id column)")))
    return failed.select(
        "row_key", "source_file", "source_line", *INPUT_COLUMNS, "other_scores",
        pl.concat_str(messages, separator="; ", ignore_nulls=True).alias("reason"),
    )
