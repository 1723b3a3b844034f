-- dose_response: one row per started episode and session number 1…40 that has a score on the
-- plateau measure (SPEC §4.4).
--   score                      the score at that session
--   is_reliable_improvement    that score is a reliable improvement on the episode's first score
SELECT
    ss.client_id,
    ss.episode_id,
    ss.session_number,
    ss.score,
    ss.is_reliable_improvement
FROM session_scores AS ss
INNER JOIN settings AS s ON ss.measure = s.plateau_measure
WHERE ss.session_number <= 40
