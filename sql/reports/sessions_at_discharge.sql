-- sessions_at_discharge: one row per number of attended sessions among closed episodes in scope.
SELECT t.attended_sessions, count(*) AS episodes
FROM time_to_discharge AS t
WHERE t.is_event
    AND in_scope(t.clinic_id, t.therapist_id, t.first_session_type, t.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY t.attended_sessions
ORDER BY t.attended_sessions
