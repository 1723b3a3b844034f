-- waits_by_month: referral to session 1 by the month of session 1, for the started episodes in scope
-- with a wait (docs/metrics/waits.md#standards), in month order.
--   waited                            episodes with a wait from referral to session 1
--   within_6_weeks, within_18_weeks   of those, waits of at most 42 and 126 days
SELECT
    date_trunc('month', w.first_attended_date)::DATE AS month,
    count(*) AS waited,
    count(*) FILTER (WHERE w.is_within_6_weeks) AS within_6_weeks,
    count(*) FILTER (WHERE w.is_within_18_weeks) AS within_18_weeks
FROM waits AS w
WHERE w.wait_to_first_days IS NOT NULL
    AND in_scope(w.clinic_id, w.therapist_id, w.first_session_type, w.first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY month
ORDER BY month
