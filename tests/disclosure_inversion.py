"""Trying every way back to a suppressed count (docs/security.md#disclosure-control).

Given a shareable table as published, find every table of exact counts consistent with all of it:
each shown count's rounding range, `*` as any count from 1 up to a known maximum, the rates, the
totals of a row's columns and a total row, and labels worked out from the exact counts (flags). A
`*` cell with a single feasible value has been recovered. Used by the property tests in
tests/test_disclosure.py and by bench/disclosure.py, which counts the recoverable rows of the
sample data's shareable tables.

The attacker here knows how the code publishes a rate: a candidate numerator and denominator are
kept only when the code, given them alone, would publish the rate shown (`rate_shown`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipelines.disclosure import ROUND_TO, SMALL_COUNT_MAX, SUPPRESSED

RateShown = Callable[[int, int], str | None]  # exact numerator, denominator -> the rate the code publishes


def possible_counts(shown: str | None, most: int) -> range:
    """The exact counts a published count cell can stand for: `0` is 0, `*` is 1 to `most`, and a
    rounded count n is n-2..n+2 (never a count the rule would have shown as `*`)."""
    if shown is None:
        raise ValueError("a missing count is not part of these tables")
    if shown == SUPPRESSED:
        return range(1, most + 1)
    n = int(shown)
    if n == 0:
        return range(0, 1)
    return range(max(n - ROUND_TO // 2, SMALL_COUNT_MAX + 1), n + ROUND_TO // 2 + 1)


@dataclass(frozen=True)
class Layout:
    """What the attacker knows of the table's shape. `parts`: the count columns that are free;
    `total`: a column that is the sum of the parts, or None; `rates`: rate -> (numerator,
    denominator); `total_row`: the index of a row that sums every other row, or None; `labels`:
    label column -> how a row's label is worked out from its exact counts (a flag against a benchmark
    the attacker is taken to know exactly)."""

    parts: tuple[str, ...]
    total: str | None
    rates: dict[str, tuple[str, str]]
    total_row: int | None = None
    labels: dict[str, Callable[[dict[str, int]], str]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.parts, self.total) if self.total else self.parts


def _row_fits(values: dict[str, int], row: dict[str, str | None], layout: Layout, rate_shown: RateShown,
              most: int) -> bool:
    """Whether exact counts give this published row: every count in its range, every rate as shown."""
    for column in layout.columns:
        if values[column] not in possible_counts(row[column], max(most, values[column])):
            return False
    for rate, (numerator, denominator) in layout.rates.items():
        if row[rate] != SUPPRESSED and rate_shown(values[numerator], values[denominator]) != row[rate]:
            return False
    return all(row[label] == SUPPRESSED or label_of(values) == row[label] for label, label_of in layout.labels.items())


def _candidates(row: dict[str, str | None], layout: Layout, rate_shown: RateShown, most: int) -> list[tuple[int, ...]]:
    """Every vector of exact counts (in `layout.columns` order) that gives this published row."""
    found = []
    for parts in itertools.product(*(possible_counts(row[p], most) for p in layout.parts)):
        values = dict(zip(layout.parts, parts, strict=True))
        if layout.total:
            values[layout.total] = sum(parts)
        if _row_fits(values, row, layout, rate_shown, most):
            found.append(tuple(values[c] for c in layout.columns))
    return found


def _sums(vector_sets: Sequence[set[tuple[int, ...]]], width: int) -> set[tuple[int, ...]]:
    total = {(0,) * width}
    for vectors in vector_sets:
        total = {tuple(a + b for a, b in zip(s, v, strict=True)) for s in total for v in vectors}
    return total


def feasible_values(published: Sequence[dict[str, str | None]], layout: Layout, rate_shown: RateShown,
                    most: int) -> dict[tuple[int, str], set[int]]:
    """(row, column) -> every exact value that cell takes in some table consistent with the
    published one, where each free count is at most `most`."""
    columns = layout.columns
    rows = [i for i in range(len(published)) if i != layout.total_row]
    candidates = {i: _candidates(published[i], layout, rate_shown, most) for i in rows}
    kept: dict[int, set[tuple[int, ...]]] = {i: set(candidates[i]) for i in rows}
    feasible: dict[tuple[int, str], set[int]] = {}
    if layout.total_row is not None:
        total_row = published[layout.total_row]
        fits: dict[tuple[int, ...], bool] = {}

        def total_fits(vector: tuple[int, ...]) -> bool:
            if vector not in fits:
                fits[vector] = _row_fits(dict(zip(columns, vector, strict=True)), total_row, layout, rate_shown, most)
            return fits[vector]

        for i in rows:
            others = _sums([set(candidates[j]) for j in rows if j != i], len(columns))
            kept[i] = {v for v in candidates[i]
                       if any(total_fits(tuple(a + b for a, b in zip(v, o, strict=True))) for o in others)}
        totals = {s for s in _sums([kept[i] for i in rows], len(columns)) if total_fits(s)}
        for k, column in enumerate(columns):
            feasible[(layout.total_row, column)] = {s[k] for s in totals}
    for i in rows:
        for k, column in enumerate(columns):
            feasible[(i, column)] = {v[k] for v in kept[i]}
    return feasible


def recovered_cells(published: Sequence[dict[str, str | None]], layout: Layout, rate_shown: RateShown,
                    most: int) -> list[tuple[int, str, int]]:
    """The `*` cells whose exact value the published table gives away: (row, column, value)."""
    found = feasible_values(published, layout, rate_shown, most)
    return sorted((i, column, next(iter(values))) for (i, column), values in found.items()
                  if published[i][column] == SUPPRESSED and len(values) == 1)


ALARM, ALERT = 3.09, 1.96  # z of the 99.8% and 95% limits


def flag_of(numerator: int, denominator: int, benchmark: float, min_caseload: int = 10) -> str:
    """A therapist's flag as sql/reports/therapist_funnel.sql works it out from the exact counts; a
    dropout count above the closed episodes is no table at all."""
    if numerator > denominator:
        return "impossible"
    if denominator < min_caseload:
        return "insufficient"
    spread = math.sqrt(benchmark * (1 - benchmark) / denominator)
    rate = numerator / denominator
    return "alarm" if rate > benchmark + ALARM * spread else "alert" if rate > benchmark + ALERT * spread else "none"
