-- sessions: one row per attended session dated on or before the extract date, with the columns
-- the models and reports read of it (the rest stays on stg_appointments: a narrow table is
-- a third quicker to build at national scale).
--   scores          the session's scores, (measure, score) per measure scored (docs/metrics/measures.md)
--   srs             its score on the SRS, the alliance measure, which several reports read
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
    phq9_item9,
    scores,
    [s.score FOR s IN scores IF s.measure = 'srs'][1] AS srs,
    row_number() OVER (
        PARTITION BY client_id, episode_id ORDER BY appointment_at, appointment_id
    ) AS session_number
FROM stg_appointments
WHERE is_attended
