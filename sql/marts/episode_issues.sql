-- episode_issues: one row per episode-level data problem found while building episodes.
--   issue  what is wrong, in words a data lead can act on
SELECT
    client_id,
    episode_id,
    'discharge date before session 1' AS issue,
    discharge_date AS recorded_date,
    first_attended_date AS expected_on_or_after
FROM episodes
WHERE is_discharge_before_first_session
