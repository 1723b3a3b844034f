-- second_session_gaps: how many started episodes in scope had each gap, in days, from session 1 to
-- session 2 (docs/metrics/waits.md#hidden-wait), in day order; episodes without a session 2 are not counted.
SELECT w.second_session_days AS days, count(*) AS episodes
FROM waits AS w
WHERE w.second_session_days IS NOT NULL
    AND in_scope(w.clinic_id, w.therapist_id, w.first_session_type, w.first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY w.second_session_days
ORDER BY w.second_session_days
