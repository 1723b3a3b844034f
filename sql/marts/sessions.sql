-- sessions: one row per attended session dated on or before the extract date.
--   session_number  1 for the episode's first attended session (its "golden hour"), 2 for the
--                   next, … in appointment order (date-time, then appointment_id)
SELECT
    *,
    row_number() OVER (
        PARTITION BY client_id, episode_id ORDER BY appointment_at, appointment_id
    ) AS session_number
FROM stg_appointments
WHERE is_attended
