-- stg_appointments: one row per appointment in the warehouse (the latest version of each
-- appointment_id), renamed and typed for everything downstream. It only renames, casts and
-- cleans; no business rule lives here beyond the episode key.
--   appointment_at    the date-time as recorded; orders appointments (then appointment_id)
--   appointment_date  its calendar date; all day arithmetic uses this
--   episode_id        as given in the input, or derived (docs/metrics/episodes.md) when the input had none
--   scores            every score given at the appointment, one (measure, score) per measure of the
--                     catalogue scored (docs/metrics/measures.md)
--   is_attended       attended and dated on or before the extract date: a session that counts
SELECT
    a.appointment_id,
    a.client_id,
    coalesce(a.episode_id, d.derived_episode_id) AS episode_id,
    a.therapist_id,
    a.clinic_id,
    a.appointment_date AS appointment_at,
    CAST(a.appointment_date AS DATE) AS appointment_date,
    a.status,
    a.session_type,
    a.phq9_item9,
    a.scores,
    a.referral_date,
    a.discharge_date,
    a.discharge_reason,
    a.status = 'attended' AND CAST(a.appointment_date AS DATE) <= s.extract_date AS is_attended,
    a.load_id,
    a.source_file,
    a.source_line
FROM appointments AS a
LEFT JOIN derived_episodes AS d USING (appointment_id)
CROSS JOIN settings AS s
