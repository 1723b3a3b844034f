-- funnel_limits: one row per caseload 1…(largest therapist caseload in scope): the benchmark
-- p0 and its 95% and 99.8% upper control limits, the curves of the funnel plot (docs/metrics/therapist-funnel.md).
-- p0 is computed over the episodes selected by every filter except the therapist filter.
WITH benchmark AS (
    SELECT
        count(*) FILTER (WHERE s.is_single_session_dropout) / count(*) FILTER (WHERE s.is_closed) AS p0
    FROM single_session AS s
    WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                   $clinics, NULL, $from_date, $to_date, $session_types)
),

largest AS (
    SELECT max(closed) AS caseload
    FROM (
        SELECT count(*) FILTER (WHERE s.is_closed) AS closed
        FROM single_session AS s
        WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                       $clinics, $therapists, $from_date, $to_date, $session_types)
        GROUP BY s.therapist_id
    )
)

SELECT
    n.caseload,
    b.p0,
    binomial_limit(b.p0, n.caseload, 1.96) AS limit95,
    binomial_limit(b.p0, n.caseload, 3.09) AS limit998
FROM largest AS l
CROSS JOIN benchmark AS b
CROSS JOIN LATERAL (SELECT unnest(range(1, l.caseload + 1)) AS caseload) AS n
WHERE b.p0 IS NOT NULL
ORDER BY n.caseload
