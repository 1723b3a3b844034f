-- time_to_discharge: one row per started episode (docs/metrics/time-to-discharge.md).
--   duration_days  end_date - first_attended_date for closed episodes (an event), extract date -
--                  first_attended_date for open ones (censored)
--   is_event       the episode is closed
--   end_group      planned, dropout (dropout or inactive) or other (referred_on, other, unknown) for a
--                  closed episode, NULL for an open one (docs/metrics/time-to-discharge.md#split-by-end-reason)
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
SELECT
    client_id,
    episode_id,
    duration_days,
    status = 'closed' AS is_event,
    CASE
        WHEN status <> 'closed' THEN NULL
        WHEN end_reason = 'planned' THEN 'planned'
        WHEN end_reason IN ('dropout', 'inactive') THEN 'dropout'
        ELSE 'other'
    END AS end_group,
    attended_sessions,
    clinic_id,
    therapist_id,
    first_session_type,
    first_attended_date
FROM episodes
WHERE status <> 'not_started'
