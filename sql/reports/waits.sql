-- waits: one row: the waits of the started episodes in scope (docs/metrics/waits.md).
--   waited, median_wait           episodes with a wait from referral to session 1, and its median
--   within_6_weeks, within_18_weeks  of those, waits of at most 42 and 126 days
--   second_sessions, median_second_gap  episodes with a session 2, and the median days from session 1
--   over_28_days, over_90_days   of those, gaps of more than 28 and 90 days
-- DuckDB's median is the mean of the two middle values for an even count (x.5 days), null for none.
SELECT
    count(w.wait_to_first_days) AS waited,
    median(w.wait_to_first_days) AS median_wait,
    count(*) FILTER (WHERE w.is_within_6_weeks) AS within_6_weeks,
    count(*) FILTER (WHERE w.is_within_18_weeks) AS within_18_weeks,
    count(w.second_session_days) AS second_sessions,
    median(w.second_session_days) AS median_second_gap,
    count(*) FILTER (WHERE w.is_second_gap_over_28_days) AS over_28_days,
    count(*) FILTER (WHERE w.is_second_gap_over_90_days) AS over_90_days
FROM waits AS w
WHERE in_scope(w.clinic_id, w.therapist_id, w.first_session_type, w.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
