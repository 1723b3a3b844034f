-- plateau_episodes: one row per plateaued episode in scope (SPEC §4.4), by client_id then
-- episode_id; plateau_summary counts them.
SELECT
    p.client_id,
    p.episode_id,
    e.therapist_id,
    e.clinic_id,
    p.status,
    p.attended_sessions,
    p.plateau_session,
    p.plateau_end_session,
    p.sessions_after_plateau
FROM plateaus AS p
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
WHERE p.is_plateaued
ORDER BY p.client_id, p.episode_id
