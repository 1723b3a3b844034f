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
        a.appointment_date AS appointment_at,
        a.appointment_date < s.extract_date + 1 AS is_past  -- dated on or before E, without a cast per row
    FROM appointments AS a
    CROSS JOIN settings AS s
    WHERE in_scope(a.clinic_id, a.therapist_id, a.session_type, CAST(a.appointment_date AS DATE),
                   $clinics, $therapists, $from_date, $to_date, $session_types)
),

-- Past appointments per client. Unfiltered, from the episodes (a load counted them there: one
-- row per client and episode, a tenth of the appointments); filtered, from the appointments in
-- scope. DuckDB prunes the branch whose parameter test is false, so only one runs.
per_client AS (
    SELECT client_id, sum(past_appointments) AS appointments, sum(attended_sessions) AS attended
    FROM episodes
    WHERE $clinics IS NULL AND $therapists IS NULL AND $from_date IS NULL AND $to_date IS NULL
        AND $session_types IS NULL
    GROUP BY client_id
    HAVING sum(past_appointments) > 0
    UNION ALL
    SELECT client_id, count(*) AS appointments, count(*) FILTER (WHERE status = 'attended') AS attended
    FROM scoped
    WHERE is_past
        AND NOT ($clinics IS NULL AND $therapists IS NULL AND $from_date IS NULL AND $to_date IS NULL
                 AND $session_types IS NULL)
    GROUP BY client_id
),

clients AS (  -- one pass over per_client
    SELECT
        count(*) AS clients,
        count(*) FILTER (WHERE appointments = 1) AS single_appointment_clients,
        count(*) FILTER (WHERE appointments = 1 AND attended = 1) AS single_attended_clients
    FROM per_client
),

-- Counted per status first, then spread: a grouped count over millions of appointments is a
-- third of the time of ten filtered counts.
by_status AS (
    SELECT is_past, status, count(*) AS n, min(appointment_at) AS first_at, max(appointment_at) AS last_at
    FROM scoped
    GROUP BY is_past, status
),

counts AS (
    SELECT
        CAST(coalesce(sum(n) FILTER (WHERE is_past), 0) AS BIGINT) AS appointments,
        CAST(coalesce(sum(n) FILTER (WHERE is_past AND status = 'attended'), 0) AS BIGINT) AS attended,
        CAST(coalesce(sum(n) FILTER (WHERE is_past AND status = 'dna'), 0) AS BIGINT) AS dna,
        CAST(coalesce(sum(n) FILTER (WHERE is_past AND status = 'cancelled_client'), 0) AS BIGINT) AS cancelled_client,
        CAST(coalesce(sum(n) FILTER (WHERE is_past AND status = 'cancelled_clinic'), 0) AS BIGINT) AS cancelled_clinic,
        CAST(coalesce(sum(n) FILTER (WHERE is_past AND status = 'scheduled'), 0) AS BIGINT) AS unrecorded,
        CAST(coalesce(sum(n) FILTER (WHERE NOT is_past AND status = 'scheduled'), 0) AS BIGINT) AS booked_ahead,
        CAST(min(first_at) FILTER (WHERE is_past) AS DATE) AS first_date,
        CAST(max(last_at) FILTER (WHERE is_past) AS DATE) AS last_date
    FROM by_status
)

SELECT
    n.appointments,
    n.attended,
    n.dna,
    n.cancelled_client,
    n.cancelled_clinic,
    n.unrecorded,
    n.booked_ahead,
    n.dna AS numerator,
    n.attended + n.dna AS denominator,
    n.dna / nullif(n.attended + n.dna, 0) AS rate,
    c.clients,
    c.single_appointment_clients,
    c.single_attended_clients,
    n.first_date,
    n.last_date
FROM counts AS n
CROSS JOIN clients AS c
