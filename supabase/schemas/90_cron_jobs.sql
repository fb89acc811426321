-- The pg_cron jobs that keep the materialized views fresh (pg_cron upserts a job by name).
-- pg_cron sits in pg_catalog, as Supabase creates it, never in the exposed schema public; on
-- hosted Supabase the project owner enables it under Database > Extensions first. The
-- functions they run: 13_functions_refresh.sql, 14_functions_dirty_key_log_and_exact_api.sql,
-- 16_functions_health_and_monitoring.sql.

create extension if not exists pg_cron with schema pg_catalog;

-- Every hour, whatever happened: the views are then at most an hour old (the API is exact
-- regardless; the refresh keeps its reads fast, see 14_functions_dirty_key_log_and_exact_api.sql).
select cron.schedule('refresh-stats-views', '0 * * * *', 'select public.refresh_stats_views()');

-- Every minute, a refresh only when the dirty-key log has grown past its threshold.
select cron.schedule('refresh-stats-views-if-dirty', '* * * * *', 'select private.refresh_stats_views_if_dirty()');

-- Daily, at a quiet minute: pg_cron keeps a row per run for ever (the every-minute job alone
-- adds one a minute); this deletes the runs of this project's jobs older than
-- private.stats_history_kept().
select cron.schedule('prune-stats-cron-history', '17 3 * * *', 'select private.prune_stats_cron_history()');
