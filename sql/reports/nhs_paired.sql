-- nhs_paired: one row, the counts behind the national paired measures over the closed episodes
-- in scope (docs/metrics/nhs-paired.md). Every count is of episodes that finished a course of
-- treatment; recovery and reliable recovery are out of those paired and at caseness at the start,
-- reliable improvement and deterioration out of those paired.
SELECT
    count(*) AS finished_treatment,
    count(*) FILTER (WHERE is_paired) AS paired,
    count(*) FILTER (WHERE is_case_at_start) AS paired_at_caseness,
    count(*) FILTER (WHERE is_recovery) AS recovery,
    count(*) FILTER (WHERE is_reliable_improvement) AS reliable_improvement,
    count(*) FILTER (WHERE is_reliable_deterioration) AS reliable_deterioration,
    count(*) FILTER (WHERE is_reliable_recovery) AS reliable_recovery
FROM nhs_paired
WHERE is_finished_treatment
    AND in_scope(clinic_id, therapist_id, first_session_type, first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
