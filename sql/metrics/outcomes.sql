-- outcomes: one row per started episode and measure with at least one score (docs/metrics/outcomes.md).
--   first_score, second_score, last_score  at the earliest, second and latest scored sessions
--   is_paired                  two or more attended sessions have the measure
--   is_case_at_start           the first score is in the clinical range (is_case_at_end: the last)
--   is_reliable_improvement    paired, and last vs first moved in the better direction by at
--                              least the reliable change (is_reliable_deterioration: worse direction)
--   is_recovery                paired, first in the clinical range, last out of it
--   is_reliable_recovery       recovery and reliable improvement
--   early_change               second score minus first, in points (raw direction)
--   is_early_reliable_improvement  the second score is already a reliable improvement on the first
-- Rates count only closed paired episodes (is_closed); early change counts every started
-- episode with two scores.
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
-- (The first score is the one numbered 1, read with a filter: cheaper than arg_min's comparisons.)
WITH per_episode AS (
    SELECT
        client_id,
        episode_id,
        measure,
        count(*) AS scores,
        max(score) FILTER (WHERE score_number = 1) AS first_score,
        max(score) FILTER (WHERE score_number = 2) AS second_score,
        arg_max(score, score_number) AS last_score,
        bool_or(is_in_clinical_range) FILTER (WHERE score_number = 1) AS is_case_at_start,
        arg_max(is_in_clinical_range, score_number) AS is_case_at_end,
        arg_max(improvement, score_number) AS improvement,
        bool_or(is_reliable_improvement) FILTER (WHERE score_number = 2) AS is_early_reliable_improvement
    FROM session_scores
    GROUP BY client_id, episode_id, measure
)

SELECT
    p.client_id,
    p.episode_id,
    p.measure,
    e.status = 'closed' AS is_closed,
    p.scores,
    p.first_score,
    p.second_score,
    p.last_score,
    p.scores >= 2 AS is_paired,
    p.is_case_at_start,
    p.is_case_at_end,
    p.scores >= 2 AND p.improvement >= m.reliable_change AS is_reliable_improvement,
    p.scores >= 2 AND -p.improvement >= m.reliable_change AS is_reliable_deterioration,
    p.scores >= 2 AND p.is_case_at_start AND NOT p.is_case_at_end AS is_recovery,
    p.scores >= 2 AND p.is_case_at_start AND NOT p.is_case_at_end
        AND p.improvement >= m.reliable_change AS is_reliable_recovery,
    p.second_score - p.first_score AS early_change,
    p.is_early_reliable_improvement,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.first_attended_date
FROM per_episode AS p
INNER JOIN measures AS m USING (measure)
INNER JOIN episodes AS e USING (client_id, episode_id)
