"""What may leave the clinic: disclosure control (docs/security.md#disclosure-control) and
spreadsheet-safe CSV.

Disclosure control applies to exports marked for sharing outside the clinic (NHS Digital's rule,
closed against every way back to a small count):

- counts of 1–7 show as `*`, other counts round to the nearest 5;
- a total and all but one of its parts are never all shown: where exactly one cell of a total
  and its parts is `*`, the smallest other non-zero cell is shown as `*` too (complementary
  suppression), across the columns of a row and across the rows of a table with a total row;
- a rate is derived from the published (rounded) counts, never from the exact ones, so it tells
  nothing the counts beside it do not; it is `*` when its numerator or denominator is;
- a label worked out from exact counts (a therapist's or a clinic's flag) is `*` when any of those
  counts is: `alarm` beside a `*` dropout count and a rounded caseload narrows the count to one value.

A shareable table keeps only the columns named as keys, labels, counts and rates: anything else (a control
limit, a mean) could give an exact small count away, so it is dropped rather than passed through.

CSV downloads, internal or shared, neutralise cells that a spreadsheet would run as a formula
(a text cell beginning with =, +, -, @, a tab or a carriage return gets a leading apostrophe).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import polars as pl

SUPPRESSED = "*"
SMALL_COUNT_MAX = 7  # counts 1..7 are suppressed
ROUND_TO = 5
MIN_RATE_DENOMINATOR = SMALL_COUNT_MAX + 1  # a denominator below this is itself `*`, so is its rate
RATE_DECIMALS = 4
# The rule in one sentence, for the pages and reports that state it beside a shareable table.
RULE = (f"counts of 1–{SMALL_COUNT_MAX} are shown as {SUPPRESSED}, other counts are rounded to the nearest {ROUND_TO}, "
        f"a total and all but one of its parts are never all shown (one more part is shown as {SUPPRESSED}), and "
        f"every rate is worked out from the rounded counts and is {SUPPRESSED} when either count is")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = tuple[int, str]  # (row number, count column)


@dataclass(frozen=True)
class Shareable:
    """Which columns of a table are identifying keys, counts and rates, and which counts add up.

    rates: rate column -> (numerator column, denominator column); both are disclosed as counts
        (and shown when they are also named in `counts`), and the rate is derived from them.
    totals: count column -> the count columns it is the sum of, in the same row. A total that is
        at least the sum of its named parts (a part left unshown) may be declared too: it only
        adds suppression.
    total_row: (key column, marker column): a row whose marker column (a boolean key) is true is the
        total, column by column, of the rows that share its keys other than these two (the "all
        clinics" row of a breakdown by clinic). A marker, not a label in the key column: a clinic
        whose id is `all clinics` is one of the parts, never taken for the total.
    copies: count column -> the count column it repeats (attendance's `numerator` is its `dna`): a
        cell and its copy are shown or hidden together.
    derived_labels: label column -> the count columns it was worked out from (a flag from the
        numerator and denominator against a benchmark): shown as it is, or `*` when any of them is.
    """

    keys: tuple[str, ...]
    counts: tuple[str, ...]
    rates: dict[str, tuple[str, str]] = field(default_factory=dict)
    totals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    total_row: tuple[str, str] | None = None
    copies: dict[str, str] = field(default_factory=dict)
    derived_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def disclosed(self) -> tuple[str, ...]:
        """Every count column the rule runs over: the shown counts and the counts behind each rate."""
        behind = (c for pair in self.rates.values() for c in pair)
        return tuple(dict.fromkeys((*self.counts, *behind)))


def rounded(n: int) -> int:
    """To the nearest 5 (n mod 5 is never a tie for a whole number)."""
    return ROUND_TO * ((n + ROUND_TO // 2) // ROUND_TO)


def is_small(n: int | None) -> bool:
    return n is not None and 1 <= n <= SMALL_COUNT_MAX


def total_groups(rows: list[dict[str, object]], spec: Shareable) -> Iterator[list[Cell]]:
    """Every total with its parts, as cells (the total first): across columns within a row, and
    across rows when the table has a total row."""
    for i in range(len(rows)):
        for total, parts in spec.totals.items():
            yield [(i, total), *((i, p) for p in parts)]
    if spec.total_row is None:
        return
    others = [k for k in spec.keys if k not in spec.total_row]
    totals: dict[tuple[object, ...], list[int]] = defaultdict(list)
    parts: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        (totals if row[spec.total_row[1]] is True else parts)[tuple(row[k] for k in others)].append(i)
    for key, total_rows in totals.items():
        for t in total_rows:
            for column in spec.disclosed:
                if parts[key]:
                    yield [(t, column), *((i, column) for i in parts[key])]


def suppressed_cells(rows: list[dict[str, object]], spec: Shareable, also_hidden: Collection[Cell] = ()) -> set[Cell]:
    """The cells shown as `*`: counts of 1–7 and `also_hidden` (a figure hidden where another table of the
    same report shows it), then, until nothing changes, one more cell of every total-and-parts group in
    which exactly one cell is `*` (the smallest other non-zero cell)."""
    hidden = {(i, c) for i, row in enumerate(rows) for c in spec.disclosed if is_small(row[c])} | set(also_hidden)
    groups = [g for g in total_groups(rows, spec) if all(rows[i][c] is not None for i, c in g)]
    twins = [((i, copy), (i, source)) for i in range(len(rows)) for copy, source in spec.copies.items()]
    changed = True
    while changed:
        changed = False
        for pair in twins:
            if (pair[0] in hidden) != (pair[1] in hidden):
                hidden.update(pair)
                changed = True
        for group in groups:
            if sum(cell in hidden for cell in group) != 1:
                continue
            candidates = [cell for cell in group if cell not in hidden and rows[cell[0]][cell[1]]]
            # A zero is exact and never hidden: hiding it would say `*` can be 0. A group whose only
            # hidden cell has nothing non-zero beside it cannot occur (its total would be 1–7 too).
            if candidates:
                hidden.add(min(candidates, key=lambda cell: (rows[cell[0]][cell[1]], cell)))
                changed = True
    return hidden


def rate_text(numerator: int, denominator: int) -> str:
    """A rate from two published counts, to four decimals ("0.1", "0.0", "1.0")."""
    return str(round(numerator / denominator, RATE_DECIMALS))


def disclosed_rows(frame: pl.DataFrame, spec: Shareable,
                   also_hidden: Collection[Cell] = ()) -> list[dict[str, str | None]]:
    """The table's rows under disclosure control, every label, count and rate as text."""
    rows = frame.select(*spec.keys, *spec.derived_labels, *spec.disclosed).to_dicts()
    hidden = suppressed_cells(rows, spec, also_hidden)

    def count(i: int, column: str) -> str | None:
        n = rows[i][column]
        return None if n is None else SUPPRESSED if (i, column) in hidden else str(rounded(int(n)))

    def rate(i: int, numerator: str, denominator: str) -> str | None:
        top, bottom = count(i, numerator), count(i, denominator)
        if SUPPRESSED in (top, bottom):
            return SUPPRESSED
        if top is None or bottom is None or int(bottom) == 0:
            return None
        return rate_text(int(top), int(bottom))

    def label(i: int, column: str) -> str | None:
        value = rows[i][column]
        from_hidden = any((i, c) in hidden for c in spec.derived_labels[column])
        return SUPPRESSED if from_hidden else None if value is None else str(value)

    return [{**{k: rows[i][k] for k in spec.keys}, **{d: label(i, d) for d in spec.derived_labels},
             **{c: count(i, c) for c in spec.counts},
             **{r: rate(i, *pair) for r, pair in spec.rates.items() if r not in spec.counts}}
            for i in range(len(rows))]


def shareable(frame: pl.DataFrame, spec: Shareable, also_hidden: Collection[Cell] = ()) -> pl.DataFrame:
    """The table with disclosure control applied; columns not named in `spec` are dropped.
    `also_hidden`: (row number, count column) cells to show as `*` whatever their value."""
    missing = [c for c in (*spec.keys, *spec.derived_labels, *spec.disclosed) if c not in frame.columns]
    if missing:
        raise ValueError(f"shareable: no column(s) {', '.join(missing)} in the table")
    related = (*spec.totals, *(p for ps in spec.totals.values() for p in ps), *spec.copies, *spec.copies.values(),
               *(c for cs in spec.derived_labels.values() for c in cs))
    undeclared = [c for c in related if c not in spec.disclosed]
    unkeyed = [c for c in spec.total_row or () if c not in spec.keys]
    if undeclared or unkeyed:
        raise ValueError("shareable: totals, copies and labels' counts must be declared counts, a total row's columns "
                         f"keys: {', '.join(dict.fromkeys(undeclared + unkeyed))}")
    columns = (*spec.keys, *spec.derived_labels, *spec.counts, *(r for r in spec.rates if r not in spec.counts))
    schema = {**{k: frame.schema[k] for k in spec.keys}, **{c: pl.String for c in columns if c not in spec.keys}}
    return pl.DataFrame(disclosed_rows(frame, spec, also_hidden), schema=schema)


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
