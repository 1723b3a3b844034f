"""Derived episode ids (docs/metrics/episodes.md) for appointments whose input had no episode_id column.

Whether an appointment opens a new episode depends on the state of the episode it would
continue (its earliest recorded discharge date, its latest attended session), which a SQL
window cannot carry. This walks all clients at once, one appointment position at a time, so
the work is O(rows) in vectorised numpy steps rather than a Python loop over clients.
"""

from __future__ import annotations

import numpy as np
import polars as pl

NO_DAY = np.iinfo(np.int32).max  # "no discharge date recorded yet"
NOT_ATTENDED = np.iinfo(np.int32).min  # "no attended session yet in this episode"


def derive_episode_ids(appointments: pl.DataFrame, episode_gap_days: int) -> pl.DataFrame:
    """appointment_id -> derived_episode_id ('1', '2', … per client).

    Input columns: appointment_id, client_id, appointment_at (datetime), appointment_date (date),
    is_attended_status (bool), discharge_date (date, nullable).
    """
    if appointments.is_empty():
        return pl.DataFrame(schema={"appointment_id": pl.String, "derived_episode_id": pl.String})
    ordered = appointments.sort("client_id", "appointment_at", "appointment_id")
    day = ordered["appointment_date"].cast(pl.Int32).to_numpy()
    attended = ordered["is_attended_status"].fill_null(False).to_numpy()
    discharge = ordered["discharge_date"].cast(pl.Int32).fill_null(NO_DAY).to_numpy()

    client = ordered["client_id"]
    starts = np.flatnonzero((client != client.shift(1)).fill_null(True).to_numpy())
    counts = np.diff(np.append(starts, len(ordered)))
    # Clients with the most appointments first: at position k the clients still going are a prefix.
    by_count = np.argsort(-counts, kind="stable")
    starts, counts = starts[by_count], counts[by_count]

    n_clients = len(starts)
    episode = np.ones(n_clients, dtype=np.int32)
    first_day = day[starts].copy()
    last_attended = np.where(attended[starts], day[starts], NOT_ATTENDED).astype(np.int32)
    earliest_discharge = discharge[starts].copy()
    result = np.ones(len(ordered), dtype=np.int32)

    for position in range(1, int(counts[0])):
        going = int(np.searchsorted(-counts, -position, side="left"))  # clients with count > position
        rows = starts[:going] + position
        today = day[rows]
        anchor = np.where(last_attended[:going] != NOT_ATTENDED, last_attended[:going], first_day[:going])
        opens = (earliest_discharge[:going] < today) | (today - anchor > episode_gap_days)

        episode[:going] += opens
        first_day[:going] = np.where(opens, today, first_day[:going])
        last_attended[:going] = np.where(opens, NOT_ATTENDED, last_attended[:going])
        earliest_discharge[:going] = np.where(opens, NO_DAY, earliest_discharge[:going])

        last_attended[:going] = np.where(attended[rows], today, last_attended[:going])
        earliest_discharge[:going] = np.minimum(earliest_discharge[:going], discharge[rows])
        result[rows] = episode[:going]

    return pl.DataFrame({
        "appointment_id": ordered["appointment_id"],
        "derived_episode_id": pl.Series(result).cast(pl.String),
    })
