-- scoped_episodes(clinics, therapists, from_date, to_date, session_types): the episodes that a
-- report covers (SPEC §5 filters). Each argument NULL means "no filter"; lists match any value.
-- Filters select by attribution (session 1's clinic, therapist and session type) and by
-- first_attended_date, inclusive. Any filter leaves not_started episodes out: they have no
-- attribution and no first session.
CREATE OR REPLACE MACRO scoped_episodes(clinics, therapists, from_date, to_date, session_types) AS TABLE
SELECT *
FROM episodes
WHERE (clinics IS NULL OR list_contains(clinics, clinic_id))
    AND (therapists IS NULL OR list_contains(therapists, therapist_id))
    AND (from_date IS NULL OR first_attended_date >= from_date)
    AND (to_date IS NULL OR first_attended_date <= to_date)
    AND (session_types IS NULL OR list_contains(session_types, first_session_type))
    AND (
        status <> 'not_started'
        OR (clinics IS NULL AND therapists IS NULL AND from_date IS NULL AND to_date IS NULL
            AND session_types IS NULL)
    )
