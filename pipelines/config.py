"""Thresholds and defaults (docs/loading/settings.md), overridable from a TOML file.

The config file holds one `key = value` per setting, and a table per measure it adds or changes
(docs/metrics/measures.md), e.g.

    inactive_days = 120
    min_caseload = 15

    [measures.bdi2]
    clinical_cutoff = 21.02

Unknown keys and wrongly typed values are refused with a one-line error, so that a typo
never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from pipelines.errors import LoadError
from pipelines.measures import BUILT_IN, Measure, catalogue, outcome_measures


@dataclass(frozen=True)
class Settings:
    # A gap longer than this after the latest attended session opens a new derived episode.
    episode_gap_days: int = 180
    # An episode with no attended session for this long (and nothing booked) is closed "inactive".
    inactive_days: int = 90
    # Therapists with fewer closed episodes than this are "insufficient" in the funnel plot.
    min_caseload: int = 10
    plateau_measure: str = "phq9"
    plateau_window: int = 4
    risk_followup_days: int = 14
    long_engagement_sessions: int = 20
    long_engagement_days: int = 365
    # The therapist CUSUM watches for this odds ratio of single-session dropout and signals at this threshold.
    cusum_odds_ratio: float = 2.0
    cusum_threshold: float = 6.0
    # The measure catalogue (pipelines/measures.py): stored in the warehouse's measures table, not
    # in the settings row.
    measures: tuple[Measure, ...] = field(default=tuple(BUILT_IN.values()))

    def as_dict(self) -> dict[str, int | float | str]:
        """The thresholds, as the settings row stores them (the measures apart)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "measures"}


# The values each whole-number setting may take (docs/loading/settings.md#what-the-file-may-hold): a number
# of days up to a hundred years, a number of sessions or episodes up to 100,000. Larger ones mean nothing
# to a clinic, and from 2,147,483,648 the warehouse cannot even record them (an INTEGER column).
DAYS = range(1, 36_500 + 1)
COUNT = range(1, 100_000 + 1)
SETTING_RANGES = {
    "episode_gap_days": DAYS,
    "inactive_days": DAYS,
    "min_caseload": COUNT,
    "plateau_window": COUNT,
    "risk_followup_days": DAYS,
    "long_engagement_sessions": COUNT,
    "long_engagement_days": DAYS,
}
# The decimal settings: (lowest, highest), the lowest itself excluded. An odds ratio of 1 watches for
# nothing (every weight is 0) and a threshold of 0 signals at once.
DECIMAL_RANGES = {
    "cusum_odds_ratio": (1.0, 100.0),
    "cusum_threshold": (0.0, 1_000.0),
}

SETTING_DOCS = {
    "episode_gap_days": "days after an episode's latest attended session after which a new derived episode starts",
    "inactive_days": "days without an attended session after which an episode with nothing booked counts as closed (inactive)",
    "min_caseload": "closed episodes a therapist needs before the funnel plot flags them",
    "plateau_measure": "the measure used for plateaus and long-engagement improvement: any outcome measure of the "
                       "catalogue (docs/metrics/measures.md)",
    "plateau_window": "consecutive scores that make a plateau window",
    "risk_followup_days": "days after a risk-flagged session within which an attended session is expected",
    "long_engagement_sessions": "attended sessions from which an episode is a long engagement",
    "long_engagement_days": "days in care from which an episode is a long engagement",
    "cusum_odds_ratio": "the rise in the odds of single-session dropout the therapist CUSUM watches for",
    "cusum_threshold": "the CUSUM value at which a therapist's chart signals",
}


def load_settings(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LoadError(f"{path}: not a valid TOML config file ({exc})") from None
    known = {f.name: f for f in fields(Settings) if f.name != "measures"}
    values: dict[str, object] = {"measures": catalogue(data.pop("measures", {}), path)}
    for key, value in data.items():
        if key not in known:
            raise LoadError(f"{path}: unknown setting '{key}' (known: {', '.join(known)}, and [measures.NAME] tables)")
        kind = known[key].type
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # `cusum_threshold = 5` means 5.0
        expected = {"int": int, "float": float}.get(kind, str)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise LoadError(f"{path}: setting '{key}' must be "
                            f"{ {int: 'a whole number', float: 'a number'}.get(expected, 'a string') }")
        if key in DECIMAL_RANGES:
            low, high = DECIMAL_RANGES[key]
            if not low < value <= high:
                raise LoadError(f"{path}: setting '{key}' is {value:g}; it must be more than {low:g} "
                                f"and at most {high:g} (docs/loading/settings.md#what-the-file-may-hold)")
        allowed = SETTING_RANGES.get(key)
        if allowed is not None and value not in allowed:
            raise LoadError(f"{path}: setting '{key}' is {value:,}; it must be from {allowed.start:,} "
                            f"to {allowed[-1]:,} (docs/loading/settings.md#what-the-file-may-hold)")
        values[key] = value
    outcomes = [m.name for m in outcome_measures(values["measures"])]
    if values.get("plateau_measure", "phq9") not in outcomes:
        raise LoadError(f"{path}: plateau_measure must be an outcome measure of the catalogue: {', '.join(outcomes)}")
    return Settings(**values)
