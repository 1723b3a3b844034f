-- single_session: one row per started episode (open or closed), with the flags of
-- docs/metrics/single-session.md.
--   is_closed                  closed episodes are the denominator of every single-session rate
--   is_ended_after_one         closed after exactly one attended session
--   is_single_session_dropout  closed after one attended session and not ended by plan or onward
--                              referral: end_reason is dropout, inactive or unknown
--   cohort_month, clinic_id, therapist_id, first_session_type, first_attended_date  the episode's
--                  attribution, carried so that reports filter with in_scope() without joining episodes
SELECT
    client_id,
    episode_id,
    status = 'closed' AS is_closed,
    status = 'closed' AND attended_sessions = 1 AS is_ended_after_one,
    status = 'closed' AND attended_sessions = 1
        AND end_reason IN ('dropout', 'inactive', 'unknown') AS is_single_session_dropout,
    cohort_month,
    clinic_id,
    therapist_id,
    first_session_type,
    first_attended_date
FROM episodes
WHERE status <> 'not_started'
