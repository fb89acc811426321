-- The dashboard's materialized statistics, their refresh, the hourly pg_cron job and the API.
--
-- STALENESS WINDOW (for the UI's "last updated"): the materialized views show the data as of
-- their last refresh, read from public.stats_freshness.refreshed_at. The pg_cron job
-- `refresh-stats-views` refreshes them every hour, so with the job alone they are up to one
-- hour old. While `peerstats worker` runs, a refresh follows every change to activities
-- within seconds (see README, "Freshness").
--
-- A materialized view has no row security, so the views live in the unexposed schema
-- private, grant nothing to anon or authenticated, and are read through the public API
-- views below, which return to each caller only the rows of the matching plain view.

-- pg_cron, in schema pg_catalog as Supabase creates it (never in public, which the API
-- exposes). On hosted Supabase the project owner enables it in the dashboard beforehand and this
-- block finds it; a role that may not create it stops the migration here, before anything of it
-- is applied, with one message saying how to enable it.
do $pg_cron$
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    create extension pg_cron with schema pg_catalog;
  end if;
exception when insufficient_privilege then
  raise exception using
    errcode = 'insufficient_privilege',
    message = pg_catalog.format(
      'pg_cron is not enabled and role %s may not create it: enable it on Supabase under '
      'Dashboard > Database > Extensions > pg_cron (or have a superuser run '
      '"create extension pg_cron with schema pg_catalog"), then apply the migrations again',
      current_user);
end
$pg_cron$;

-- The stored aggregates are the same views the plain views filter (migration 200), so the two
-- cannot drift apart. Each is stored in the order of its chapter index, so a chapter's rows
-- sit together on few pages; a concurrent refresh appends changed rows, and a plain refresh
-- restores the order.
create materialized view private.mv_activity_time_series as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_live
order by chapter_id, bucket_date
with data;

create materialized view private.mv_chapter_stats as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_live
order by chapter_id, month_start
with data;

create materialized view private.mv_peer_mentor_stats as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_live
order by chapter_id, month_start, peer_mentor_id
with data;

-- Unique indexes on plain columns: what REFRESH MATERIALIZED VIEW CONCURRENTLY requires.
create unique index mv_activity_time_series_key on private.mv_activity_time_series (chapter_id, bucket_date);
create unique index mv_chapter_stats_key on private.mv_chapter_stats (chapter_id, month_start);
create unique index mv_peer_mentor_stats_key on private.mv_peer_mentor_stats (peer_mentor_id, chapter_id, month_start);
-- Date-range queries over all chapters (the national overview) read the time series by day.
create index mv_activity_time_series_bucket_date on private.mv_activity_time_series (bucket_date);
-- A coordinator's dashboard reads a mentor table by chapter and month. (mv_chapter_stats_key
-- is already a B-tree led by chapter_id, and so is mv_activity_time_series_key.)
create index mv_peer_mentor_stats_chapter_id on private.mv_peer_mentor_stats (chapter_id, month_start);

comment on materialized view private.mv_activity_time_series is
  'Daily counted activities and hours per chapter (UTC days), for the dashboard bar chart. STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''. Read through public.activity_time_series.';
comment on materialized view private.mv_chapter_stats is
  'Monthly counted activities, hours and active mentors per chapter (UTC months). STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''. Read through public.chapter_stats.';
comment on materialized view private.mv_peer_mentor_stats is
  'Monthly counted activities and hours per mentor and chapter (UTC months). STALENESS: as of the last refresh, up to 1 hour old with the hourly pg_cron job alone, seconds while peerstats worker runs. Last updated: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''. Read through public.peer_mentor_stats.';

revoke all on private.mv_activity_time_series, private.mv_chapter_stats, private.mv_peer_mentor_stats
  from public, anon, authenticated, service_role;

-- When each view was last refreshed, for the dashboard's "last updated".
create table public.stats_freshness (
  view_name text primary key,
  refreshed_at timestamptz not null,
  refresh_ms numeric not null
);
comment on table public.stats_freshness is
  'One row per materialized statistics view: refreshed_at is the moment its data is as of (the start of its last refresh), refresh_ms how long that refresh took.';
comment on column public.stats_freshness.refreshed_at is
  'The view holds every change to activities committed before this moment.';
alter table public.stats_freshness enable row level security;
create policy stats_freshness_readable on public.stats_freshness
  for select to authenticated using (true);
revoke all on public.stats_freshness from public, anon, authenticated, service_role;
grant select on public.stats_freshness to authenticated, service_role;
insert into public.stats_freshness (view_name, refreshed_at, refresh_ms)
values ('mv_activity_time_series', now(), 0), ('mv_chapter_stats', now(), 0), ('mv_peer_mentor_stats', now(), 0);

-- Every call of the refresh, kept a week: who asked, how long it waited and took, what came
-- of it. started_at is taken after the refresh lock, which is held until commit, so two
-- runs' [started_at, finished_at] never overlap.
create table private.refresh_runs (
  id bigint generated always as identity primary key,
  requested_by text not null,
  waited_ms numeric not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  status text not null
);
create index refresh_runs_started_at on private.refresh_runs (started_at);
comment on table private.refresh_runs is
  'One row per call of public.refresh_stats_views() in the last 7 days: requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';
revoke all on private.refresh_runs from public, anon, authenticated;
grant select on private.refresh_runs to service_role;

-- The refresh: all three views CONCURRENTLY (readers and writers of activities never wait),
-- each in a subtransaction of its own so one failing view does not undo the others, and
-- under a transaction advisory lock so two refreshes never run at once. With wait => true
-- (the default) a second caller waits for the running refresh and then refreshes again,
-- since activities may have changed meanwhile; with wait => false it returns at once with
-- status 'skipped'. Either way a NOTICE says which.
create function public.refresh_stats_views(wait boolean default true)
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
revoke all on function public.refresh_stats_views(boolean) from public, anon, authenticated;
grant execute on function public.refresh_stats_views(boolean) to service_role;

-- The API PostgREST serves. Each view is security_invoker (no definer-rights view in an
-- exposed schema) over a SECURITY DEFINER function in the unexposed schema private, which
-- alone may read the materialized views and returns only the caller's rows, found through
-- the chapter (or mentor) index.
-- The chapter filter calls its function directly, not through a sub-select: PostgreSQL then
-- evaluates the (stable) function while planning, so it knows how few chapters a caller has
-- and reads the view through its index. Behind a sub-select the array is unknown while
-- planning, the planner guesses that a large share of the rows match (40 % on the test data)
-- and scans small views whole on every request.
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

-- Hourly refresh; pg_cron upserts a job by name, so re-running this is harmless.
select cron.schedule('refresh-stats-views', '0 * * * *', 'select public.refresh_stats_views()');
