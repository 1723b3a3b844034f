-- episode_issues: one row per episode-level data problem found while building episodes.
--   issue  what is wrong, in words a data lead can act on
--   recorded_date  the date as recorded; expected_on_or_after / expected_on_or_before  the date it
--                  should not fall before / after (the other is null)
SELECT
    client_id,
    episode_id,
    'discharge date before session 1' AS issue,
    discharge_date AS recorded_date,
    first_attended_date AS expected_on_or_after,
    NULL::DATE AS expected_on_or_before
FROM episodes
WHERE is_discharge_before_first_session
UNION ALL
-- a referral cannot follow the session it led to: the episode has no wait to its first session
-- (docs/metrics/waits.md#referral-to-first-session)
SELECT
    client_id,
    episode_id,
    'referral date after session 1' AS issue,
    referral_date AS recorded_date,
    NULL::DATE AS expected_on_or_after,
    first_attended_date AS expected_on_or_before
FROM episodes
WHERE referral_date > first_attended_date
