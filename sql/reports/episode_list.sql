-- episode_list: one row per episode in scope, with its single-session flags, for drill-down
-- and the Explore page; by client_id then episode_id. $limit caps the rows returned.
SELECT
    e.client_id,
    e.episode_id,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.status,
    e.attended_sessions,
    e.first_attended_date,
    e.last_attended_date,
    e.end_date,
    e.end_reason,
    e.duration_days,
    coalesce(s.is_single_session_dropout, false) AS is_single_session_dropout,
    e.has_future_booking
FROM scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
LEFT JOIN single_session AS s USING (client_id, episode_id)
ORDER BY e.client_id, e.episode_id
LIMIT $limit
