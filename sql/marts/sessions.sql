-- sessions: one row per attended session dated on or before the extract date, with the columns
-- the models and reports read of it (the rest stays on stg_appointments: a narrow table is
-- a third quicker to build at national scale).
--   session_number  1 for the episode's first attended session (its "golden hour"), 2 for the
--                   next, … in appointment order (date-time, then appointment_id)
SELECT
    appointment_id,
    client_id,
    episode_id,
    therapist_id,
    clinic_id,
    appointment_at,
    appointment_date,
    session_type,
    phq9,
    phq9_item9,
    gad7,
    core10,
    ors,
    srs,
    row_number() OVER (
        PARTITION BY client_id, episode_id ORDER BY appointment_at, appointment_id
    ) AS session_number
FROM stg_appointments
WHERE is_attended
