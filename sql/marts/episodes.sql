-- episodes: one row per episode (client_id, episode_id): one course of care for one client.
--   attended_sessions     attended sessions dated on or before the extract date E
--   past_appointments     appointments of any status dated on or before E (the Attendance page's
--                         unfiltered count of clients with a single appointment reads it)
--   therapist_id, clinic_id, first_session_type, cohort_month
--                         attribution: those of session 1 (null when not_started)
--   discharge_date        the latest discharge date recorded on the episode's rows
--   discharge_reason      the last (appointment order) non-null reason on a row carrying that date
--   has_future_booking    a `scheduled` appointment dated after E (a stale booking keeps nothing open)
--   status                not_started | open | closed (docs/metrics/episodes.md#status)
--   end_date, end_reason  for closed episodes: the discharge (reason or 'unknown'), or the last
--                         attended session with reason 'inactive'
--   is_discharge_before_first_session
--                         a data issue: the end date falls back to the last attended session
--   duration_days         end_date (closed) or E (open) minus first_attended_date
WITH appointment_facts AS (
    SELECT
        a.client_id,
        a.episode_id,
        count(*) AS appointments,
        count(*) FILTER (WHERE a.appointment_date <= s.extract_date) AS past_appointments,
        min(a.referral_date) AS referral_date,
        max(a.discharge_date) AS discharge_date,
        -- The last reason in (discharge date, appointment) order: the episode's reason when its
        -- date is the latest discharge date (one pass, where a join back to the rows carrying
        -- that date read ten million rows twice).
        arg_max(a.discharge_reason, (a.discharge_date, a.appointment_at, a.appointment_id))
            FILTER (WHERE a.discharge_reason IS NOT NULL AND a.discharge_date IS NOT NULL)
            AS last_reason,
        max(a.discharge_date) FILTER (WHERE a.discharge_reason IS NOT NULL) AS last_reason_date,
        coalesce(bool_or(a.status = 'scheduled' AND a.appointment_date > s.extract_date), false)
            AS has_future_booking
    FROM stg_appointments AS a
    CROSS JOIN settings AS s
    GROUP BY a.client_id, a.episode_id
),

session_facts AS (
    SELECT
        client_id,
        episode_id,
        count(*) AS attended_sessions,
        min(appointment_date) AS first_attended_date,
        max(appointment_date) AS last_attended_date,
        -- session 1's attribution (arg_min_null: a session 1 without a type gives no type)
        arg_min(therapist_id, session_number) AS therapist_id,
        arg_min(clinic_id, session_number) AS clinic_id,
        arg_min_null(session_type, session_number) AS first_session_type
    FROM sessions
    GROUP BY client_id, episode_id
),

classified AS (
    SELECT
        f.client_id,
        f.episode_id,
        sf.therapist_id,
        sf.clinic_id,
        sf.first_session_type,
        strftime(sf.first_attended_date, '%Y-%m') AS cohort_month,
        f.appointments,
        f.past_appointments,
        coalesce(sf.attended_sessions, 0) AS attended_sessions,
        sf.first_attended_date,
        sf.last_attended_date,
        f.referral_date,
        f.discharge_date,
        CASE WHEN f.last_reason_date = f.discharge_date THEN f.last_reason END AS discharge_reason,
        f.has_future_booking,
        CASE
            WHEN sf.attended_sessions IS NULL THEN 'not_started'
            WHEN f.discharge_date <= s.extract_date THEN 'closed'
            WHEN date_diff('day', sf.last_attended_date, s.extract_date) >= s.inactive_days
                AND NOT f.has_future_booking THEN 'closed'
            ELSE 'open'
        END AS status,
        sf.attended_sessions IS NOT NULL AND f.discharge_date <= s.extract_date AS is_discharged,
        coalesce(f.discharge_date < sf.first_attended_date, false) AS is_discharge_before_first_session,
        s.extract_date
    FROM appointment_facts AS f
    LEFT JOIN session_facts AS sf USING (client_id, episode_id)
    CROSS JOIN settings AS s
),

ended AS (
    SELECT
        *,
        CASE
            WHEN status <> 'closed' THEN NULL
            WHEN is_discharged AND NOT is_discharge_before_first_session THEN discharge_date
            ELSE last_attended_date
        END AS end_date,
        CASE
            WHEN status <> 'closed' THEN NULL
            WHEN is_discharged THEN coalesce(discharge_reason, 'unknown')
            ELSE 'inactive'
        END AS end_reason
    FROM classified
)

SELECT
    client_id,
    episode_id,
    therapist_id,
    clinic_id,
    first_session_type,
    cohort_month,
    status,
    appointments,
    past_appointments,
    attended_sessions,
    first_attended_date,
    last_attended_date,
    referral_date,
    discharge_date,
    discharge_reason,
    has_future_booking,
    is_discharge_before_first_session,
    end_date,
    end_reason,
    CASE WHEN status <> 'not_started'
        THEN date_diff('day', first_attended_date, coalesce(end_date, extract_date))
    END AS duration_days
FROM ended
