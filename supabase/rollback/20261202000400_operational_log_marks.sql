-- The comments as they were before the marks (the second as migration 20261202000200 left it).
comment on table private.refresh_runs is
  'One row per call of public.refresh_stats_views() in the last 7 days: requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';
comment on table private.stats_dirty_keys is
  'Keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, one entry per key and writing transaction. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';
