-- single_session: one row per breakdown value of the single-session rates (docs/metrics/single-session.md):
-- breakdown 'overall' (key null), 'month' (cohort month), 'clinic', 'therapist',
-- 'first_session_type' (key null = no session type recorded).
--   closed      the denominator; ended_after_one, dropout the numerators; open: still open
SELECT
    CASE
        WHEN grouping(s.cohort_month) = 0 THEN 'month'
        WHEN grouping(s.clinic_id) = 0 THEN 'clinic'
        WHEN grouping(s.therapist_id) = 0 THEN 'therapist'
        WHEN grouping(s.first_session_type) = 0 THEN 'first_session_type'
        ELSE 'overall'
    END AS breakdown,
    coalesce(s.cohort_month, s.clinic_id, s.therapist_id, s.first_session_type) AS key,
    count(*) FILTER (WHERE s.is_closed) AS closed,
    count(*) FILTER (WHERE s.is_ended_after_one) AS ended_after_one,
    count(*) FILTER (WHERE s.is_single_session_dropout) AS dropout,
    count(*) FILTER (WHERE NOT s.is_closed) AS open
FROM single_session AS s
WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY GROUPING SETS ((), (s.cohort_month), (s.clinic_id), (s.therapist_id), (s.first_session_type))
ORDER BY breakdown, key NULLS LAST
