-- long_engagement: one row per started episode with at least `long_engagement_sessions`
-- attended sessions or a duration (as in time_to_discharge) of at least `long_engagement_days`
-- (docs/metrics/long-engagement.md).
--   reliable_improvement  any later score on the plateau measure is a reliable improvement on the first
--   plateaued             the episode plateaued (plateaus), false when it was not assessed
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
WITH improved AS (
    SELECT ss.client_id, ss.episode_id, bool_or(ss.is_reliable_improvement) AS reliable_improvement
    FROM session_scores AS ss
    INNER JOIN settings AS s ON ss.measure = s.plateau_measure
    WHERE ss.score_number > 1
    GROUP BY ss.client_id, ss.episode_id
)

SELECT
    e.client_id,
    e.episode_id,
    e.therapist_id,
    e.clinic_id,
    e.status,
    e.attended_sessions,
    e.duration_days,
    coalesce(i.reliable_improvement, false) AS reliable_improvement,
    coalesce(p.is_plateaued, false) AS plateaued,
    e.first_session_type,
    e.first_attended_date
FROM episodes AS e
CROSS JOIN settings AS s
LEFT JOIN improved AS i USING (client_id, episode_id)
LEFT JOIN plateaus AS p USING (client_id, episode_id)
WHERE e.status <> 'not_started'
    AND (e.attended_sessions >= s.long_engagement_sessions OR e.duration_days >= s.long_engagement_days)
