-- at_risk_nothing_ahead: one row per started episode in scope whose latest risk-flagged session
-- (risk_followup_gaps.risk_date) is its last attended session and which has no booking dated after
-- the extract date (docs/metrics/risk-followup.md#at-risk-nothing-ahead), most recent risk date first.
-- Listed from the day of the disclosure: it does not wait for the follow-up window to close.
-- $risk_from, $risk_to: the Safety page's own filter on the risk date (inclusive; NULL: no limit).
WITH flagged AS (
    SELECT
        r.client_id,
        r.episode_id,
        r.therapist_id,
        r.clinic_id,
        r.status,
        r.risk_date,
        r.item9,
        r.days_since_risk
    FROM risk_followup_gaps AS r
    WHERE in_scope(r.clinic_id, r.therapist_id, r.first_session_type, r.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
        AND (CAST($risk_from AS DATE) IS NULL OR r.risk_date >= CAST($risk_from AS DATE))
        AND (CAST($risk_to AS DATE) IS NULL OR r.risk_date <= CAST($risk_to AS DATE))
),

-- the episodes whose last attended session falls on the risk date and which have nothing booked
-- ahead: the only ones where nothing can have followed the risk session
candidates AS (
    SELECT f.*
    FROM flagged AS f
    INNER JOIN episodes AS e USING (client_id, episode_id)
    WHERE e.last_attended_date = f.risk_date AND NOT e.has_future_booking
),

-- whether each candidate's last session of the risk date is risk-flagged, that is, is the risk
-- session itself (a later session the same day, scored or not, is something after it). coalesce:
-- arg_max passes over a null value, which would skip an unscored later session.
last_of_the_day AS (
    SELECT
        s.client_id,
        s.episode_id,
        arg_max(coalesce(s.phq9_item9, 0) >= 1, s.session_number) AS is_risk_session_last
    FROM sessions AS s
    INNER JOIN candidates AS c
        ON s.client_id = c.client_id AND s.episode_id = c.episode_id AND s.appointment_date = c.risk_date
    GROUP BY s.client_id, s.episode_id
)

SELECT
    c.client_id,
    c.episode_id,
    c.therapist_id,
    c.clinic_id,
    c.status,
    c.risk_date,
    c.item9,
    c.days_since_risk
FROM candidates AS c
INNER JOIN last_of_the_day AS l USING (client_id, episode_id)
WHERE l.is_risk_session_last
ORDER BY c.risk_date DESC, c.client_id, c.episode_id
