-- dose_response: one row per started episode and session number 1…40 that has a score on the
-- plateau measure (docs/metrics/plateaus.md).
--   score                      the score at that session
--   is_reliable_improvement    that score is a reliable improvement on the episode's first score
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
--   client_id      whose episode it is: a load that touches a few clients replaces their rows alone
--                  (docs/operations.md#incremental-loads); the episode id is left out, as no report reads it
SELECT
    ss.client_id,
    ss.session_number,
    ss.score,
    ss.is_reliable_improvement,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.first_attended_date
FROM session_scores AS ss
INNER JOIN settings AS s ON ss.measure = s.plateau_measure
INNER JOIN episodes AS e USING (client_id, episode_id)
WHERE ss.session_number <= 40
