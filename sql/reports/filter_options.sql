-- filter_options: one row per (clinic, therapist, first session type) among started episodes,
-- with the range of first attended dates: what the dashboard's filters can offer ($clinics: the
-- clinics the user may see, NULL for all).
SELECT
    clinic_id,
    therapist_id,
    first_session_type,
    min(first_attended_date) AS first_date,
    max(first_attended_date) AS last_date,
    count(*) AS episodes
FROM scoped_episodes($clinics, NULL, NULL, NULL, NULL)
WHERE status <> 'not_started'
GROUP BY ALL
ORDER BY clinic_id, therapist_id, first_session_type NULLS LAST
