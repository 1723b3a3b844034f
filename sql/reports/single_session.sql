-- single_session: one row per breakdown value of the single-session rates (SPEC §4.1):
-- breakdown 'overall' (key null), 'month' (cohort month), 'clinic', 'therapist',
-- 'first_session_type' (key null = no session type recorded).
--   closed      the denominator; ended_after_one, dropout the numerators; open: still open
SELECT
    CASE
        WHEN grouping(e.cohort_month) = 0 THEN 'month'
        WHEN grouping(e.clinic_id) = 0 THEN 'clinic'
        WHEN grouping(e.therapist_id) = 0 THEN 'therapist'
        WHEN grouping(e.first_session_type) = 0 THEN 'first_session_type'
        ELSE 'overall'
    END AS breakdown,
    coalesce(e.cohort_month, e.clinic_id, e.therapist_id, e.first_session_type) AS key,
    count(*) FILTER (WHERE s.is_closed) AS closed,
    count(*) FILTER (WHERE s.is_ended_after_one) AS ended_after_one,
    count(*) FILTER (WHERE s.is_single_session_dropout) AS dropout,
    count(*) FILTER (WHERE NOT s.is_closed) AS open
FROM single_session AS s
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
GROUP BY GROUPING SETS ((), (e.cohort_month), (e.clinic_id), (e.therapist_id), (e.first_session_type))
ORDER BY breakdown, key NULLS LAST
