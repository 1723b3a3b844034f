-- session_scores: one row per attended session and outcome measure scored at it (every measure of
-- the catalogue with a reliable change: not the SRS, which rates the session's alliance).
--   score_number        1 for the episode's first score on this measure, 2 for the next, …
--                       (sessions without a score on the measure are skipped)
--   improvement         change from the episode's first score on this measure to this one, in
--                       the better direction (positive = better, whatever the measure's direction)
--                       rounded to 6 decimals: scores are recorded to a decimal or two, and a
--                       binary difference like 20.4 - 15.4 = 4.999999999999998 is a 5-point change
--   is_in_clinical_range, is_reliable_improvement (improvement >= reliable change)
WITH long_scores AS (
    SELECT client_id, episode_id, session_number, appointment_date, unnest(scores, recursive := true)
    FROM sessions
),

numbered AS (
    SELECT
        l.*,
        row_number() OVER (PARTITION BY l.client_id, l.episode_id, l.measure ORDER BY l.session_number)
            AS score_number,
        first(l.score) OVER (PARTITION BY l.client_id, l.episode_id, l.measure ORDER BY l.session_number)
            AS first_score
    FROM long_scores AS l
),

changed AS (
    SELECT
        n.*,
        round(CASE WHEN m.is_higher_better THEN n.score - n.first_score ELSE n.first_score - n.score END, 6)
            AS improvement,
        m.is_higher_better,
        m.caseness_threshold,
        m.reliable_change
    FROM numbered AS n
    INNER JOIN measures AS m USING (measure)
    WHERE m.reliable_change IS NOT NULL
)

SELECT
    c.client_id,
    c.episode_id,
    c.measure,
    c.session_number,
    c.appointment_date,
    c.score_number,
    c.score,
    c.improvement,
    CASE WHEN c.is_higher_better THEN c.score < c.caseness_threshold
        ELSE c.score >= c.caseness_threshold END AS is_in_clinical_range,
    c.improvement >= c.reliable_change AS is_reliable_improvement
FROM changed AS c
