"""The dashboard's tables that have a Shareable CSV, and how disclosure control reads each
(docs/security.md#disclosure-control): which columns are labels, counts and rates, and which counts
add up. The pages hand these to layout.downloads; bench/disclosure.py tries to invert them."""

from __future__ import annotations

from pipelines.disclosure import Shareable

DROPOUT = {"rate": ("numerator", "denominator")}
# a flag is worked out from the exact numerator and denominator against the benchmark: `*` beside a `*` count
FLAG = {"flag": ("numerator", "denominator")}
# both funnel flags: the adjusted flag (overdispersion allowance, and for therapists the case mix) is worked
# out from the same counts. A therapist's expected count, ratio and z scores are left out of the shareable
# table: ratio × expected gives the exact numerator back, and E, O/E and z come from exact counts.
BOTH_FLAGS = {**FLAG, "adjusted_flag": ("numerator", "denominator")}

SINGLE_SESSION_BY_MONTH = Shareable(keys=("month",), counts=("numerator", "denominator", "open"), rates=DROPOUT)
CLINIC_QUARTERS = Shareable(keys=("clinic_id", "period"), counts=("numerator", "denominator", "open"), rates=DROPOUT)

THERAPIST_FLAGS = Shareable(keys=("therapist_id",), counts=("numerator", "denominator"), rates=DROPOUT,
                            derived_labels=BOTH_FLAGS)

# the row marked is_all_clinics (its clinic empty) is the total of the clinics' rows of the same measure and outcome
OUTCOMES = Shareable(keys=("measure", "outcome", "clinic", "is_all_clinics"), counts=("numerator", "denominator"),
                     rates={"rate": ("numerator", "denominator")}, total_row=("clinic", "is_all_clinics"))

# numerator is dna again; appointments also holds the unrecorded ones, which the table leaves out:
# declared as their total anyway, it can only add suppression
ATTENDANCE_BY_CLINIC = Shareable(
    keys=("clinic_id",), derived_labels=BOTH_FLAGS,
    counts=("appointments", "attended", "dna", "cancelled_client", "cancelled_clinic", "numerator", "denominator"),
    rates={"rate": ("numerator", "denominator")}, copies={"numerator": "dna"},
    totals={"denominator": ("attended", "dna"),
            "appointments": ("attended", "dna", "cancelled_client", "cancelled_clinic")})

DROPOUT_BY_NEXT_BOOKING = Shareable(keys=("band",), counts=("numerator", "denominator"), rates=DROPOUT)

# the medians are left out of the shareable table: a median of a few gaps is one client's gap. Each count
# within another (6 weeks within 18, 90 days within 28) is declared as its part: that only adds suppression
WAITS_BY_CLINIC = Shareable(
    keys=("clinic_id",),
    counts=("waited", "within_6_weeks", "within_18_weeks", "second_sessions", "over_28_days", "over_90_days",
            "booked_over_28_days", "dropouts", "closed"),
    rates={"rate_within_6_weeks": ("within_6_weeks", "waited"), "rate_within_18_weeks": ("within_18_weeks", "waited"),
           "dropout_rate": ("dropouts", "closed")},
    totals={"waited": ("within_18_weeks",), "within_18_weeks": ("within_6_weeks",),
            "second_sessions": ("over_28_days",), "over_28_days": ("over_90_days",), "closed": ("dropouts",)})

# the paired measures, one row each; a count that two rows share (the paired episodes, those at caseness) is the
# same value in both, so it is shown or hidden alike: no total is declared, none of the rows adds up to another
NHS_PAIRED = Shareable(keys=("measure",), counts=("numerator", "denominator"),
                      rates={"rate": ("numerator", "denominator")})
