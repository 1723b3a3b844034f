"""What may leave the clinic: disclosure control (docs/security.md#disclosure-control) and
spreadsheet-safe CSV.

Disclosure control applies to exports marked for sharing outside the clinic (NHS Digital's rule):
counts of 1–7 show as `*`, other counts round to the nearest 5, and a rate resting on fewer than
8 episodes is withheld (`*`). A shareable table keeps only the columns named as keys, counts
and rates: anything else (a control limit, a mean) could give an exact small count away, so it
is dropped rather than passed through.

CSV downloads, internal or shared, neutralise cells that a spreadsheet would run as a formula
(a text cell beginning with =, +, -, @, a tab or a carriage return gets a leading apostrophe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SUPPRESSED = "*"
SMALL_COUNT_MAX = 7  # counts 1..7 are suppressed
ROUND_TO = 5
MIN_RATE_DENOMINATOR = 8
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Shareable:
    """Which columns of a table are identifying keys, counts, and rates (rate -> its denominator)."""

    keys: tuple[str, ...]
    counts: tuple[str, ...]
    rates: dict[str, str] = field(default_factory=dict)


def disclosed_count(column: str) -> pl.Expr:
    """0 stays 0, 1–7 become `*`, the rest round to the nearest 5 (n mod 5 is never a tie)."""
    n = pl.col(column)
    rounded = ((n / ROUND_TO).round(0) * ROUND_TO).cast(pl.Int64).cast(pl.String)
    return (pl.when(n.is_null()).then(None)
            .when((n >= 1) & (n <= SMALL_COUNT_MAX)).then(pl.lit(SUPPRESSED))
            .otherwise(rounded).alias(column))


def disclosed_rate(rate: str, denominator: str) -> pl.Expr:
    """The rate to four decimals, or `*` when it rests on fewer than 8 episodes."""
    return (pl.when(pl.col(denominator) < MIN_RATE_DENOMINATOR).then(pl.lit(SUPPRESSED))
            .when(pl.col(rate).is_null()).then(None)
            .otherwise(pl.col(rate).round(4).cast(pl.String)).alias(rate))


def shareable(frame: pl.DataFrame, spec: Shareable) -> pl.DataFrame:
    """The table with disclosure control applied; columns not named in `spec` are dropped."""
    missing = [c for c in (*spec.keys, *spec.counts, *spec.rates, *spec.rates.values()) if c not in frame.columns]
    if missing:
        raise ValueError(f"shareable: no column(s) {', '.join(missing)} in the table")
    # Rates are judged on the exact denominator, so they are computed before counts are rounded.
    return frame.select(
        *spec.keys,
        *(disclosed_count(c) for c in spec.counts),
        *(disclosed_rate(r, d).alias(r) for r, d in spec.rates.items()),
    ).select(*spec.keys, *spec.counts, *(r for r in spec.rates if r not in spec.counts))


def formula_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would evaluate (=, +, -, @, tab, CR first) get a leading
    apostrophe; numbers, dates and booleans are values, not formulas, and stay as they are."""
    starts = "^[" + "".join("\\" + c if c in "-+" else c for c in FORMULA_STARTS).replace("\t", "\\t").replace(
        "\r", "\\r") + "]"
    return frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(starts)).then("'" + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String)).alias(c)
        for c, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    )


def safe_csv(frame: pl.DataFrame) -> bytes:
    """CSV bytes for a download: formula-safe."""
    return formula_safe(frame).write_csv().encode("utf-8")
