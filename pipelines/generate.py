"""Synthetic clinics: an appointment log in the input columns, with planted patterns
(docs/sample-data.md).

The data is made in three layers, each vectorised over all episodes or rows at once:

1. the service: clinics, therapists (with a random effect on attrition) and the clients they see;
2. episodes: one course of care each, drawn as how many sessions, how it ends, when it starts,
   and a symptom trajectory; re-referrals are a second pass that starts after the first episode;
3. appointments: each attended session is preceded by zero or more missed appointments (DNA or
   cancellation); dropouts may leave a few trailing DNAs; dates advance weekly with jitter.

Rows dated after the extract date become `scheduled` bookings (a few per open episode) or are
dropped, so the log looks like an extract taken on that day. The figures each distribution is
anchored on are in docs/sample-data.md.

Planted patterns (PLANTED) are chosen by rule, not by chance, so the same ids carry them for every
seed: two named therapists with high single-session dropout, and clients picked by their number
for plateaus, risk follow-up gaps and long engagements. Above the bundled sample's size, one clinic
also books second appointments weeks out and loses more clients after session 1 (SLOW_BOOKING_CLINIC).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.codes import DISCHARGE_REASONS, SESSION_TYPES, STATUSES

EXTRACT_DATE = date(2026, 6, 30)
# Five years of referrals, ending at the extract date (from 2021-07-01 for the default one).
DATA_DAYS = 5 * 365
FUTURE_BOOKING_DAYS = 42
_LONGEST_WAIT_DAYS = 120

HIGH_ATTRITION_THERAPISTS = ("T0103", "T0305")
# The clinic that books second appointments weeks out, planted only for more clients than the bundled
# sample's: planting it there would move every number the docs quote from the sample
# (docs/sample-data.md#a-clinic-books-second-appointments-weeks-out). Its clinic has no planted therapist.
SLOW_BOOKING_CLINIC = "K02"
SAMPLE_CLIENTS = 2000
# Extra days before the first appointment after session 1 there (on top of the usual week), spread by
# client number rather than drawn, so that no random draw of any other episode moves; and the extra
# log-odds of ending after one session.
_SLOW_BOOKING_DAYS = (21, 63)
_SLOW_BOOKING_SINGLE_EFFECT = 1.8
# Client number (the digits of client_id) modulo 100 that carries each planted pattern.
_PATTERN_RESIDUES = {
    "plateau_clients": (5, 38, 71),
    "risk_gap_clients": (17, 59),
    "long_engagement_clients": (26,),
    "off_track_clients": (44, 83),
}
# Client patterns planted only in clients numbered above the bundled sample's size, as the slow-booking
# clinic is: planting them in it would move every number the docs quote from the sample.
_ABOVE_THE_SAMPLE = ("off_track_clients",)

PLANTED: dict = {
    "high_attrition_therapists": list(HIGH_ATTRITION_THERAPISTS),
    "plateau_clients": {
        "client_number_mod_100": list(_PATTERN_RESIDUES["plateau_clients"]),
        "episode_id": "1",
        "pattern": "PHQ-9 scored at every session, in the clinical range (>= 11) and within 4 points "
                   "for the whole episode (10-20 sessions); about a third still attending weekly "
                   "at the extract date",
    },
    "risk_gap_clients": {
        "client_number_mod_100": list(_PATTERN_RESIDUES["risk_gap_clients"]),
        "episode_id": "1",
        "pattern": "the latest session with phq9_item9 >= 1 is followed by no attended session "
                   "within 14 days: DNAs and then nothing, or a return only after 30+ days",
    },
    "long_engagement_clients": {
        "client_number_mod_100": list(_PATTERN_RESIDUES["long_engagement_clients"]),
        "episode_id": "1",
        "pattern": "22-45 attended sessions, often fortnightly over more than a year; "
                   "about 40% still open after more than 400 days",
    },
    "off_track_clients": {
        "client_number_mod_100": list(_PATTERN_RESIDUES["off_track_clients"]),
        "more_clients_than": SAMPLE_CLIENTS,
        "episode_id": "1",
        "pattern": "PHQ-9 scored at every weekly session, starting at 12-17 and worsening by about 10 points "
                   "over the first sessions while the client keeps attending; 6-13 weeks in and still open, "
                   "with bookings after the extract date",
    },
    "slow_booking_clinic": {
        "clinic_id": SLOW_BOOKING_CLINIC,
        "more_clients_than": SAMPLE_CLIENTS,
        "pattern": "the first appointment after session 1 is booked about 4 to 10 weeks out, and more clients "
                   "end after one session",
    },
}

# Pattern codes on the episode plan.
_NATURAL, _PLATEAU, _RISK_GAP, _LONG, _OFF_TRACK = 0, 1, 2, 3, 4
_PATTERN_CODES = {"plateau_clients": _PLATEAU, "risk_gap_clients": _RISK_GAP,
                  "long_engagement_clients": _LONG, "off_track_clients": _OFF_TRACK}

_ATTENDED, _DNA, _CANCELLED_CLIENT, _CANCELLED_CLINIC, _SCHEDULED = range(5)
_ASSESSMENT, _TREATMENT, _REVIEW, _OTHER_SESSION, _NO_SESSION_TYPE = range(5)
_PLANNED, _DROPOUT, _REFERRED_ON, _OTHER_REASON, _UNKNOWN = range(5)

_EPOCH = date(1970, 1, 1)


def planted_client_ids(pattern: str, clients: int) -> list[str]:
    """The client_ids that carry a planted client pattern (a PLANTED key) among `clients`."""
    numbers = np.arange(1, clients + 1)
    chosen = numbers[_carries(pattern, numbers)]
    return _numbered("C", chosen, 7).to_list()


def generate_appointments(clients: int, seed: int, extract_date: date = EXTRACT_DATE) -> pl.DataFrame:
    """An appointment log for `clients` clients, deterministic for a seed, extracted on extract_date."""
    rng = np.random.default_rng(seed)
    extract_day = _day_number(extract_date)
    service = _build_service(clients, rng)

    client = np.arange(clients)
    pattern = _planted_pattern(client + 1)
    clinic = _categorical(rng, np.arange(len(service["clinic_ids"])), service["clinic_share"], clients)
    # Planted client patterns stay away from the planted therapists, so that each planted
    # signal is measured on its own.
    therapist = np.where(
        pattern == _NATURAL,
        _assign_therapists(clinic, service["caseload_weight"], service, rng),
        _assign_therapists(clinic, service["caseload_weight"] * ~service["high_attrition"], service, rng),
    )
    first = _plan_first_episodes(client, pattern, clinic, therapist, service, rng, extract_day)
    first_rows = _lay_out_appointments(first, rng)

    second = _plan_re_referrals(first, first_rows, service, rng, extract_day)
    second_rows = _lay_out_appointments(second, rng)

    plan = {key: np.concatenate([first[key], second[key]]) for key in first}
    second_rows["episode"] = second_rows["episode"] + len(first["client"])
    rows = {key: np.concatenate([first_rows[key], second_rows[key]]) for key in first_rows}
    discharge_day, discharge_known = _discharges(rows, plan, extract_day)
    rows = _cut_at_extract_date(rows, plan, extract_day)
    scores = _score_sessions(rows, plan, rng)
    return _to_frame(rows, plan, scores, discharge_day, discharge_known, service, clients)


# How the generator writes CSV: ISO dates and date-times to the second, empty nulls, scores to one decimal.
CSV_FORMAT = {"date_format": "%Y-%m-%d", "datetime_format": "%Y-%m-%dT%H:%M:%S", "null_value": "",
              "float_precision": 1}


def write_appointments(df: pl.DataFrame, out_dir: Path, fmt: str = "csv") -> Path:
    """Write out_dir/appointments.csv (ISO dates, empty nulls) or .parquet; return the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = out_dir / "appointments.csv"
        df.write_csv(path, **CSV_FORMAT)
    elif fmt == "parquet":
        path = out_dir / "appointments.parquet"
        df.write_parquet(path)
    else:
        raise ValueError(f"unknown format {fmt!r}: use 'csv' or 'parquet'")
    return path


# --- the service -------------------------------------------------------------------------------


def _build_service(clients: int, rng: np.random.Generator) -> dict:
    """Clinics (more of them for more clients) with 8-12 therapists each."""
    n_clinics = max(4, round(np.sqrt(clients / 80)))
    per_clinic = rng.integers(8, 13, size=n_clinics)
    therapist_clinic = np.repeat(np.arange(n_clinics), per_clinic)
    therapist_number = _position_in_group(per_clinic) + 1
    therapist_ids = np.array([f"T{c + 1:02d}{k:02d}" for c, k in zip(therapist_clinic, therapist_number)])
    high_attrition = np.isin(therapist_ids, HIGH_ATTRITION_THERAPISTS)
    # Caseloads differ; the planted therapists carry large ones (busy assessors), so their
    # rate rests on enough episodes to stand out in a funnel plot.
    caseload_weight = rng.lognormal(0.0, 0.3, size=len(therapist_ids))
    caseload_weight[high_attrition] *= 3.0
    clinic_share = rng.gamma(10.0, size=n_clinics)
    clinic_ids = np.array([f"K{c + 1:02d}" for c in range(n_clinics)])
    return {
        "clinic_ids": clinic_ids,
        "slow_booking": (clinic_ids == SLOW_BOOKING_CLINIC) & (clients > SAMPLE_CLIENTS),
        "clinic_share": clinic_share / clinic_share.sum(),
        "therapist_ids": therapist_ids,
        "therapist_clinic": therapist_clinic,
        "caseload_weight": caseload_weight,
        # Therapist random effect on the log-odds of ending early: the wide between-therapist
        # spread of unplanned endings reported in the attrition literature.
        "attrition_effect": rng.normal(0.0, 0.45, size=len(therapist_ids)),
        "high_attrition": high_attrition,
    }


def _assign_therapists(clinic: np.ndarray, weight: np.ndarray, service: dict,
                       rng: np.random.Generator) -> np.ndarray:
    """A therapist of each client's clinic, in proportion to `weight` (inverse-CDF draw)."""
    cumulative = np.cumsum(weight)
    clinic_of = service["therapist_clinic"]
    n_clinics = len(service["clinic_ids"])
    clinic_end = np.bincount(clinic_of, weights=weight, minlength=n_clinics).cumsum()
    clinic_start = clinic_end - np.bincount(clinic_of, weights=weight, minlength=n_clinics)
    target = clinic_start[clinic] + rng.random(len(clinic)) * (clinic_end[clinic] - clinic_start[clinic])
    last_of_clinic = np.cumsum(np.bincount(clinic_of, minlength=n_clinics)) - 1
    return np.minimum(np.searchsorted(cumulative, target, side="right"), last_of_clinic[clinic])


# --- episodes ----------------------------------------------------------------------------------


def _plan_first_episodes(client, pattern, clinic, therapist, service, rng, extract_day) -> dict:
    """Every client's first episode; planted clients get their pattern's course and timing."""
    plan = _draw_courses(client, np.ones(len(client), dtype=np.int64), clinic, therapist, service, rng)
    plan["pattern"] = pattern
    # Natural referrals arrive evenly over the five years; the first appointment follows a wait,
    # and a referral still waiting at the extract date holds a booking within the next six weeks.
    wait = _waiting_days(len(client), rng)
    latest_referral = extract_day + FUTURE_BOOKING_DAYS - wait
    start = extract_day - DATA_DAYS
    plan["referral_day"] = _uniform_day(rng, len(client), start, latest_referral)
    plan["first_day"] = plan["referral_day"] + wait
    _plant_plateaus(plan, rng, extract_day)
    _plant_risk_gaps(plan, rng, extract_day)
    _plant_long_engagements(plan, rng, extract_day)
    _plant_off_track(plan, extract_day)
    planted = plan["pattern"] != _NATURAL
    plan["referral_day"] = np.where(planted, plan["first_day"] - wait, plan["referral_day"])
    _book_first_appointments_ahead(plan, extract_day)
    return plan


def _plan_re_referrals(first, first_rows, service, rng, extract_day) -> dict:
    """Second episodes: referred again > 200 days after the first episode's last appointment.

    That gap is longer than the 180-day episode gap (docs/metrics/episodes.md) and falls after the first
    episode's discharge (at most three weeks after its last appointment), so the loader derives
    the same split without episode_id.
    """
    last_day = _last_per_episode(first_rows["day"], first_rows["episode"])
    wait = _waiting_days(len(last_day), rng)
    referral_day = last_day + 201 + rng.exponential(300.0, size=len(last_day)).astype(np.int64)
    re_referred = ((rng.random(len(last_day)) < 0.16) & (first["pattern"] == _NATURAL)
                   & (referral_day + wait <= extract_day + FUTURE_BOOKING_DAYS))
    client = first["client"][re_referred]
    clinic = first["clinic"][re_referred]
    therapist = _assign_therapists(clinic, service["caseload_weight"], service, rng)
    plan = _draw_courses(client, np.full(len(client), 2), clinic, therapist, service, rng)
    plan["pattern"] = np.full(len(client), _NATURAL)
    plan["referral_day"] = referral_day[re_referred]
    plan["first_day"] = referral_day[re_referred] + wait[re_referred]
    _book_first_appointments_ahead(plan, extract_day)
    return plan


def _draw_courses(client, episode_no, clinic, therapist, service, rng) -> dict:
    """How each episode goes: sessions, ending, spacing, measures and symptom trajectory."""
    n = len(client)
    effect = service["attrition_effect"][therapist]
    high = service["high_attrition"][therapist]
    slow = service["slow_booking"][clinic]

    # Session 1 is mostly an assessment; the planted therapists almost always open with one
    # (the "golden hour" spent on forms).
    first_type = np.where(
        high,
        _categorical(rng, [_ASSESSMENT, _TREATMENT], [0.92, 0.08], n),
        _categorical(rng, [_ASSESSMENT, _TREATMENT, _NO_SESSION_TYPE], [0.70, 0.28, 0.02], n),
    )
    # A few referrals miss or cancel their first appointments and never attend at all.
    not_started = rng.random(n) < 0.03
    # Single-session endings: ~a quarter to a third of ended courses. An assessment-only first
    # hour loses more clients than one that starts treatment.
    type_effect = np.where(first_type == _ASSESSMENT, 0.25, -0.55)
    # A client whose next appointment is weeks away has less reason to come back (the slow-booking clinic).
    slow_effect = np.where(slow, _SLOW_BOOKING_SINGLE_EFFECT, 0.0)
    single = rng.random(n) < _expit(_logit(0.26) + effect + type_effect + slow_effect)
    # The planted therapists lose exactly 70% of the clients they start with after one session
    # (a quota rather than a coin flip, so the planted rate does not wander with the seed).
    single = np.where(high, _quota(therapist, ~not_started, 0.70, rng), single)
    # Unplanned endings later in treatment share the therapist effect.
    p_dropout = np.where(high, 0.35, _expit(_logit(0.20) + effect))
    dropout = ~single & (rng.random(n) < p_dropout)

    completer_sessions = 2 + _negative_binomial(mean=8.5, shape=5.0, size=n, rng=rng)
    dropout_sessions = 2 + _negative_binomial(mean=3.0, shape=2.0, size=n, rng=rng)
    attended = np.where(single, 1, np.where(dropout, dropout_sessions, completer_sessions))
    attended = np.where(not_started, 0, attended)

    single_reason = np.where(
        high,
        _DROPOUT,
        _categorical(rng, [_DROPOUT, _PLANNED, _REFERRED_ON, _OTHER_REASON, _UNKNOWN],
                     [0.60, 0.24, 0.11, 0.03, 0.02], n),
    )
    completer_reason = _categorical(rng, [_PLANNED, _REFERRED_ON, _OTHER_REASON, _UNKNOWN],
                                    [0.84, 0.09, 0.04, 0.03], n)
    reason = np.where(single, single_reason, np.where(dropout, _DROPOUT, completer_reason))
    is_dropout = reason == _DROPOUT
    # A third of dropouts are never discharged: the client just stops coming (the loader calls
    # them inactive after 90 days); half of the planted therapists' single-session losses.
    undischarged_share = np.where(high & single, 0.5, 0.33)
    records_discharge = ~not_started & ~(is_dropout & (rng.random(n) < undischarged_share))
    trailing = np.where(is_dropout, _categorical(rng, [0, 1, 2], [0.35, 0.40, 0.25], n), 0)
    trailing = np.where(not_started, rng.integers(1, 3, size=n), trailing)
    discharge_delay = np.where(
        is_dropout,
        rng.integers(0, 22, size=n),
        np.where(rng.random(n) < 0.6, 0, rng.integers(1, 8, size=n)),
    )

    plan = {
        "client": client,
        "episode_no": episode_no,
        "clinic": clinic,
        "therapist": therapist,
        "attended": attended.astype(np.int64),
        "trailing": trailing.astype(np.int64),
        "reason": reason,
        "records_discharge": records_discharge,
        "discharge_delay": discharge_delay.astype(np.int64),
        "first_type": first_type,
        "spacing": np.where(rng.random(n) < 0.95, 7, 14),
        "next_booking_delay": np.where(
            slow, _SLOW_BOOKING_DAYS[0] + client % (_SLOW_BOOKING_DAYS[1] - _SLOW_BOOKING_DAYS[0] + 1), 0),
        # Share of intervals that carry a holiday or illness gap of one to five weeks.
        "gap_rate": np.full(n, 0.03),
        "slot_minute": 8 * 60 + 15 * rng.integers(0, 41, size=n),
        # Episode fields on every row for most systems; some record them only on the opening
        # (referral) and closing (discharge) row.
        "sparse_fields": rng.random(n) < 0.2,
        "booked_ahead": _categorical(rng, [0, 1, 2, 3], [0.3, 0.35, 0.2, 0.15], n),
        "has_ors_srs": rng.random(n) < 0.30,
        "has_core10": rng.random(n) < 0.05,
        "phq9_rate": np.full(n, 0.9),
        "risk_session": np.zeros(n, dtype=np.int64),
        "risk_return_gap": np.zeros(n, dtype=bool),
        # Alliance (SRS) runs lower in courses the client leaves.
        "alliance": np.where(is_dropout, 33.0, 36.0) + rng.normal(0.0, 2.0, size=n),
        "measure_offset": rng.normal(0.0, 2.0, size=n),
    }
    plan.update(_draw_trajectories(is_dropout, rng))
    return plan


def _draw_trajectories(is_dropout: np.ndarray, rng: np.random.Generator) -> dict:
    """PHQ-9 trajectory: baseline ~ N(15, 5), exponential approach to a final level, with noise.

    Improvers head for a non-clinical level, non-responders barely move, a few deteriorate;
    clients who drop out improve less often.
    """
    n = len(is_dropout)
    baseline = np.clip(rng.normal(15.0, 5.0, size=n), 0.0, 27.0)
    p_improve = np.where(is_dropout, 0.42, 0.74)
    p_deteriorate = np.where(is_dropout, 0.09, 0.07)
    draw = rng.random(n)
    improve = draw < p_improve
    deteriorate = draw > 1.0 - p_deteriorate
    target = np.clip(rng.normal(5.5, 3.0, size=n), 0.0, 27.0)
    delta = np.where(
        improve,
        np.minimum(target - baseline, -2.0),
        np.where(deteriorate, rng.normal(7.5, 1.5, size=n), rng.normal(-1.5, 2.0, size=n)),
    )
    return {
        "baseline": baseline,
        "delta": delta,
        "tau": rng.uniform(1.5, 5.0, size=n),
        "noise_sd": np.full(n, 2.0),
        "noise_cap": np.full(n, np.inf),
    }


def _planted_pattern(client_number: np.ndarray) -> np.ndarray:
    pattern = np.full(len(client_number), _NATURAL)
    for key, code in _PATTERN_CODES.items():
        pattern[_carries(key, client_number)] = code
    return pattern


def _carries(pattern: str, client_number: np.ndarray) -> np.ndarray:
    """Whether each client number carries a planted client pattern: by its last two digits, and above the
    bundled sample's size for the patterns kept out of it."""
    chosen = np.isin(client_number % 100, _PATTERN_RESIDUES[pattern])
    return chosen & (client_number > SAMPLE_CLIENTS) if pattern in _ABOVE_THE_SAMPLE else chosen


def _plant_plateaus(plan: dict, rng: np.random.Generator, extract_day: int) -> None:
    """Flat, clinical-range PHQ-9 on every session of a 10+ session course.

    About a third started 16-21 weeks before the extract date and are still attending (so the
    dashboard shows open plateaus, mostly too young to be long engagements); the rest ended
    before it.
    """
    mask = plan["pattern"] == _PLATEAU
    n = int(mask.sum())
    still_open = _exact_share(n, 0.35, rng)
    sessions = rng.integers(10, 21, size=n)
    # A still-open course has more sessions than fit before the extract date, so it runs past it.
    _set(plan, mask, "attended", np.where(still_open, 60, sessions))
    _set(plan, mask, "reason", _categorical(rng, [_PLANNED, _DROPOUT, _REFERRED_ON], [0.5, 0.3, 0.2], n))
    _set(plan, mask, "first_day", np.where(
        still_open,
        extract_day - rng.integers(112, 148, size=n),
        _uniform_day(rng, n, _earliest_planted_start(extract_day), extract_day - 15 * sessions - 60),
    ))
    _discharge_cleanly(plan, mask)
    # Steady weekly attendance: the sessions keep coming while nothing changes.
    _set(plan, mask, "spacing", 7)
    _set(plan, mask, "gap_rate", 0.0)
    _set(plan, mask, "booked_ahead", np.where(still_open, 2, 0))
    _set(plan, mask, "phq9_rate", 1.0)
    # A level of 13-19 with noise capped at +-2 keeps every score >= 11 and the range <= 4.
    _set(plan, mask, "baseline", rng.integers(13, 20, size=n).astype(float))
    _set(plan, mask, "delta", 0.0)
    _set(plan, mask, "noise_sd", 1.0)
    _set(plan, mask, "noise_cap", 2.0)


def _plant_risk_gaps(plan: dict, rng: np.random.Generator, extract_day: int) -> None:
    """A self-harm flag (item 9 >= 1) with no attended follow-up within 14 days.

    Variant "lost": the flagged session is the last; two missed appointments (mostly DNAs)
    follow and then nothing. Variant "late return": a missed appointment or two, then the next
    attended session 30+ days after the flag.
    Either way the flag is the episode's latest and lies well before the extract date.
    """
    mask = plan["pattern"] == _RISK_GAP
    n = int(mask.sum())
    late_return = _exact_share(n, 0.45, rng)
    sessions = rng.integers(4, 11, size=n)
    _set(plan, mask, "attended", sessions)
    _set(plan, mask, "risk_session", np.where(late_return, sessions - rng.integers(1, 4, size=n), sessions))
    _set(plan, mask, "risk_return_gap", late_return)
    _set(plan, mask, "reason", np.where(late_return, _PLANNED, _DROPOUT))
    _set(plan, mask, "trailing", np.where(late_return, 0, 2))
    _set(plan, mask, "records_discharge", late_return | (rng.random(n) < 0.5))
    _set(plan, mask, "first_day",
         _uniform_day(rng, n, _earliest_planted_start(extract_day), extract_day - 15 * sessions - 150))
    _set(plan, mask, "spacing", 7)
    _set(plan, mask, "booked_ahead", 0)
    _set(plan, mask, "phq9_rate", 1.0)
    _set(plan, mask, "baseline", rng.uniform(16.0, 24.0, size=n))
    _set(plan, mask, "delta", rng.normal(-1.0, 1.5, size=n))


def _plant_long_engagements(plan: dict, rng: np.random.Generator, extract_day: int) -> None:
    """22-45 sessions, half fortnightly; 40% started 420-580 days ago and are still attending."""
    mask = plan["pattern"] == _LONG
    n = int(mask.sum())
    still_open = _exact_share(n, 0.4, rng)
    sessions = rng.integers(22, 46, size=n)
    spacing = np.where(rng.random(n) < 0.5, 14, 7)
    # A still-open course has more sessions than fit before the extract date, so it runs past it.
    _set(plan, mask, "attended", np.where(still_open, 200, sessions))
    _set(plan, mask, "spacing", spacing)
    _set(plan, mask, "reason", _categorical(rng, [_PLANNED, _DROPOUT], [0.8, 0.2], n))
    _set(plan, mask, "first_day", np.where(
        still_open,
        extract_day - rng.integers(420, 581, size=n),
        _uniform_day(rng, n, _earliest_planted_start(extract_day), extract_day - 2 * spacing * sessions - 60),
    ))
    _discharge_cleanly(plan, mask)
    _set(plan, mask, "booked_ahead", np.where(still_open, 2, 0))


def _plant_off_track(plan: dict, extract_day: int) -> None:
    """Open episodes going off track: PHQ-9 at every weekly session, worsening by about 10 points
    within the first few sessions (docs/sample-data.md#clients-going-off-track).

    Spread by client number rather than drawn, as the slow-booking clinic's delays are: the start is
    6 to 13 weeks before the extract date and the first level 12 to 17, so the course runs past the
    extract date with bookings after it.
    """
    mask = plan["pattern"] == _OFF_TRACK
    step = (plan["client"][mask] + 1) // 100
    _set(plan, mask, "attended", 60)  # more sessions than fit before the extract date: still open
    _set(plan, mask, "first_day", extract_day - 7 * (6 + step % 8) - 3)
    _set(plan, mask, "reason", _PLANNED)
    _discharge_cleanly(plan, mask)
    _set(plan, mask, "spacing", 7)
    _set(plan, mask, "gap_rate", 0.0)
    _set(plan, mask, "next_booking_delay", 0)  # weekly from the start, in the slow-booking clinic too
    _set(plan, mask, "booked_ahead", 2)
    _set(plan, mask, "phq9_rate", 1.0)
    _set(plan, mask, "baseline", (12 + step % 6).astype(float))
    _set(plan, mask, "delta", 10.0)
    _set(plan, mask, "tau", 2.0)
    _set(plan, mask, "noise_sd", 1.0)
    _set(plan, mask, "noise_cap", 2.0)


def _discharge_cleanly(plan: dict, mask: np.ndarray) -> None:
    """Planted plateaus, long engagements and off-track courses end with a discharge and no trailing DNAs."""
    _set(plan, mask, "records_discharge", True)
    _set(plan, mask, "trailing", 0)


def _book_first_appointments_ahead(plan: dict, extract_day: int) -> None:
    """A referral whose first appointment is after the extract date shows as that booking."""
    waiting = plan["first_day"] > extract_day
    plan["booked_ahead"] = np.where(waiting, np.maximum(plan["booked_ahead"], 1), plan["booked_ahead"])


# --- appointments ------------------------------------------------------------------------------


def _lay_out_appointments(plan: dict, rng: np.random.Generator) -> dict:
    """Appointment rows of every episode, in episode order and date order within an episode.

    Each episode is a run of blocks: block s holds the missed appointments booked before
    session s and then session s itself; a last block holds trailing DNAs with no session.
    Misses per session are geometric (mean 0.22), so about one appointment in five is missed.
    """
    blocks_per_episode = plan["attended"] + 1
    block_episode = np.repeat(np.arange(len(blocks_per_episode)), blocks_per_episode)
    block_session = _position_in_group(blocks_per_episode) + 1
    trailing_block = block_session == blocks_per_episode[block_episode]
    after_risk = (plan["risk_return_gap"][block_episode]
                  & (block_session == plan["risk_session"][block_episode] + 1))
    misses_before_session = rng.geometric(0.82, size=len(block_episode)) - 1
    misses = np.where(trailing_block, plan["trailing"][block_episode], misses_before_session)
    misses = np.where(after_risk, np.maximum(misses, 1), misses)
    block_rows = misses + ~trailing_block

    row_block = np.repeat(np.arange(len(block_episode)), block_rows)
    episode = block_episode[row_block]
    attended = ~trailing_block[row_block] & (_position_in_group(block_rows) == misses[row_block])
    session = block_session[row_block]

    n_rows = len(row_block)
    # Missed appointments: DNAs outnumber either kind of cancellation (~10% / 5% / 5% of
    # all appointments); trailing misses of a dropout are mostly DNAs.
    regular_miss = _categorical(rng, [_DNA, _CANCELLED_CLIENT, _CANCELLED_CLINIC],
                                [0.42, 0.29, 0.29], n_rows)
    trailing_miss = np.where(rng.random(n_rows) < 0.8, _DNA, _CANCELLED_CLIENT)
    status = np.where(attended, _ATTENDED, np.where(trailing_block[row_block], trailing_miss, regular_miss))

    # Weekly (or fortnightly) rhythm: a quarter of intervals shift by -2..+3 days, a few carry a
    # holiday or illness gap of one to five weeks; a late return after a risk flag waits 30+ days.
    first_row = _first_of_group(episode)
    jitter = np.where(rng.random(n_rows) < 0.25, rng.integers(-2, 4, size=n_rows), 0)
    gap = np.where(rng.random(n_rows) < plan["gap_rate"][episode], rng.integers(7, 36, size=n_rows), 0)
    late_return = after_risk[row_block] & attended
    # the first appointment after session 1 (block 2's first row) waits the episode's next-booking delay
    after_session_one = (block_session[row_block] == 2) & (_position_in_group(block_rows) == 0)
    delay = np.where(after_session_one, plan["next_booking_delay"][episode], 0)
    interval = plan["spacing"][episode] + jitter + gap + np.where(late_return, 30, 0) + delay
    interval[first_row] = 0
    cumulative = np.cumsum(interval)
    day = plan["first_day"][episode] + cumulative - cumulative[first_row][np.cumsum(first_row) - 1]

    # A regular weekly slot (08:00-18:00 starts) with the odd one-off time.
    minute = np.where(rng.random(n_rows) < 0.8, plan["slot_minute"][episode],
                      8 * 60 + 15 * rng.integers(0, 41, size=n_rows))
    later_type = _categorical(rng, [_TREATMENT, _REVIEW, _OTHER_SESSION, _NO_SESSION_TYPE],
                              [0.88, 0.08, 0.02, 0.02], n_rows)
    return {
        "episode": episode,
        "session": session.astype(np.int16),
        "status": status.astype(np.uint8),
        "session_type": np.where(session == 1, plan["first_type"][episode], later_type).astype(np.uint8),
        "day": _weekday(day),
        "minute": minute,
    }


def _cut_at_extract_date(rows: dict, plan: dict, extract_day: int) -> dict:
    """What an extract on extract_day shows: appointments after it are `scheduled` bookings
    (the next few within six weeks, for episodes that book ahead) or not there at all.
    """
    episode = rows["episode"]
    future = rows["day"] > extract_day
    first_row = _first_of_group(episode)
    future_count = np.cumsum(future)
    before_episode = (future_count - future)[first_row][np.cumsum(first_row) - 1]
    future_rank = future_count - before_episode
    keep = ~future | ((future_rank <= plan["booked_ahead"][episode])
                      & (rows["day"] <= extract_day + FUTURE_BOOKING_DAYS))
    status = np.where(future, _SCHEDULED, rows["status"]).astype(np.uint8)
    return {key: value[keep] for key, value in {**rows, "status": status}.items()}


def _discharges(rows: dict, plan: dict, extract_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Discharge day per episode (from the whole planned course) and whether the extract shows it.

    A course is discharged on (or soon after) its last appointment; courses still running at the
    extract date, undischarged dropouts and non-starts have no discharge date.
    """
    n_episodes = len(plan["client"])
    discharge_day = _last_per_episode(rows["day"], rows["episode"]) + plan["discharge_delay"]
    future_rows = np.bincount(rows["episode"], weights=rows["day"] > extract_day, minlength=n_episodes)
    runs_past_extract = future_rows > 0
    known = (plan["records_discharge"] & ~runs_past_extract & (plan["attended"] > 0)
             & (discharge_day <= extract_day))
    return discharge_day, known


def _score_sessions(rows: dict, plan: dict, rng: np.random.Generator) -> dict:
    """Outcome measures on attended rows only, from each episode's PHQ-9 trajectory.

    PHQ-9 (with item 9) on ~90% of sessions, GAD-7 on most of those; ORS/SRS and CORE-10 only in
    episodes whose clinic uses them.
    """
    episode = rows["episode"]
    attended = rows["status"] == _ATTENDED
    n = len(episode)
    session = rows["session"]
    progress = 1.0 - np.exp(-(session - 1) / plan["tau"][episode])
    latent = plan["baseline"][episode] + plan["delta"][episode] * progress
    cap = plan["noise_cap"][episode]
    noise = np.clip(rng.normal(0.0, 1.0, size=n) * plan["noise_sd"][episode], -cap, cap)
    phq9 = np.clip(np.rint(latent + noise), 0, 27).astype(np.int16)
    has_phq9 = attended & (rng.random(n) < plan["phq9_rate"][episode])

    # Item 9 (thoughts of self-harm) rises with severity: ~10% of sessions in the severe range.
    p_risk = np.select([phq9 >= 20, phq9 >= 15, phq9 >= 10], [0.12, 0.05, 0.015], default=0.002)
    risk_value = _categorical(rng, [1, 2, 3], [0.65, 0.25, 0.10], n)
    item9 = np.where(rng.random(n) < p_risk, risk_value, 0)
    risk_session = plan["risk_session"][episode]
    planted = risk_session > 0
    item9 = np.where(planted & (session == risk_session), risk_value, item9)
    item9 = np.where(planted & (session > risk_session), 0, item9)
    item9 = np.minimum(item9, phq9).astype(np.int16)

    offset = plan["measure_offset"][episode]
    gad7 = np.clip(np.rint(0.72 * latent + offset + rng.normal(0.0, 1.5, size=n)), 0, 21).astype(np.int16)
    core10 = np.clip(np.rint(1.35 * latent + offset + rng.normal(0.0, 2.5, size=n)), 0, 40).astype(np.int16)
    ors = np.clip(np.round(38.0 - latent + offset + rng.normal(0.0, 2.0, size=n), 1), 0.0, 40.0)
    srs = np.clip(np.round(plan["alliance"][episode] + 0.15 * np.minimum(session, 10)
                           + rng.normal(0.0, 2.0, size=n), 1), 0.0, 40.0)
    return {
        "phq9": (phq9, has_phq9),
        "phq9_item9": (item9, has_phq9),
        "gad7": (gad7, has_phq9 & (rng.random(n) < 0.94)),
        "core10": (core10, attended & plan["has_core10"][episode] & (rng.random(n) < 0.9)),
        "ors": (ors, attended & plan["has_ors_srs"][episode] & (rng.random(n) < 0.95)),
        "srs": (srs, attended & plan["has_ors_srs"][episode] & (rng.random(n) < 0.95)),
    }


# --- the frame ---------------------------------------------------------------------------------


def _to_frame(rows, plan, scores, discharge_day, discharge_known, service, clients) -> pl.DataFrame:
    """Label and mask the rows and put them in date order, numbering appointments in that order."""
    episode = rows["episode"]
    sparse = plan["sparse_fields"][episode]
    client = plan["client"][episode]
    minutes = rows["day"] * 1440 + rows["minute"]
    codes = pl.DataFrame({
        # Unique per row (a client has one appointment at a time), so the order is fully determined.
        "order_key": minutes * clients + client,
        "client": client,
        "episode_no": plan["episode_no"][episode],
        "therapist": plan["therapist"][episode],
        "clinic": plan["clinic"][episode],
        "minutes": minutes,
        "status": rows["status"],
        "session_type": rows["session_type"],
        **{name: values for name, (values, _) in scores.items()},
        **{f"{name}_shown": shown for name, (_, shown) in scores.items()},
        "referral_day": plan["referral_day"][episode],
        "referral_shown": ~sparse | _first_of_group(episode),
        "discharge_day": discharge_day[episode],
        "discharge_shown": discharge_known[episode] & (~sparse | _last_of_group(episode)),
        "reason": plan["reason"][episode],
    })

    def label(labels, column: str) -> pl.Expr:
        return pl.lit(pl.Series(list(labels), dtype=pl.String)).gather(pl.col(column))

    def shown(column: str, value: pl.Expr | None = None) -> pl.Expr:
        return pl.when(pl.col(f"{column}_shown")).then(pl.col(column) if value is None else value)

    return codes.sort("order_key").select(
        appointment_id=pl.lit(_numbered("A", np.arange(1, codes.height + 1), 8)),
        client_id=pl.lit(_numbered("C", np.arange(1, clients + 1), 7)).gather(pl.col("client")),
        episode_id=pl.col("episode_no").cast(pl.String),
        therapist_id=label(service["therapist_ids"], "therapist"),
        clinic_id=label(service["clinic_ids"], "clinic"),
        appointment_date=(pl.col("minutes") * 60_000_000).cast(pl.Datetime("us")),
        status=label(STATUSES, "status"),
        session_type=label((*SESSION_TYPES, None), "session_type"),
        **{name: shown(name) for name in scores},
        referral_date=shown("referral", pl.col("referral_day").cast(pl.Int32).cast(pl.Date)),
        discharge_date=shown("discharge", pl.col("discharge_day").cast(pl.Int32).cast(pl.Date)),
        discharge_reason=shown("discharge", label(DISCHARGE_REASONS, "reason")),
    )


# --- small helpers -----------------------------------------------------------------------------


def _set(plan: dict, mask: np.ndarray, key: str, value) -> None:
    plan[key] = plan[key].copy()
    plan[key][mask] = value


def _position_in_group(sizes: np.ndarray) -> np.ndarray:
    """0-based position of each element in np.repeat(groups, sizes)."""
    starts = np.cumsum(sizes) - sizes
    return np.arange(int(sizes.sum())) - np.repeat(starts, sizes)


def _first_of_group(group: np.ndarray) -> np.ndarray:
    """True on the first element of each run of equal values."""
    return np.diff(group, prepend=-1) != 0


def _last_of_group(group: np.ndarray) -> np.ndarray:
    """True on the last element of each run of equal values."""
    return np.diff(group, append=-1) != 0


def _last_per_episode(values: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """The value on each episode's last row (every episode has rows, grouped and in date order)."""
    return values[_last_of_group(episode)]


def _quota(group: np.ndarray, eligible: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for a random `share` (rounded) of each group's eligible members."""
    # Eligible members sort first within their group, in random order.
    order = np.lexsort((rng.random(len(group)), ~eligible, group))
    sizes = np.bincount(group)
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = _position_in_group(sizes)
    return eligible & (rank < np.rint(share * np.bincount(group, weights=eligible)[group]))


def _categorical(rng: np.random.Generator, values: list, p: list, size: int) -> np.ndarray:
    """Draw from `values` with probabilities `p` (faster than rng.choice with p on big arrays)."""
    thresholds = np.cumsum(p)[:-1]
    return np.asarray(values)[np.searchsorted(thresholds, rng.random(size), side="right")]


def _exact_share(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """A random `share` of n, exactly (so a planted subgroup never comes out empty by chance)."""
    return _quota(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool), share, rng)


def _waiting_days(n: int, rng: np.random.Generator) -> np.ndarray:
    """Referral to first appointment: most within six weeks, a tail to ~four months."""
    return np.minimum(5 + rng.exponential(16.0, size=n), _LONGEST_WAIT_DAYS).astype(np.int64)


def _earliest_planted_start(extract_day: int) -> int:
    """Planted courses start late enough for their referral (first day - wait) to fall in the data."""
    return extract_day - DATA_DAYS + _LONGEST_WAIT_DAYS


def _uniform_day(rng: np.random.Generator, n: int, earliest, latest) -> np.ndarray:
    latest = np.maximum(latest, earliest)
    return (earliest + np.floor(rng.random(n) * (latest - earliest + 1))).astype(np.int64)


def _negative_binomial(mean: float, shape: float, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.negative_binomial(shape, shape / (shape + mean), size=size)


def _weekday(day: np.ndarray) -> np.ndarray:
    """Move Saturday appointments to Friday and Sunday ones to Monday (1970-01-01 was a Thursday)."""
    weekday = (day + 3) % 7
    return day - (weekday == 5) + (weekday == 6)


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Ids like C0000001: the prefix and the zero-padded number."""
    return prefix + pl.Series(numbers).cast(pl.String).str.zfill(width)


def _day_number(value: date) -> int:
    return (value - _EPOCH).days


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
