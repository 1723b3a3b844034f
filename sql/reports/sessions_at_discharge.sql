-- sessions_at_discharge: one row per number of attended sessions among closed episodes in scope.
SELECT t.attended_sessions, count(*) AS episodes
FROM time_to_discharge AS t
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
WHERE t.is_event
GROUP BY t.attended_sessions
ORDER BY t.attended_sessions
