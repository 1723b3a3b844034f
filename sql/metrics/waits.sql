-- waits: one row per started episode (open or closed), with its waits (docs/metrics/waits.md).
--   referral_date         the earliest referral date on the episode's rows
--   wait_to_first_days    session 1's date minus the referral date; null with no referral date, or when
--                         the referral is dated after session 1 (a data issue: episode_issues lists it)
--   next_booking_days     session 1's date to the date of the episode's next appointment in appointment
--                         order (date-time, then appointment_id), of any status, bookings still to come
--                         included; null when nothing was booked after session 1
--   next_booking_band     0-14, 15-28, 29-90, over 90 (days) or none booked
--   second_session_days   session 1 to session 2, for episodes with two or more attended sessions
--   is_within_6_weeks, is_within_18_weeks
--                         a wait of at most 42 / 126 days (docs/metrics/waits.md#standards); null with no wait
--   is_second_gap_over_28_days, is_second_gap_over_90_days
--                         a second-session gap of more than 28 / 90 days; null with no session 2
--   is_booked_over_28_days  the next booking after session 1 more than 28 days away; false with none booked
-- The thresholds live here only: every waits report counts these flags.
--   is_closed, is_single_session_dropout
--                         as in single_session (the dropout-by-next-booking rates read them)
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution, for in_scope()
WITH session_one AS (
    SELECT client_id, episode_id, appointment_at, appointment_id
    FROM sessions
    WHERE session_number = 1
),

second_session AS (
    SELECT client_id, episode_id, appointment_date AS second_session_date
    FROM sessions
    WHERE session_number = 2
),

next_booking AS (
    -- the first appointment after session 1 in appointment order: same-day ones later in the day count
    SELECT
        a.client_id,
        a.episode_id,
        arg_min(a.appointment_date, (a.appointment_at, a.appointment_id)) AS next_booking_date
    FROM stg_appointments AS a
    JOIN session_one AS s ON a.client_id = s.client_id AND a.episode_id = s.episode_id
    WHERE a.appointment_at > s.appointment_at
        OR (a.appointment_at = s.appointment_at AND a.appointment_id > s.appointment_id)
    GROUP BY a.client_id, a.episode_id
),

days AS (
    SELECT
        s.client_id,
        s.episode_id,
        s.clinic_id,
        s.therapist_id,
        s.first_session_type,
        s.first_attended_date,
        s.is_closed,
        s.is_single_session_dropout,
        e.referral_date,
        CASE WHEN e.referral_date <= s.first_attended_date
            THEN date_diff('day', e.referral_date, s.first_attended_date) END AS wait_to_first_days,
        date_diff('day', s.first_attended_date, n.next_booking_date) AS next_booking_days,
        date_diff('day', s.first_attended_date, t.second_session_date) AS second_session_days
    FROM single_session AS s
    JOIN episodes AS e ON s.client_id = e.client_id AND s.episode_id = e.episode_id
    LEFT JOIN next_booking AS n ON s.client_id = n.client_id AND s.episode_id = n.episode_id
    LEFT JOIN second_session AS t ON s.client_id = t.client_id AND s.episode_id = t.episode_id
)

SELECT
    client_id,
    episode_id,
    clinic_id,
    therapist_id,
    first_session_type,
    first_attended_date,
    is_closed,
    is_single_session_dropout,
    referral_date,
    wait_to_first_days,
    next_booking_days,
    CASE
        WHEN next_booking_days IS NULL THEN 'none booked'
        WHEN next_booking_days <= 14 THEN '0-14'
        WHEN next_booking_days <= 28 THEN '15-28'
        WHEN next_booking_days <= 90 THEN '29-90'
        ELSE 'over 90'
    END AS next_booking_band,
    second_session_days,
    wait_to_first_days <= 42 AS is_within_6_weeks,
    wait_to_first_days <= 126 AS is_within_18_weeks,
    second_session_days > 28 AS is_second_gap_over_28_days,
    second_session_days > 90 AS is_second_gap_over_90_days,
    coalesce(next_booking_days > 28, false) AS is_booked_over_28_days
FROM days
