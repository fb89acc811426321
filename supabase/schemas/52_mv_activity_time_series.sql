-- private.mv_activity_time_series: materialized statistics, with the unique index REFRESH CONCURRENTLY needs.
--
-- The stored aggregates are the same views the plain views filter
-- (40_counting_rule_and_plain_views.sql), so the two cannot drift apart. Each is stored in the
-- order of its chapter index, so a chapter's rows sit together on few pages; a concurrent
-- refresh appends changed rows, and a plain refresh restores the order. A materialized view
-- has no row security, so it lives in private and grants nothing to anon or authenticated.
-- Refreshed by public.refresh_stats_views() (13_functions_refresh.sql); read by the exact API
-- (14_functions_dirty_key_log_and_exact_api.sql).

create materialized view private.mv_activity_time_series as
select bucket_date, chapter_id, activity_count, total_hours, total_minutes
from private.activity_time_series_live
order by chapter_id, bucket_date
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_activity_time_series FROM PUBLIC, anon, authenticated, service_role;

CREATE INDEX mv_activity_time_series_bucket_date ON private.mv_activity_time_series USING btree (bucket_date);

CREATE UNIQUE INDEX mv_activity_time_series_key ON private.mv_activity_time_series USING btree (chapter_id, bucket_date);

COMMENT ON MATERIALIZED VIEW private.mv_activity_time_series IS 'Daily counted activities, hours and minutes per chapter (UTC days), for the dashboard bar chart. STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.activity_time_series is exact at every moment: it recomputes the keys changed since. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''.';
