-- score_coverage: one row per measure: the attended sessions in scope and how many of them
-- carry a score on that measure.
WITH scoped_sessions AS (
    SELECT s.*
    FROM sessions AS s
    INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
        USING (client_id, episode_id)
)

SELECT measure, sessions, scored
FROM (
    SELECT
        count(*) AS sessions,
        count(phq9) AS phq9,
        count(phq9_item9) AS phq9_item9,
        count(gad7) AS gad7,
        count(core10) AS core10,
        count(ors) AS ors,
        count(srs) AS srs
    FROM scoped_sessions
)
UNPIVOT (scored FOR measure IN (phq9, phq9_item9, gad7, core10, ors, srs))
