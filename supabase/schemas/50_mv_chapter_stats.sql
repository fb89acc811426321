-- private.mv_chapter_stats: materialized statistics, with the unique index REFRESH CONCURRENTLY needs.
--
-- The stored aggregates are the same views the plain views filter
-- (40_counting_rule_and_plain_views.sql), so the two cannot drift apart. Each is stored in the
-- order of its chapter index, so a chapter's rows sit together on few pages; a concurrent
-- refresh appends changed rows, and a plain refresh restores the order. A materialized view
-- has no row security, so it lives in private and grants nothing to anon or authenticated.
-- Refreshed by public.refresh_stats_views() (13_functions_refresh.sql); read by the exact API
-- (14_functions_dirty_key_log_and_exact_api.sql).

create materialized view private.mv_chapter_stats as
select chapter_id, month_start, activity_count, total_hours, total_minutes, active_mentor_count
from private.chapter_stats_live
order by chapter_id, month_start
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_chapter_stats FROM PUBLIC, anon, authenticated, service_role;

CREATE UNIQUE INDEX mv_chapter_stats_key ON private.mv_chapter_stats USING btree (chapter_id, month_start);

COMMENT ON MATERIALIZED VIEW private.mv_chapter_stats IS 'Monthly counted activities, hours, minutes and active mentors per chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.chapter_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''.';
