-- attendance_funnel_limits: one row per point of the clinic funnel plot's limit curves: the
-- no-show benchmark p0 over the appointments in scope and its 95% and 99.8% upper limits at
-- about 200 denominators from 1 to the largest clinic's (geometrically spaced: a clinic can
-- have hundreds of thousands of appointments, and a curve needs no more points to be smooth).
-- adjusted_limit95 and adjusted_limit998 are the same limits widened by the between-clinic
-- variance tau2: p0 + z·√(p0·(1−p0)/n + tau2) (docs/metrics/attendance.md#overdispersion).
-- Same scope and formulas as attendance_by_clinic.
WITH clinics AS (
    SELECT
        a.clinic_id,
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

-- the clinics that estimate tau2, as attendance_by_clinic picks them: at least min caseload
-- attended or missed appointments, and a binomial variance s² above 0
eligible_clinics AS (
    SELECT
        c.clinic_id,
        (c.dna / c.kept_or_missed - b.p0) / sqrt(b.p0 * (1 - b.p0) / c.kept_or_missed) AS z,
        1 / (b.p0 * (1 - b.p0) / c.kept_or_missed) AS w  -- 1/s², written as attendance_by_clinic writes it
    FROM clinics AS c
    CROSS JOIN benchmark AS b
    CROSS JOIN settings AS st
    WHERE c.kept_or_missed >= coalesce($min_caseload, st.min_caseload) AND b.p0 * (1 - b.p0) > 0
),

adjustment AS (
    SELECT random_effects_tau2(winsorised_phi(list(z ORDER BY clinic_id)), list(w ORDER BY clinic_id)) AS tau2
    FROM eligible_clinics
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
    b.p0 + 3.09 * sqrt(b.p0 * (1 - b.p0) / g.caseload) AS limit998,
    b.p0 + 1.96 * sqrt(b.p0 * (1 - b.p0) / g.caseload + a.tau2) AS adjusted_limit95,
    b.p0 + 3.09 * sqrt(b.p0 * (1 - b.p0) / g.caseload + a.tau2) AS adjusted_limit998
FROM grid AS g
CROSS JOIN benchmark AS b
CROSS JOIN adjustment AS a
WHERE b.p0 IS NOT NULL
ORDER BY g.caseload
