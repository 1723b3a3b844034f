"""The pages' sentences in plain words: how much therapists or clinics differ beyond chance,
what a therapist's case mix implies (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag), and why paired
recovery differs from PHQ-9 recovery.
Pure functions, no Streamlit; ids reach the Markdown only through literal()."""

from __future__ import annotations

from typing import Any

import polars as pl

from dashboard.literal import literal

# Fewer eligible therapists or clinics than this give no overdispersion estimate (sql/macros/overdispersion.sql).
MIN_ELIGIBLE = 10


def variation_sentence(units: str, enough: str, eligible: int, phi: float | None, tau2: float, applied: bool,
                       allowed_for: str = "chance") -> str:
    """The overdispersion estimate in plain words, for a funnel of therapists or of clinics
    (docs/metrics/therapist-funnel.md#overdispersion, docs/metrics/attendance.md#overdispersion).
    `units` plural ("therapists"); `enough` what a unit needs to count ("have enough closed
    episodes"); `tau2` the estimate, whether or not it is `applied` to the limits and adjusted flags;
    `allowed_for` what those allow for without it ("chance and case mix")."""
    if phi is None:
        return (f"Fewer than {MIN_ELIGIBLE} {units} {enough} to judge how much {units} differ "
                f"({eligible} here): no estimate, limits not widened.")
    measured = f"φ = {phi:.2f} from {eligible} {units}"
    if tau2 <= 0:
        return f"{units.capitalize()} differ no more than chance alone explains ({measured}): nothing to widen."
    if not applied:
        return (f"{units.capitalize()} differ more than chance alone explains ({measured}), but the allowance is "
                f"off: limits and adjusted flags allow for {allowed_for} only, not for τ² = {tau2:.2g}.")
    return f"{units.capitalize()} differ more than chance alone explains ({measured}): limits widened by τ² = {tau2:.2g}."


def case_mix_sentence(therapist: str, closed: int, expected: float, observed: int) -> str:
    """What the therapist's case mix implies, against what happened."""
    episodes = "closed episode" if closed == 1 else "closed episodes"
    return (f"If the clients of {literal(therapist)}'s {closed:,} {episodes} had done as the same kinds of "
            f"clients do across the service, about {expected:.1f} would have dropped out after one session; "
            f"{observed:,} did.")


def paired_difference_sentence(per_measure: pl.DataFrame, paired: pl.DataFrame) -> str:
    """Why PHQ-9 recovery and the paired recovery differ, with the selection's numbers
    (docs/metrics/nhs-paired.md#why-they-differ-from-the-per-measure-rates). `per_measure` is
    frames.outcome_rates' all-clinics rows, `paired` frames.nhs_paired_rates."""
    def recovery(frame: pl.DataFrame, column: str) -> dict[str, Any] | None:
        rows = frame.filter((pl.col(column) == "recovery") & (pl.col("denominator") > 0))
        return rows.row(0, named=True) if rows.height else None

    def text(row: dict[str, Any]) -> str:
        return f"{row['rate']:.1%} ({row['numerator']:,} of {row['denominator']:,})"

    both = recovery(paired, "measure")
    why = ("the paired figure counts only the episodes that finished a course of treatment (two or more attended "
           "treatment sessions) and were scored on PHQ-9 and GAD-7 both, and it needs both last scores out of the "
           "clinical range")
    if both is None:
        return f"No finished, paired episode started in the clinical range, so there is no paired recovery: {why}."
    phq9 = recovery(per_measure.filter(pl.col("measure") == "phq9"), "outcome")
    if phq9 is None:
        return f"Paired recovery is {text(both)}; there is no PHQ-9 recovery to set beside it. The difference: {why}."
    than = ("lower than" if both["rate"] < phq9["rate"] else "higher than" if both["rate"] > phq9["rate"]
            else "the same as")
    return (f"PHQ-9 recovery is {text(phq9)}, paired recovery {text(both)}: {than} PHQ-9 alone, because {why}. "
            "Only the paired figure is the one a service is judged by.")
