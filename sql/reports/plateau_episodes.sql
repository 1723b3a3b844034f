-- plateau_episodes: one row per episode in scope assessed for plateaus (SPEC §4.4), plateaued
-- or not; the report counts them and lists the plateaued ones.
SELECT
    p.client_id,
    p.episode_id,
    e.therapist_id,
    e.clinic_id,
    p.status,
    p.attended_sessions,
    p.is_plateaued,
    p.plateau_session,
    p.plateau_end_session,
    p.sessions_after_plateau
FROM plateaus AS p
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
ORDER BY p.client_id, p.episode_id
