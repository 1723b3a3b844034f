-- therapist_funnel: one row per therapist with a closed episode in scope (docs/metrics/therapist-funnel.md).
--   numerator / denominator / rate  single-session dropout among the therapist's closed episodes
--   p0        the benchmark: all dropout / all closed over the episodes selected by every filter
--             except the therapist filter (which only picks the therapists listed)
--   limit95, limit998   p0 + z·sqrt(p0·(1−p0)/denominator), z = 1.96 and 3.09
--   flag      insufficient (denominator < min caseload), alarm (rate > limit998),
--             alert (rate > limit95) or none
WITH benchmark AS (
    SELECT
        count(*) FILTER (WHERE s.is_single_session_dropout) AS numerator,
        count(*) FILTER (WHERE s.is_closed) AS denominator
    FROM single_session AS s
    WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                   $clinics, NULL, $from_date, $to_date, $session_types)
),

therapists AS (
    SELECT
        s.therapist_id,
        count(*) FILTER (WHERE s.is_single_session_dropout) AS numerator,
        count(*) FILTER (WHERE s.is_closed) AS denominator
    FROM single_session AS s
    WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
    GROUP BY s.therapist_id
    HAVING count(*) FILTER (WHERE s.is_closed) > 0
),

limits AS (
    SELECT
        t.therapist_id,
        t.numerator,
        t.denominator,
        t.numerator / t.denominator AS rate,
        b.numerator / b.denominator AS p0,
        coalesce($min_caseload, st.min_caseload) AS min_caseload
    FROM therapists AS t
    CROSS JOIN benchmark AS b
    CROSS JOIN settings AS st
)

SELECT
    therapist_id,
    numerator,
    denominator,
    rate,
    p0,
    p0 + 1.96 * sqrt(p0 * (1 - p0) / denominator) AS limit95,
    p0 + 3.09 * sqrt(p0 * (1 - p0) / denominator) AS limit998,
    CASE
        WHEN denominator < min_caseload THEN 'insufficient'
        WHEN rate > p0 + 3.09 * sqrt(p0 * (1 - p0) / denominator) THEN 'alarm'
        WHEN rate > p0 + 1.96 * sqrt(p0 * (1 - p0) / denominator) THEN 'alert'
        ELSE 'none'
    END AS flag
FROM limits
ORDER BY therapist_id
