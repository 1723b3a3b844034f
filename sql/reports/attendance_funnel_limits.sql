-- attendance_funnel_limits: one row per point of the clinic funnel plot's limit curves: the
-- no-show benchmark p0 over the appointments in scope and its 95% and 99.8% upper limits at
-- about 200 denominators from 1 to the largest clinic's (geometrically spaced: a clinic can
-- have hundreds of thousands of appointments, and a curve needs no more points to be smooth).
-- Same scope and formulas as attendance_by_clinic.
WITH clinics AS (
    SELECT
        count(*) FILTER (WHERE a.status = 'dna') AS dna,
        count(*) FILTER (WHERE a.status IN ('attended', 'dna')) AS kept_or_missed
    FROM appointments AS a
    CROSS JOIN settings AS s
    WHERE a.appointment_date < s.extract_date + 1  -- dated on or before E, without a cast per row
        AND in_scope(a.clinic_id, a.therapist_id, a.session_type, CAST(a.appointment_date AS DATE),
                     $clinics, $therapists, $from_date, $to_date, $session_types)
    GROUP BY a.clinic_id
),

benchmark AS (
    SELECT sum(dna) / nullif(sum(kept_or_missed), 0) AS p0, max(kept_or_missed) AS largest
    FROM clinics
),

grid AS (
    SELECT DISTINCT greatest(1, round(exp(ln(b.largest) * i / 199)))::BIGINT AS caseload
    FROM benchmark AS b
    CROSS JOIN range(200) AS r(i)
    WHERE b.largest >= 1
)

SELECT
    g.caseload,
    b.p0,
    b.p0 + 1.96 * sqrt(b.p0 * (1 - b.p0) / g.caseload) AS limit95,
    b.p0 + 3.09 * sqrt(b.p0 * (1 - b.p0) / g.caseload) AS limit998
FROM grid AS g
CROSS JOIN benchmark AS b
WHERE b.p0 IS NOT NULL
ORDER BY g.caseload
