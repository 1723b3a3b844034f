"""The code lists (docs/loading/input.md): canonical values and the synonyms that map to them.

Synonyms match case-insensitively after trimming white space; a mapping profile can add
more for a particular system's export (see read.py).
"""

from __future__ import annotations

STATUSES = ("attended", "dna", "cancelled_client", "cancelled_clinic", "scheduled")
SESSION_TYPES = ("assessment", "treatment", "review", "other")
DISCHARGE_REASONS = ("planned", "dropout", "referred_on", "other", "unknown")


def _invert(groups: dict[str, list[str]]) -> dict[str, str]:
    """synonym -> canonical; the canonical value itself (e.g. `cancelled_client`) is accepted too."""
    return {synonym: canonical for canonical, synonyms in groups.items() for synonym in [canonical, *synonyms]}


# The digits are the NHS "attended or did not attend" codes.
STATUS_SYNONYMS = _invert(
    {
        "attended": ["attended", "show", "showed", "arrived", "seen", "fulfilled", "completed",
                     "checked out", "5", "6"],
        "dna": ["dna", "did not attend", "no show", "no-show", "noshow", "3", "7"],
        "cancelled_client": ["cancelled by client", "client cancelled", "late cancel",
                             "late cancellation", "cancelled", "canceled", "2"],
        "cancelled_clinic": ["cancelled by clinic", "clinic cancelled", "cancelled by provider", "4"],
        "scheduled": ["scheduled", "booked", "pending", "0"],
    }
)

# CPT codes: 90791/90792 are diagnostic evaluations; the others are psychotherapy sessions.
SESSION_TYPE_SYNONYMS = _invert(
    {
        "assessment": ["assessment", "90791", "90792"],
        "treatment": ["treatment", "90832", "90834", "90837", "90846", "90847", "90853"],
        "review": ["review"],
        "other": ["other"],
    }
)

# The digits are NHS Talking Therapies referral end codes.
DISCHARGE_REASON_SYNONYMS = _invert(
    {
        "planned": ["planned", "completed", "mutually agreed", "mutually agreed completion",
                    "treatment completed", "46", "12"],
        "dropout": ["dropout", "dropped out", "client ended", "unilateral", "did not return",
                    "lost contact", "terminated by client", "47", "16"],
        "referred_on": ["referred on", "referred elsewhere", "signposted", "transferred", "11", "13"],
        "other": ["declined", "not suitable", "moved away", "deceased", "other", "10", "14", "17",
                  "48", "49", "50"],
        "unknown": ["unknown", "95", "96"],
    }
)

CODED_COLUMNS = {
    "status": STATUS_SYNONYMS,
    "session_type": SESSION_TYPE_SYNONYMS,
    "discharge_reason": DISCHARGE_REASON_SYNONYMS,
}
