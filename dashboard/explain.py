"""The Therapists page's sentences in plain words: how much therapists differ beyond chance, and what
a therapist's case mix implies (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag).
Pure functions, no Streamlit; ids reach the Markdown only through literal()."""

from __future__ import annotations

from dashboard.literal import literal

# Fewer eligible therapists than this give no overdispersion estimate (sql/reports/therapist_funnel.sql).
MIN_ELIGIBLE = 10


def overdispersion_sentence(eligible: int, phi: float | None, tau2: float, applied: bool) -> str:
    """φ and τ² as the overdispersion estimate gave them (`tau2` is the estimate, whether or not it
    is `applied` to the limits and the adjusted flag)."""
    if phi is None:
        return (f"Fewer than {MIN_ELIGIBLE} therapists have enough closed episodes to judge how much therapists "
                f"differ ({eligible} here): no estimate, limits not widened.")
    measured = f"φ = {phi:.2f} from {eligible} therapists"
    if tau2 <= 0:
        return f"Therapists differ no more than chance alone explains ({measured}): nothing to widen."
    if not applied:
        return (f"Therapists differ more than chance alone explains ({measured}), but the allowance is off: "
                f"limits and adjusted flags allow for chance and case mix only, not for τ² = {tau2:.3f}.")
    return f"Therapists differ more than chance alone explains ({measured}): limits widened by τ² = {tau2:.3f}."


def case_mix_sentence(therapist: str, closed: int, expected: float, observed: int) -> str:
    """What the therapist's case mix implies, against what happened."""
    episodes = "closed episode" if closed == 1 else "closed episodes"
    return (f"If the clients of {literal(therapist)}'s {closed:,} {episodes} had done as the same kinds of "
            f"clients do across the service, about {expected:.1f} would have dropped out after one session; "
            f"{observed:,} did.")
