-- Down: the materialized views, what exposes and refreshes them, and the cron job. Base
-- tables, their rows, and the pg_cron extension (shared with other jobs) are left alone.
do $$
begin
  if to_regclass('cron.job') is not null then
    perform cron.unschedule(jobid) from cron.job where jobname = 'refresh-stats-views';
  end if;
end
$$;
drop view if exists public.peer_mentor_stats;
drop view if exists public.chapter_stats;
drop view if exists public.activity_time_series;
drop function if exists private.peer_mentor_stats_for_caller();
drop function if exists private.chapter_stats_for_caller();
drop function if exists private.activity_time_series_for_caller();
drop function if exists public.refresh_stats_views(boolean);
drop table if exists public.stats_freshness;
drop table if exists private.refresh_runs;
drop materialized view if exists private.mv_peer_mentor_stats cascade;
drop materialized view if exists private.mv_chapter_stats cascade;
drop materialized view if exists private.mv_activity_time_series cascade;
