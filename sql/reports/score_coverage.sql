-- score_coverage: one row per measure of the catalogue, and the PHQ-9's item 9: the attended
-- sessions in scope and how many of them carry a score on it.
WITH scoped_sessions AS (
    SELECT s.*
    FROM sessions AS s
    INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
        USING (client_id, episode_id)
)

SELECT m.measure, t.sessions, count(u.measure) AS scored
FROM (SELECT count(*) AS sessions FROM scoped_sessions) AS t
-- (item 9 listed after the measure it belongs to)
CROSS JOIN (SELECT 'phq9_item9' AS measure, coalesce((SELECT position FROM measures WHERE measure = 'phq9'), -1) + 0.5 AS position
            UNION ALL SELECT measure, position FROM measures) AS m
LEFT JOIN (
    SELECT unnest(scores, recursive := true) FROM scoped_sessions
    UNION ALL
    SELECT 'phq9_item9', CAST(phq9_item9 AS DOUBLE) FROM scoped_sessions WHERE phq9_item9 IS NOT NULL
) AS u USING (measure)
GROUP BY m.measure, m.position, t.sessions
ORDER BY m.position
