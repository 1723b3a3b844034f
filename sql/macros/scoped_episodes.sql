-- scoped_episodes(clinics, therapists, from_date, to_date, session_types): the episodes that a
-- report covers (docs/metrics/index.md#filters), as decided by in_scope.
CREATE OR REPLACE MACRO scoped_episodes(clinics, therapists, from_date, to_date, session_types) AS TABLE
SELECT *
FROM episodes
WHERE in_scope(clinic_id, therapist_id, first_session_type, first_attended_date,
               clinics, therapists, from_date, to_date, session_types)
