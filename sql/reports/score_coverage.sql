-- score_coverage: one row per measure of the catalogue, and the PHQ-9's item 9 (listed after the
-- PHQ-9): the attended sessions in scope and how many of them carry a score on it. The outcome
-- measures' counts are the outcomes table's scores per episode, added up (each is a count of the
-- episode's attended sessions scored on the measure): quicker than taking every session's list of
-- scores apart. The SRS and item 9 are columns of sessions.
WITH scoped_sessions AS (
    SELECT s.srs, s.phq9_item9
    FROM sessions AS s
    INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
        USING (client_id, episode_id)
),

session_counts AS (
    SELECT count(*) AS sessions, count(srs) AS srs, count(phq9_item9) AS phq9_item9
    FROM scoped_sessions
),

scored AS (
    SELECT measure, sum(scores) AS scored
    FROM outcomes
    WHERE in_scope(clinic_id, therapist_id, first_session_type, first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
    GROUP BY measure
    UNION ALL SELECT 'srs', srs FROM session_counts
    UNION ALL SELECT 'phq9_item9', phq9_item9 FROM session_counts
),

listed AS (
    SELECT measure, CAST(position AS DOUBLE) AS position FROM measures
    UNION ALL
    SELECT 'phq9_item9', coalesce((SELECT position FROM measures WHERE measure = 'phq9'), -1) + 0.5
)

SELECT l.measure, c.sessions, CAST(coalesce(s.scored, 0) AS BIGINT) AS scored
FROM listed AS l
CROSS JOIN session_counts AS c
LEFT JOIN scored AS s USING (measure)
ORDER BY l.position
