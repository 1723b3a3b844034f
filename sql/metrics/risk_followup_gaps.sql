-- risk_followup_gaps: one row per started episode with a risk-flagged session (docs/metrics/risk-followup.md).
--   risk_date            date of the latest attended session with phq9_item9 >= 1
--   item9                its phq9_item9
--   is_gap               no attended session in (risk_date, risk_date + risk_followup_days] and
--                        that window has closed by the extract date
--   next_contact_date, next_contact_status
--                        the episode's first appointment after the risk session, in appointment
--                        order and of any status (null when there is none)
--   returned_later       an attended session after the follow-up window
--   days_since_risk      extract date - risk_date
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution,
--                  carried so that reports filter with in_scope() without joining episodes
WITH risk_sessions AS (
    SELECT
        client_id,
        episode_id,
        arg_max(appointment_id, session_number) AS risk_appointment_id,
        arg_max(appointment_at, session_number) AS risk_at,
        arg_max(appointment_date, session_number) AS risk_date,
        arg_max(phq9_item9, session_number) AS item9
    FROM sessions
    WHERE phq9_item9 >= 1
    GROUP BY client_id, episode_id
),

followups AS (
    SELECT
        r.client_id,
        r.episode_id,
        coalesce(bool_or(date_diff('day', r.risk_date, s.appointment_date) BETWEEN 1 AND st.risk_followup_days), false)
            AS is_followed_up,
        coalesce(bool_or(date_diff('day', r.risk_date, s.appointment_date) > st.risk_followup_days), false)
            AS returned_later
    FROM risk_sessions AS r
    CROSS JOIN settings AS st
    LEFT JOIN sessions AS s
        ON s.client_id = r.client_id AND s.episode_id = r.episode_id AND s.appointment_date > r.risk_date
    GROUP BY r.client_id, r.episode_id
),

next_contacts AS (
    SELECT
        r.client_id,
        r.episode_id,
        arg_min(a.appointment_date, (a.appointment_at, a.appointment_id)) AS next_contact_date,
        arg_min(a.status, (a.appointment_at, a.appointment_id)) AS next_contact_status
    FROM risk_sessions AS r
    INNER JOIN stg_appointments AS a
        ON a.client_id = r.client_id AND a.episode_id = r.episode_id
        AND (a.appointment_at > r.risk_at OR (a.appointment_at = r.risk_at AND a.appointment_id > r.risk_appointment_id))
    GROUP BY r.client_id, r.episode_id
)

SELECT
    r.client_id,
    r.episode_id,
    e.therapist_id,
    e.clinic_id,
    e.status,
    r.risk_date,
    r.item9,
    NOT f.is_followed_up AND date_diff('day', r.risk_date, st.extract_date) >= st.risk_followup_days AS is_gap,
    n.next_contact_date,
    n.next_contact_status,
    f.returned_later,
    date_diff('day', r.risk_date, st.extract_date) AS days_since_risk,
    e.first_session_type,
    e.first_attended_date
FROM risk_sessions AS r
INNER JOIN episodes AS e USING (client_id, episode_id)
INNER JOIN followups AS f USING (client_id, episode_id)
LEFT JOIN next_contacts AS n USING (client_id, episode_id)
CROSS JOIN settings AS st
