-- data_issue_summary: one row per field and reason of the data issues on appointments still in
-- the warehouse, with how many and a few example values. $clinics (NULL for all) keeps the
-- issues on appointments at those clinics.
SELECT
    d.field,
    d.reason,
    count(*) AS issues,
    list(DISTINCT d.value ORDER BY d.value)[1:5] AS example_values
FROM data_issues AS d
WHERE $clinics IS NULL OR EXISTS (
    SELECT 1 FROM appointments AS a
    WHERE a.appointment_id = d.appointment_id AND a.load_id = d.load_id AND list_contains($clinics, a.clinic_id)
)
GROUP BY d.field, d.reason
ORDER BY issues DESC, d.field, d.reason
