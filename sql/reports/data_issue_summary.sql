-- data_issue_summary: one row per field and reason of the data issues on appointments still in
-- the warehouse, with how many and a few example values.
SELECT
    field,
    reason,
    count(*) AS issues,
    list(DISTINCT value ORDER BY value)[1:5] AS example_values
FROM data_issues
GROUP BY field, reason
ORDER BY issues DESC, field, reason
