-- first_session_alliance: one row per session-1 SRS score (whole points, 0–40) in scope:
-- how many episodes rated the alliance at that score in their first session.
SELECT
    floor(s.srs) AS srs,
    count(*) AS episodes
FROM sessions AS s
WHERE s.session_number = 1 AND s.srs IS NOT NULL
    -- session 1 is the attribution: its clinic, therapist, session type and date
    AND in_scope(s.clinic_id, s.therapist_id, s.session_type, s.appointment_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY floor(s.srs)
ORDER BY srs
