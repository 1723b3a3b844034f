"""The funnel pages' sentences in plain words: how much therapists or clinics differ beyond chance,
and what a therapist's case mix implies (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag).
Pure functions, no Streamlit; ids reach the Markdown only through literal()."""

from __future__ import annotations

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
