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

-- the item 9 score of each flagged episode's last attended session: 1 or more only when that
-- session is the risk session itself, so that no attended session followed it
last_sessions AS (
    SELECT
        s.client_id,
        s.episode_id,
        arg_max(s.phq9_item9, s.session_number) AS last_item9
    FROM sessions AS s
    SEMI JOIN flagged AS f USING (client_id, episode_id)
    GROUP BY s.client_id, s.episode_id
)

SELECT
    f.client_id,
    f.episode_id,
    f.therapist_id,
    f.clinic_id,
    f.status,
    f.risk_date,
    f.item9,
    f.days_since_risk
FROM flagged AS f
INNER JOIN last_sessions AS l USING (client_id, episode_id)
INNER JOIN episodes AS e USING (client_id, episode_id)
WHERE l.last_item9 >= 1 AND NOT e.has_future_booking
ORDER BY f.risk_date DESC, f.client_id, f.episode_id
