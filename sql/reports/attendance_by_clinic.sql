-- attendance_by_clinic: one row per clinic with an appointment in scope dated on or before the
-- extract date E. Appointment-level attendance: it needs no episode to have ended, so it reads
-- a short log (weeks of appointments, every episode still open) as well as a long one.
--   Scope: each appointment's own clinic, therapist, session type and date (an appointment has
--   no episode attribution of its own); the therapist's caseload funnel uses episodes instead.
--   appointments        dated on or before E, any status
--   attended, dna, cancelled_client, cancelled_clinic
--   unrecorded          still `scheduled` although dated on or before E (outcome never entered)
--   numerator / denominator / rate   no-show rate: dna / (attended + dna)
--   p0                  the same rate over every clinic in scope
--   limit95, limit998   p0 + z·sqrt(p0·(1−p0)/denominator), z = 1.96 and 3.09 (funnel limits)
--   flag                insufficient (denominator < min caseload), alarm (rate > limit998),
--                       alert (rate > limit95) or none: a small clinic is judged by its limits,
--                       never ranked on a bare rate
WITH scoped AS (
    SELECT a.clinic_id, a.status
    FROM appointments AS a
    CROSS JOIN settings AS s
    WHERE a.appointment_date < s.extract_date + 1  -- dated on or before E, without a cast per row
        AND in_scope(a.clinic_id, a.therapist_id, a.session_type, CAST(a.appointment_date AS DATE),
                     $clinics, $therapists, $from_date, $to_date, $session_types)
),

clinics AS (
    SELECT
        clinic_id,
        count(*) AS appointments,
        count(*) FILTER (WHERE status = 'attended') AS attended,
        count(*) FILTER (WHERE status = 'dna') AS dna,
        count(*) FILTER (WHERE status = 'cancelled_client') AS cancelled_client,
        count(*) FILTER (WHERE status = 'cancelled_clinic') AS cancelled_clinic,
        count(*) FILTER (WHERE status = 'scheduled') AS unrecorded
    FROM scoped
    GROUP BY clinic_id
),

rated AS (
    SELECT
        c.*,
        c.dna AS numerator,
        c.attended + c.dna AS denominator,
        sum(c.dna) OVER () / nullif(sum(c.attended + c.dna) OVER (), 0) AS p0
    FROM clinics AS c
)

SELECT
    r.clinic_id,
    r.appointments,
    r.attended,
    r.dna,
    r.cancelled_client,
    r.cancelled_clinic,
    r.unrecorded,
    r.numerator,
    r.denominator,
    r.numerator / nullif(r.denominator, 0) AS rate,
    r.p0,
    r.p0 + 1.96 * sqrt(r.p0 * (1 - r.p0) / nullif(r.denominator, 0)) AS limit95,
    r.p0 + 3.09 * sqrt(r.p0 * (1 - r.p0) / nullif(r.denominator, 0)) AS limit998,
    CASE
        WHEN r.denominator < coalesce($min_caseload, st.min_caseload) THEN 'insufficient'
        WHEN r.numerator / r.denominator > r.p0 + 3.09 * sqrt(r.p0 * (1 - r.p0) / r.denominator) THEN 'alarm'
        WHEN r.numerator / r.denominator > r.p0 + 1.96 * sqrt(r.p0 * (1 - r.p0) / r.denominator) THEN 'alert'
        ELSE 'none'
    END AS flag
FROM rated AS r
CROSS JOIN settings AS st
ORDER BY r.clinic_id
