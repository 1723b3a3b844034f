-- risk_episode: one row for the episode ($client_id, $episode_id) when it has a risk session and is
-- in scope, none otherwise: the follow-up log's check, on the server, that the person writing or
-- reading an entry may see this episode (docs/security.md#the-follow-up-log).
SELECT
    r.client_id,
    r.episode_id,
    r.clinic_id,
    r.risk_date
FROM risk_followup_gaps AS r
WHERE r.client_id = $client_id AND r.episode_id = $episode_id
    AND in_scope(r.clinic_id, r.therapist_id, r.first_session_type, r.first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
