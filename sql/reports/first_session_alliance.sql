-- first_session_alliance: one row per session-1 SRS score (whole points, 0–40) in scope:
-- how many episodes rated the alliance at that score in their first session.
SELECT
    floor(s.srs) AS srs,
    count(*) AS episodes
FROM sessions AS s
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
WHERE s.session_number = 1 AND s.srs IS NOT NULL
GROUP BY floor(s.srs)
ORDER BY srs
