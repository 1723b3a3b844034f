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
-- The overdispersion allowance (docs/metrics/attendance.md#overdispersion):
--   z                   (rate − p0) / s, s² = p0·(1−p0)/denominator (null when s² = 0)
--   eligible, phi, tau2 the same on every row: over the clinics in scope with at least min caseload
--                       attended or missed appointments and s² > 0 (eligible = I of them); I < 10:
--                       phi null and tau2 0; else phi = mean of the Winsorised z² (10% from each
--                       end) and, with w = 1/s², tau2 = (I·phi − (I − 1)) / (Σw − Σw²/Σw) when
--                       I·phi > I − 1, else 0 (sql/macros/overdispersion.sql)
--   adjusted_z          (rate − p0) / √(s² + tau2) (null when s² = 0)
--   adjusted_limit95, adjusted_limit998   p0 + z·√(s² + tau2), z = 1.96 and 3.09
--   adjusted_flag       as flag, against the adjusted limits: with tau2 = 0 it is flag
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
        sum(c.dna) OVER () / nullif(sum(c.attended + c.dna) OVER (), 0) AS p0,
        coalesce($min_caseload, st.min_caseload) AS min_caseload
    FROM clinics AS c
    CROSS JOIN settings AS st
),

-- s² = p0·(1−p0)/n, the binomial variance of a clinic's rate: null when it is 0 (nothing to divide by)
spread AS (
    SELECT
        r.*,
        r.numerator / nullif(r.denominator, 0) AS rate,
        nullif(r.p0 * (1 - r.p0) / nullif(r.denominator, 0), 0) AS variance,
        (r.numerator / nullif(r.denominator, 0) - r.p0) / sqrt(variance) AS z
    FROM rated AS r
),

dispersion AS (
    SELECT
        count(*) AS eligible,
        winsorised_phi(list(z ORDER BY clinic_id)) AS phi,
        list(1 / variance ORDER BY clinic_id) AS weights
    FROM spread
    WHERE denominator >= min_caseload AND variance IS NOT NULL
),

adjustment AS (
    SELECT eligible, phi, random_effects_tau2(phi, weights) AS tau2
    FROM dispersion
)

SELECT
    s.clinic_id,
    s.appointments,
    s.attended,
    s.dna,
    s.cancelled_client,
    s.cancelled_clinic,
    s.unrecorded,
    s.numerator,
    s.denominator,
    s.rate,
    s.p0,
    s.p0 + 1.96 * sqrt(s.p0 * (1 - s.p0) / nullif(s.denominator, 0)) AS limit95,
    s.p0 + 3.09 * sqrt(s.p0 * (1 - s.p0) / nullif(s.denominator, 0)) AS limit998,
    CASE
        WHEN s.denominator < s.min_caseload THEN 'insufficient'
        WHEN s.numerator / s.denominator > s.p0 + 3.09 * sqrt(s.p0 * (1 - s.p0) / s.denominator) THEN 'alarm'
        WHEN s.numerator / s.denominator > s.p0 + 1.96 * sqrt(s.p0 * (1 - s.p0) / s.denominator) THEN 'alert'
        ELSE 'none'
    END AS flag,
    s.z,
    (s.rate - s.p0) / sqrt(s.variance + a.tau2) AS adjusted_z,
    s.p0 + 1.96 * sqrt(s.p0 * (1 - s.p0) / nullif(s.denominator, 0) + a.tau2) AS adjusted_limit95,
    s.p0 + 3.09 * sqrt(s.p0 * (1 - s.p0) / nullif(s.denominator, 0) + a.tau2) AS adjusted_limit998,
    CASE
        WHEN s.denominator < s.min_caseload THEN 'insufficient'
        WHEN s.rate > s.p0 + 3.09 * sqrt(s.p0 * (1 - s.p0) / s.denominator + a.tau2) THEN 'alarm'
        WHEN s.rate > s.p0 + 1.96 * sqrt(s.p0 * (1 - s.p0) / s.denominator + a.tau2) THEN 'alert'
        ELSE 'none'
    END AS adjusted_flag,
    a.eligible,
    a.phi,
    a.tau2
FROM spread AS s
CROSS JOIN adjustment AS a
ORDER BY s.clinic_id
