-- plateau_episodes: one row per plateaued episode in scope (docs/metrics/plateaus.md), by client_id then
-- episode_id; plateau_summary counts them.
SELECT
    p.client_id,
    p.episode_id,
    p.therapist_id,
    p.clinic_id,
    p.status,
    p.attended_sessions,
    p.plateau_session,
    p.plateau_end_session,
    p.sessions_after_plateau
FROM plateaus AS p
WHERE p.is_plateaued
    AND in_scope(p.clinic_id, p.therapist_id, p.first_session_type, p.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
ORDER BY p.client_id, p.episode_id
