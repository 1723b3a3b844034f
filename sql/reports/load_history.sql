-- load_history: one row per file of every load, newest load first: the reconciliation
-- rows_read = rows_loaded + rows_quarantined + duplicates_merged. It spans every clinic, so a
-- reader restricted to some clinics may not run it.
SELECT
    load_id,
    loaded_at,
    source_file,
    rows_read,
    rows_loaded,
    rows_quarantined,
    duplicates_merged,
    rows_replacing_earlier,
    rows_read = rows_loaded + rows_quarantined + duplicates_merged AS reconciles,
    extract_date
FROM loads
ORDER BY load_id DESC, source_file
