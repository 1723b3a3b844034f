-- plateaus: one row per started episode with at least `plateau_window` scores on the plateau
-- measure (the episodes "assessed", docs/metrics/plateaus.md).
--   A plateau window is `plateau_window` consecutive scores (unscored sessions skipped), all in
--   the clinical range, whose max - min is below the measure's reliable change (the spread is
--   rounded to 6 decimals, as improvement is in session_scores, so 20.4 - 15.4 counts as 5).
--   is_plateaued             any window qualifies
--   plateau_session          session number of the first score of the first qualifying window
--   plateau_end_session      session number of that window's last score
--   sessions_after_plateau   attended_sessions - plateau_end_session
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
WITH scores AS (
    SELECT ss.*
    FROM session_scores AS ss
    INNER JOIN settings AS s ON ss.measure = s.plateau_measure
),

windows AS (
    SELECT
        client_id,
        episode_id,
        score_number,
        session_number AS window_first_session,
        last_value(session_number) OVER w AS window_last_session,
        count(*) OVER w AS window_scores,
        round(max(score) OVER w - min(score) OVER w, 6) AS window_spread,
        bool_and(is_in_clinical_range) OVER w AS is_window_in_clinical_range
    FROM scores
    WINDOW w AS (
        PARTITION BY client_id, episode_id ORDER BY score_number
        ROWS BETWEEN CURRENT ROW AND (SELECT plateau_window - 1 FROM settings) FOLLOWING
    )
),

per_episode AS (
    SELECT
        w.client_id,
        w.episode_id,
        count(*) AS scores,
        min(w.score_number) FILTER (WHERE w.window_scores = s.plateau_window
            AND w.is_window_in_clinical_range AND w.window_spread < m.reliable_change) AS first_plateau_score,
        any_value(s.plateau_window) AS plateau_window
    FROM windows AS w
    CROSS JOIN settings AS s
    INNER JOIN measures AS m ON m.measure = s.plateau_measure
    GROUP BY w.client_id, w.episode_id
)

SELECT
    p.client_id,
    p.episode_id,
    e.status,
    e.attended_sessions,
    p.scores,
    p.first_plateau_score IS NOT NULL AS is_plateaued,
    w.window_first_session AS plateau_session,
    w.window_last_session AS plateau_end_session,
    e.attended_sessions - w.window_last_session AS sessions_after_plateau,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.first_attended_date
FROM per_episode AS p
INNER JOIN episodes AS e USING (client_id, episode_id)
LEFT JOIN windows AS w
    ON w.client_id = p.client_id AND w.episode_id = p.episode_id AND w.score_number = p.first_plateau_score
WHERE p.scores >= p.plateau_window
