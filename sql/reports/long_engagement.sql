-- long_engagement: one row per long-engaged episode in scope (docs/metrics/long-engagement.md),
-- by client_id then episode_id.
SELECT
    l.client_id,
    l.episode_id,
    l.therapist_id,
    l.clinic_id,
    l.status,
    l.attended_sessions,
    l.duration_days,
    l.reliable_improvement,
    l.plateaued
FROM long_engagement AS l
WHERE in_scope(l.clinic_id, l.therapist_id, l.first_session_type, l.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
ORDER BY l.client_id, l.episode_id
