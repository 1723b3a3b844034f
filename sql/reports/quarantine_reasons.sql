-- quarantine_reasons: one row per quarantine reason of load $load_id, with how many rows and
-- the first one as an example (file and line). $clinics (NULL for all) keeps the rows whose
-- clinic_id, as written in the file, is one of them: a row with no clinic is shown to no one
-- with a restricted scope.
SELECT
    reason,
    count(*) AS rows,
    arg_min(source_file || ':' || source_line, (source_file, source_line)) AS first_example
FROM quarantine
WHERE load_id = $load_id
    AND ($clinics IS NULL OR list_contains($clinics, clinic_id))
GROUP BY reason
ORDER BY rows DESC, reason
