"""The measure catalogue (docs/metrics/measures.md): every score column the tool reads, and what a
score on it means. The built-in values and their published sources: docs/metrics/measures.md#sources.

A measure has a range, whole numbers or not, a direction, a clinical cut-off and a reliable change.
Nine are built in; a config file adds more, or changes a built-in one, with a table per measure:

    [measures.bdi2]
    clinical_cutoff = 21.02
    reliable_change_sd = 8.1586
    reliable_change_reliability = 0.801

A score column is read when its name is a catalogued measure. Every measure with a reliable change
is an outcome measure (outcomes, plateaus, dose-response); SRS, the alliance measure, has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipelines.errors import LoadError


@dataclass(frozen=True)
class Measure:
    name: str  # the score column's name, lower case
    label: str  # as clinicians write it (PHQ-9)
    lowest: float
    highest: float
    integer: bool  # whole numbers only (12.0 counts as 12)
    higher_is_better: bool
    # In the clinical range: a score >= the cut-off when lower is better, < it when higher is better.
    clinical_cutoff: float
    # The smallest change, in points, that counts as reliable; None for a measure that is not an
    # outcome (SRS rates the session's alliance).
    reliable_change: float | None


def jacobson_truax(sd: float, reliability: float) -> float:
    """The reliable change (Jacobson & Truax, 1991) from a norm group's standard deviation and the
    measure's reliability: 1.96 · √2 · SD · √(1 − r)."""
    return 1.96 * math.sqrt(2) * sd * math.sqrt(1 - reliability)


BUILT_IN: dict[str, Measure] = {m.name: m for m in (
    Measure("phq9", "PHQ-9", 0, 27, True, False, 10, 6),
    Measure("gad7", "GAD-7", 0, 21, True, False, 8, 4),
    Measure("core10", "CORE-10", 0, 40, True, False, 11, 6),
    Measure("ors", "ORS", 0, 40, False, True, 25, 5),
    Measure("srs", "SRS", 0, 40, False, True, 36, None),
    # (the BDI-II manual's outpatients: SD 12.75, one-week test-retest r = .93)
    Measure("bdi2", "BDI-II", 0, 63, True, False, 14, jacobson_truax(12.75, 0.93)),
    Measure("pcl5", "PCL-5", 0, 80, True, False, 33, 15),
    Measure("oq45", "OQ-45.2", 0, 180, True, False, 64, 14),
    Measure("core_om", "CORE-OM", 0, 40, False, False, 10, 5),
)}
# The alliance measure: rated by the client at each session, about the session; never an outcome.
ALLIANCE = "srs"

# What a [measures.NAME] table may hold: its key -> the Measure field and the type it must be.
TABLE_KEYS: dict[str, tuple[str, tuple[type, ...], str]] = {
    "label": ("label", (str,), "a string"),
    "min": ("lowest", (int, float), "a number"),
    "max": ("highest", (int, float), "a number"),
    "integer": ("integer", (bool,), "true or false"),
    "higher_is_better": ("higher_is_better", (bool,), "true or false"),
    "clinical_cutoff": ("clinical_cutoff", (int, float), "a number"),
    "reliable_change": ("reliable_change", (int, float), "a number"),
    "reliable_change_sd": ("", (int, float), "a number"),
    "reliable_change_reliability": ("", (int, float), "a number"),
}
_NEW_MEASURE_NEEDS = ("label", "min", "max", "integer", "higher_is_better", "clinical_cutoff")


def catalogue(tables: dict[str, Any], path: Path | str) -> tuple[Measure, ...]:
    """The built-in measures with the config file's [measures.NAME] tables applied (`tables`: the
    file's `measures` table; `path` names the file in errors)."""
    if not isinstance(tables, dict):
        raise LoadError(f"{path}: 'measures' must be tables, one per measure ([measures.NAME])")
    from pipelines.read import INPUT_COLUMNS  # (read.py does not need the catalogue's types)

    taken = {*INPUT_COLUMNS, "row_key", "source_file", "source_line", "load_id", "scores", "other_scores"}
    taken -= set(BUILT_IN)
    measures = dict(BUILT_IN)
    for name, table in tables.items():
        where = f"{path}: [measures.{name}]"
        if not name.isidentifier() or name != name.lower():
            raise LoadError(f"{where}: a measure's name is its score column's: lower-case letters, digits "
                            "and underscores, not starting with a digit")
        if name in taken:
            raise LoadError(f"{where}: '{name}' is a column of the log already, not a measure's")
        if not isinstance(table, dict):
            raise LoadError(f"{where}: must be a table of the measure's values")
        measures[name] = _measure(name, table, measures.get(name), where)
    return tuple(measures.values())


def _measure(name: str, table: dict[str, Any], built_in: Measure | None, where: str) -> Measure:
    for key, value in table.items():
        if key not in TABLE_KEYS:
            raise LoadError(f"{where}: unknown key '{key}' (known: {', '.join(TABLE_KEYS)}; "
                            "docs/metrics/measures.md#what-a-measures-table-may-hold)")
        _, kinds, said = TABLE_KEYS[key]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise LoadError(f"{where}: '{key}' must be {said}")
        if isinstance(value, float) and not math.isfinite(value):
            raise LoadError(f"{where}: '{key}' must be a finite number")
    by_sd = {"reliable_change_sd", "reliable_change_reliability"} & table.keys()
    if by_sd and "reliable_change" in table:
        raise LoadError(f"{where}: give the reliable change either as points (reliable_change) or by "
                        "Jacobson-Truax (reliable_change_sd and reliable_change_reliability), not both")
    if len(by_sd) == 1:
        raise LoadError(f"{where}: Jacobson-Truax needs both reliable_change_sd and reliable_change_reliability")
    if built_in is None:
        missing = [k for k in _NEW_MEASURE_NEEDS if k not in table]
        if not by_sd and "reliable_change" not in table:
            missing.append("reliable_change (or reliable_change_sd and reliable_change_reliability)")
        if missing:
            raise LoadError(f"{where}: a new measure needs {', '.join(missing)}")
    changes = {TABLE_KEYS[k][0]: (float(v) if float in TABLE_KEYS[k][1] else v)
               for k, v in table.items() if TABLE_KEYS[k][0]}
    if by_sd:
        sd, reliability = table["reliable_change_sd"], table["reliable_change_reliability"]
        if sd <= 0 or not 0 <= reliability < 1:
            raise LoadError(f"{where}: reliable_change_sd must be more than 0 and reliable_change_reliability "
                            "from 0 to under 1")
        changes["reliable_change"] = jacobson_truax(sd, reliability)
    measure = replace(built_in, **changes) if built_in else Measure(name=name, **changes)
    if measure.lowest >= measure.highest:
        raise LoadError(f"{where}: min ({measure.lowest:g}) must be less than max ({measure.highest:g})")
    if measure.reliable_change is not None and measure.reliable_change <= 0:
        raise LoadError(f"{where}: the reliable change must be more than 0")
    return measure


def outcome_measures(measures: tuple[Measure, ...]) -> tuple[Measure, ...]:
    """The measures whose change is an outcome: every one with a reliable change."""
    return tuple(m for m in measures if m.reliable_change is not None)
