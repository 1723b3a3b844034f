-- time_to_discharge: one row per started episode (SPEC §4.5).
--   duration_days  end_date - first_attended_date for closed episodes (an event), extract date -
--                  first_attended_date for open ones (censored)
--   is_event       the episode is closed
SELECT
    client_id,
    episode_id,
    duration_days,
    status = 'closed' AS is_event,
    attended_sessions
FROM episodes
WHERE status <> 'not_started'
