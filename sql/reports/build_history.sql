-- build_history: one row per build the warehouse keeps in its history, newest first
-- (docs/operations.md#nightly-alerts).
--   build_number   the build's place in the history: 1 for the warehouse's first build kept, one
--                  more for every later load or rebuild
--   build_id, built_at, extract_date, latest_load_id, tool_version   as the build's settings row
SELECT
    build_number,
    build_id,
    built_at,
    extract_date,
    latest_load_id,
    tool_version
FROM build_history
ORDER BY build_number DESC
