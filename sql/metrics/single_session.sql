-- single_session: one row per started episode (open or closed), with the flags of
-- docs/metrics/single-session.md.
--   is_closed                  closed episodes are the denominator of every single-session rate
--   is_ended_after_one         closed after exactly one attended session
--   is_single_session_dropout  closed after one attended session and not ended by plan or onward
--                              referral: end_reason is dropout, inactive or unknown
--   cohort_month, clinic_id, therapist_id, first_session_type, first_attended_date  the episode's
--                  attribution, carried so that reports filter with in_scope() without joining episodes
--   case_mix_type, baseline_band, client_history
--                  the episode's case-mix stratum (docs/metrics/therapist-funnel.md#case-mix):
--                  first session type or 'unknown'; band of the first PHQ-9 score (minimal < 10,
--                  moderate 10-19, severe >= 20, missing); 'returning' when the client has another
--                  started episode with an earlier first attended date anywhere in the warehouse
--                  (decided here, before any filter), else 'new'
WITH first_phq9 AS (
    -- the episode's first PHQ-9 score: numbered 1 in session_scores (a filter, no second grouping)
    SELECT client_id, episode_id, score
    FROM session_scores
    WHERE measure = 'phq9' AND score_number = 1
)

SELECT
    e.client_id,
    e.episode_id,
    e.status = 'closed' AS is_closed,
    e.status = 'closed' AND e.attended_sessions = 1 AS is_ended_after_one,
    e.status = 'closed' AND e.attended_sessions = 1
        AND e.end_reason IN ('dropout', 'inactive', 'unknown') AS is_single_session_dropout,
    e.cohort_month,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.first_attended_date,
    coalesce(e.first_session_type, 'unknown') AS case_mix_type,
    CASE
        WHEN p.score IS NULL THEN 'missing'
        WHEN p.score < 10 THEN 'minimal'
        WHEN p.score < 20 THEN 'moderate'
        ELSE 'severe'
    END AS baseline_band,
    CASE
        WHEN e.first_attended_date > min(e.first_attended_date) OVER (PARTITION BY e.client_id) THEN 'returning'
        ELSE 'new'
    END AS client_history
FROM episodes AS e
LEFT JOIN first_phq9 AS p ON e.client_id = p.client_id AND e.episode_id = p.episode_id
WHERE e.status <> 'not_started'
