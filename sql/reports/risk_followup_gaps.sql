-- risk_followup_gaps: one row per episode in scope whose latest risk-flagged session had no
-- attended follow-up within the window (docs/metrics/risk-followup.md), by client_id then episode_id.
-- $risk_from, $risk_to: the Safety page's own filter on the risk date (inclusive; NULL: no limit).
SELECT
    r.client_id,
    r.episode_id,
    r.therapist_id,
    r.clinic_id,
    r.status,
    r.risk_date,
    r.item9,
    r.next_contact_date,
    r.next_contact_status,
    r.returned_later,
    r.days_since_risk
FROM risk_followup_gaps AS r
WHERE r.is_gap
    AND in_scope(r.clinic_id, r.therapist_id, r.first_session_type, r.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
    AND (CAST($risk_from AS DATE) IS NULL OR r.risk_date >= CAST($risk_from AS DATE))
    AND (CAST($risk_to AS DATE) IS NULL OR r.risk_date <= CAST($risk_to AS DATE))
ORDER BY r.client_id, r.episode_id
