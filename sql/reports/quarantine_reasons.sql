-- quarantine_reasons: one row per quarantine reason of load $load_id, with how many rows and
-- the first one as an example (file and line).
SELECT
    reason,
    count(*) AS rows,
    arg_min(source_file || ':' || source_line, (source_file, source_line)) AS first_example
FROM quarantine
WHERE load_id = $load_id
GROUP BY reason
ORDER BY rows DESC, reason
