-- The tables whose rows are no data of their own, marked where the rollback check reads them:
-- a table whose comment begins "Operational log:" holds rows no rollback needs to keep, and
-- `peerstats db down` never counts them as a loss to confirm. Before this migration the
-- migration runner named these two tables itself.
comment on table private.refresh_runs is
  'Operational log: one row per call of public.refresh_stats_views() in the last 7 days (down scripts write to it too): requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';
comment on table private.stats_dirty_keys is
  'Operational log: keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, with the writing transaction; its down script folds them into the materialized views before dropping it. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';
