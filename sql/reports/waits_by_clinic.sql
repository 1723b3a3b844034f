-- waits_by_clinic: the waits of the started episodes in scope, one row per clinic of session 1
-- (docs/metrics/waits.md), in clinic order. Counts as in the waits report, plus the closed episodes
-- and their single-session dropouts (docs/metrics/single-session.md#the-two-rates).
--   waited, within_6_weeks, within_18_weeks      waits from referral to session 1, and those of at most 42 and 126 days
--   second_sessions, median_second_gap, over_28_days, over_90_days   the gap from session 1 to session 2
--   booked_over_28_days  closed episodes whose next booking after session 1 was more than 28 days away
--   dropouts, closed     single-session dropouts among the closed episodes
SELECT
    w.clinic_id,
    count(w.wait_to_first_days) AS waited,
    count(*) FILTER (WHERE w.is_within_6_weeks) AS within_6_weeks,
    count(*) FILTER (WHERE w.is_within_18_weeks) AS within_18_weeks,
    count(w.second_session_days) AS second_sessions,
    median(w.second_session_days) AS median_second_gap,
    count(*) FILTER (WHERE w.is_second_gap_over_28_days) AS over_28_days,
    count(*) FILTER (WHERE w.is_second_gap_over_90_days) AS over_90_days,
    count(*) FILTER (WHERE w.is_closed AND w.is_booked_over_28_days) AS booked_over_28_days,
    count(*) FILTER (WHERE w.is_closed AND w.is_single_session_dropout) AS dropouts,
    count(*) FILTER (WHERE w.is_closed) AS closed
FROM waits AS w
WHERE in_scope(w.clinic_id, w.therapist_id, w.first_session_type, w.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY w.clinic_id
ORDER BY w.clinic_id
