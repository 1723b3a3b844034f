-- attendance_summary: one row: appointment-level attendance over the whole scope (the scope as
-- in attendance_by_clinic: each appointment's own clinic, therapist, session type and date).
--   appointments, attended, dna, cancelled_client, cancelled_clinic, unrecorded
--                       dated on or before the extract date E (see attendance_by_clinic)
--   booked_ahead        `scheduled` appointments dated after E
--   numerator / denominator / rate   no-show rate: dna / (attended + dna)
--   clients             clients with an appointment dated on or before E
--   single_appointment_clients   of them, those with exactly one such appointment in scope
--   single_attended_clients      of those, the ones whose one appointment was attended
--   first_date, last_date        the first and last appointment date in scope (on or before E)
WITH scoped AS (
    SELECT
        a.client_id,
        a.status,
        CAST(a.appointment_date AS DATE) AS appointment_date,
        CAST(a.appointment_date AS DATE) <= s.extract_date AS is_past
    FROM appointments AS a
    CROSS JOIN settings AS s
    WHERE in_scope(a.clinic_id, a.therapist_id, a.session_type, CAST(a.appointment_date AS DATE),
                   $clinics, $therapists, $from_date, $to_date, $session_types)
),

per_client AS (
    SELECT client_id, count(*) AS appointments, bool_and(status = 'attended') AS all_attended
    FROM scoped
    WHERE is_past
    GROUP BY client_id
)

SELECT
    count(*) FILTER (WHERE is_past) AS appointments,
    count(*) FILTER (WHERE is_past AND status = 'attended') AS attended,
    count(*) FILTER (WHERE is_past AND status = 'dna') AS dna,
    count(*) FILTER (WHERE is_past AND status = 'cancelled_client') AS cancelled_client,
    count(*) FILTER (WHERE is_past AND status = 'cancelled_clinic') AS cancelled_clinic,
    count(*) FILTER (WHERE is_past AND status = 'scheduled') AS unrecorded,
    count(*) FILTER (WHERE NOT is_past AND status = 'scheduled') AS booked_ahead,
    count(*) FILTER (WHERE is_past AND status = 'dna') AS numerator,
    count(*) FILTER (WHERE is_past AND status IN ('attended', 'dna')) AS denominator,
    count(*) FILTER (WHERE is_past AND status = 'dna')
        / nullif(count(*) FILTER (WHERE is_past AND status IN ('attended', 'dna')), 0) AS rate,
    (SELECT count(*) FROM per_client) AS clients,
    (SELECT count(*) FROM per_client WHERE appointments = 1) AS single_appointment_clients,
    (SELECT count(*) FROM per_client WHERE appointments = 1 AND all_attended) AS single_attended_clients,
    min(appointment_date) FILTER (WHERE is_past) AS first_date,
    max(appointment_date) FILTER (WHERE is_past) AS last_date
FROM scoped
