-- Down: back to the NOTIFY dirty signal of migration 20261125000400 and the API and refresh of
-- 20261125000300, as they were. The log is folded into the materialized views first, so no
-- change it held is lost; base tables and their rows are left alone.

-- Writers wait until this commits: nothing is written between the last refresh and the
-- return of the previous mechanism.
-- Inside a DO block: the Supabase CLI sends a migration as one pipelined batch, one implicit
-- transaction that PostgreSQL 15 refuses a top-level LOCK in; the lock holds to its end alike.
-- First the lock of public.refresh_stats_views() (the same key, as migration 20261126000100
-- takes it): a refresh by pg_cron holding it while it waits for the objects this script
-- replaces, and this script refreshing at its end, would deadlock (a test run met it).
select pg_catalog.pg_advisory_xact_lock(7351046002);
do $$ begin lock table public.activities in share mode; end $$;

drop trigger if exists activities_log_inserted_keys on public.activities;
drop trigger if exists activities_log_updated_keys on public.activities;
drop trigger if exists activities_log_deleted_keys on public.activities;
drop trigger if exists activities_refresh_after_truncate on public.activities;
drop trigger if exists activity_types_log_retyped_keys on public.activity_types;

-- The materialized views take in every logged change (the refresh empties the log).
select count(*) from public.refresh_stats_views();

do $$
begin
  if to_regclass('cron.job') is not null then
    perform cron.unschedule(jobid) from cron.job where jobname = 'refresh-stats-views-if-dirty';
  end if;
end
$$;

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.peer_mentor_stats_for_caller();
drop function private.chapter_stats_for_caller();
drop function private.activity_time_series_for_caller();
drop view private.clean_peer_mentor_months;
drop view private.dirty_peer_mentor_months;
drop function private.refresh_stats_views_if_dirty();
drop function private.dirty_keys_threshold();
drop function private.log_inserted_activities();
drop function private.log_updated_activities();
drop function private.log_deleted_activities();
drop function private.log_retyped_activities();
drop function private.refresh_after_truncate();
drop table private.stats_dirty_keys;

-- The refresh of migration 20261125000300.
create or replace function public.refresh_stats_views(wait boolean default true)
returns table (view_name text, refreshed_at timestamptz, refresh_ms numeric, status text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  refresh_lock constant bigint := 7351046002;
  views constant text[] := array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats'];
  called_at constant timestamptz := pg_catalog.clock_timestamp();
  run_started timestamptz;
  started timestamptz;
  outcomes text[] := '{}'::text[];
  -- pg_cron's background workers set no application_name.
  requester constant text := coalesce(nullif(pg_catalog.current_setting('application_name'), ''),
                                      'pg_cron or unnamed client (' || session_user || ')');
begin
  if not pg_catalog.pg_try_advisory_xact_lock(refresh_lock) then
    if not wait then
      raise notice 'refresh_stats_views: skipped, another refresh is running';
      insert into private.refresh_runs (requested_by, waited_ms, started_at, finished_at, status)
      values (requester, 0, called_at, called_at, 'skipped');
      foreach view_name in array views loop
        refreshed_at := null; refresh_ms := null; status := 'skipped';
        return next;
      end loop;
      return;
    end if;
    raise notice 'refresh_stats_views: another refresh is running, waiting for it';
    perform pg_catalog.pg_advisory_xact_lock(refresh_lock);
    raise notice 'refresh_stats_views: waited % ms',
      round(extract(epoch from pg_catalog.clock_timestamp() - called_at) * 1000, 1);
  end if;
  run_started := pg_catalog.clock_timestamp();

  foreach view_name in array views loop
    started := pg_catalog.clock_timestamp();
    begin
      execute pg_catalog.format('refresh materialized view concurrently private.%I', view_name);
      refreshed_at := started;
      refresh_ms := round(extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, 3);
      status := 'refreshed';
      insert into public.stats_freshness as f (view_name, refreshed_at, refresh_ms)
      values (refresh_stats_views.view_name, refresh_stats_views.refreshed_at, refresh_stats_views.refresh_ms)
      on conflict on constraint stats_freshness_pkey do update
        set refreshed_at = excluded.refreshed_at, refresh_ms = excluded.refresh_ms;
    exception when others then
      raise warning 'refresh_stats_views: % failed: %', view_name, sqlerrm;
      refreshed_at := null; refresh_ms := null; status := 'failed: ' || sqlerrm;
      outcomes := outcomes || (view_name || ' ' || status);
    end;
    return next;
  end loop;

  delete from private.refresh_runs r where r.started_at < called_at - interval '7 days';
  insert into private.refresh_runs (requested_by, waited_ms, started_at, finished_at, status)
  values (requester,
          round(extract(epoch from run_started - called_at) * 1000, 3),
          run_started, pg_catalog.clock_timestamp(),
          case when pg_catalog.cardinality(outcomes) = 0 then 'refreshed'
               else pg_catalog.array_to_string(outcomes, '; ') end);
end
$$;
comment on function public.refresh_stats_views(boolean) is
  'Refreshes the three materialized statistics views CONCURRENTLY and records public.stats_freshness. Executable by service_role and the owner only. Two never run at once: wait => true waits for a running refresh, wait => false skips.';

comment on materialized view private.mv_activity_time_series is
  'Daily counted activities and hours per chapter (UTC days), for the dashboard bar chart. STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''. Read through public.activity_time_series.';
comment on materialized view private.mv_chapter_stats is
  'Monthly counted activities, hours and active mentors per chapter (UTC months). STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''. Read through public.chapter_stats.';
comment on materialized view private.mv_peer_mentor_stats is
  'Monthly counted activities and hours per mentor and chapter (UTC months). STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''. Read through public.peer_mentor_stats.';


-- The API of migration 20261125000300.
create function private.activity_time_series_for_caller()
returns setof private.mv_activity_time_series
language sql stable security definer
set search_path = ''
as $$
  select m.*
  from private.mv_activity_time_series m
  where m.chapter_id = any (private.stats_chapter_ids())
$$;

create function private.chapter_stats_for_caller()
returns setof private.mv_chapter_stats
language sql stable security definer
set search_path = ''
as $$
  select m.*
  from private.mv_chapter_stats m
  where m.chapter_id = any (private.stats_chapter_ids())
$$;

-- The same rows row security gives v_peer_mentor_stats: a coordinator's chapters, a
-- mentor's own rows, everything for service_role.
create function private.peer_mentor_stats_for_caller()
returns setof private.mv_peer_mentor_stats
language sql stable security definer
set search_path = ''
as $$
  select m.*
  from private.mv_peer_mentor_stats m
  where m.chapter_id = any (private.stats_chapter_ids())
     or m.peer_mentor_id = any (private.own_peer_mentor_ids())
$$;

revoke all on function private.activity_time_series_for_caller(), private.chapter_stats_for_caller(),
  private.peer_mentor_stats_for_caller() from public, anon;
grant execute on function private.activity_time_series_for_caller(), private.chapter_stats_for_caller(),
  private.peer_mentor_stats_for_caller() to authenticated, service_role;

create view public.activity_time_series with (security_invoker = true) as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_for_caller();
comment on view public.activity_time_series is
  'Daily activity count and hours of the caller''s chapters, as of public.stats_freshness (up to 1 hour old with the cron job alone, seconds with peerstats worker).';

create view public.chapter_stats with (security_invoker = true) as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_for_caller();
comment on view public.chapter_stats is
  'Monthly figures of the caller''s chapters, as of public.stats_freshness (up to 1 hour old with the cron job alone, seconds with peerstats worker).';

create view public.peer_mentor_stats with (security_invoker = true) as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_for_caller();
comment on view public.peer_mentor_stats is
  'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), as of public.stats_freshness.';

revoke all on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  to authenticated, service_role;

-- The dirty signal of migration 20261125000400.
create function private.notify_stats_dirty() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('peerstats_stats_dirty', tg_table_name);
  return null;
end
$$;
comment on function private.notify_stats_dirty() is
  'Statement-level trigger: notifies peerstats_stats_dirty (payload: the table) that the materialized statistics are stale.';
-- Only triggers call it; PostgreSQL checks no EXECUTE privilege when a trigger fires, so
-- writers through PostgREST still signal.
revoke all on function private.notify_stats_dirty() from public, anon, authenticated, service_role;

create trigger activities_stats_dirty
  after insert or update or delete or truncate on public.activities
  for each statement execute function private.notify_stats_dirty();

-- A type that starts or stops counting changes every statistic of its activities.
create trigger activity_types_stats_dirty
  after insert or update or delete or truncate on public.activity_types
  for each statement execute function private.notify_stats_dirty();
