-- Exact statistics at every moment, with no process outside the database.
--
-- The API views (public.peer_mentor_stats, public.chapter_stats, public.activity_time_series)
-- return the materialized rows of the keys nothing has changed since the last refresh, and,
-- for the keys in private.stats_dirty_keys, rows recomputed live from
-- private.counted_activities. So they equal the plain views at every moment, and the
-- refresh only keeps reads fast: it folds the logged changes into the materialized views
-- and removes exactly the log entries it folded in.
--
-- The log holds keys only, never figures: what counts stays in private.counted_activities,
-- which both the refresh and the live recomputation read. See README, "Freshness".
--
-- Replaces the NOTIFY dirty signal of migration 20261125000400 (and `peerstats worker`,
-- which listened to it): its down script brings both back.

-- Writers wait until this migration commits: every write from here on is either in the
-- refresh below or logged by the triggers created here.
-- Inside a DO block: the Supabase CLI sends a migration as one pipelined batch, one implicit
-- transaction that PostgreSQL 15 refuses a top-level LOCK in; the lock holds to its end alike.
-- First the lock of public.refresh_stats_views() (the same key, as migration 20261126000100
-- takes it): a refresh by pg_cron holding it while it waits for the objects this script
-- replaces, and this script refreshing at its end, would deadlock (a test run met it).
select pg_catalog.pg_advisory_xact_lock(7351046002);
do $$ begin lock table public.activities in share mode; end $$;

drop trigger if exists activities_stats_dirty on public.activities;
drop trigger if exists activity_types_stats_dirty on public.activity_types;
drop function if exists private.notify_stats_dirty();

-- One row per (statement, key) whose figures a committed or running transaction may have
-- changed. xid is the writing transaction's (pg_current_xact_id()), which the refresh
-- compares with its snapshot. Append-only: writers never update or lock a row of it, so
-- concurrent writers never wait for each other here.
create table private.stats_dirty_keys (
  xid xid8 not null,
  chapter_id uuid not null,
  peer_mentor_id uuid not null,
  bucket_date date not null
);
comment on table private.stats_dirty_keys is
  'Keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, with the writing transaction. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';
-- Reads find a caller's dirty keys by chapter (coordinators, service_role) or by mentor.
create index stats_dirty_keys_chapter on private.stats_dirty_keys (chapter_id, bucket_date);
create index stats_dirty_keys_mentor on private.stats_dirty_keys (peer_mentor_id);
alter table private.stats_dirty_keys enable row level security;
revoke all on private.stats_dirty_keys from public, anon, authenticated, service_role;
grant select on private.stats_dirty_keys to service_role;

-- The triggers run as the owner (SECURITY DEFINER): writers through PostgREST may not write
-- the log themselves. Each logs the keys of the rows the statement touched, old and new,
-- and of the registrations marked as duplicates of them, since whether a duplicate counts
-- may depend on its original (that is private.counted_activities' business, not the log's).
-- A statement that touches no row logs nothing.
--
-- A row marked as a duplicate share-locks its original. A transaction that changes the
-- original meanwhile (soft delete, type) holds a lock that conflicts, so one of the two waits
-- for the other to commit: either the original's writer sees the duplicate and logs its key,
-- or the duplicate's writer commits after it, and its own log entry outlives any refresh
-- that does not see the original's change.
create function private.log_inserted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, n.chapter_id, n.peer_mentor_id, (n.recorded_at at time zone 'UTC')::date
  from new_rows n;
  perform
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;

create function private.log_updated_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select n.chapter_id, n.peer_mentor_id, n.recorded_at from new_rows n
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k;
  perform
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;

create function private.log_deleted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k;
  return null;
end
$$;

-- A type that starts or stops counting changes the figures of every activity of that type
-- (and of their duplicates). The SHARE lock waits for the writers of activities in flight
-- and holds off new ones until this transaction commits, so no activity of the type can be
-- written unseen between this query and the commit. Types change rarely; writes wait for
-- that moment only.
create function private.log_retyped_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
  changed_types text[];
begin
  select coalesce(pg_catalog.array_agg(n.code), '{}'::text[]) into changed_types
  from new_rows n
  where not exists (select from old_rows o where o.code = n.code and o.counts_in_stats = n.counts_in_stats);
  if pg_catalog.cardinality(changed_types) = 0 then
    return null;
  end if;
  lock table public.activities in share mode;
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, a.chapter_id, a.peer_mentor_id, (a.recorded_at at time zone 'UTC')::date
  from public.activities a
  where a.activity_type = any (changed_types)
     or a.duplicate_of in (select t.id from public.activities t where t.activity_type = any (changed_types));
  return null;
end
$$;

-- TRUNCATE has no transition table; it holds ACCESS EXCLUSIVE on activities anyway, so the
-- views are refreshed to empty within the truncating transaction.
create function private.refresh_after_truncate() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.refresh_stats_views();
  return null;
end
$$;

comment on function private.log_inserted_activities() is
  'AFTER INSERT statement trigger on activities: logs the new rows'' keys in private.stats_dirty_keys.';
comment on function private.log_updated_activities() is
  'AFTER UPDATE statement trigger on activities: logs the old and new rows'' keys and those of their duplicates.';
comment on function private.log_deleted_activities() is
  'AFTER DELETE statement trigger on activities: logs the deleted rows'' keys and those of their duplicates.';
comment on function private.log_retyped_activities() is
  'AFTER UPDATE statement trigger on activity_types: logs the keys of every activity of a type whose counts_in_stats changed.';
comment on function private.refresh_after_truncate() is
  'AFTER TRUNCATE trigger on activities: refreshes the materialized views inside the truncating transaction.';
-- Only triggers call them; PostgreSQL checks no EXECUTE privilege when a trigger fires.
revoke all on function private.log_inserted_activities(), private.log_updated_activities(),
  private.log_deleted_activities(), private.log_retyped_activities(), private.refresh_after_truncate()
  from public, anon, authenticated, service_role;

create trigger activities_log_inserted_keys
  after insert on public.activities
  referencing new table as new_rows
  for each statement execute function private.log_inserted_activities();
create trigger activities_log_updated_keys
  after update on public.activities
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.log_updated_activities();
create trigger activities_log_deleted_keys
  after delete on public.activities
  referencing old table as old_rows
  for each statement execute function private.log_deleted_activities();
create trigger activities_refresh_after_truncate
  after truncate on public.activities
  for each statement execute function private.refresh_after_truncate();
create trigger activity_types_log_retyped_keys
  after update on public.activity_types
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.log_retyped_activities();

-- The refresh, now also emptying the log of what it folded in. It takes pg_current_snapshot()
-- before the first REFRESH. Under READ COMMITTED every later statement of this transaction
-- runs on a snapshot that sees at least what that one saw, so every log entry whose
-- transaction is visible in it is reflected in all three refreshed views, and only those are
-- deleted, in the same transaction: readers see the new views and the shorter log together,
-- at commit. An entry of a transaction that was running, or committed after the snapshot,
-- stays, and its keys stay live until the next refresh. If one view fails to refresh, the
-- log is left whole.
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
  folded pg_snapshot;
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
  folded := pg_catalog.pg_current_snapshot();

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

  if pg_catalog.cardinality(outcomes) = 0 then
    delete from private.stats_dirty_keys d where pg_catalog.pg_visible_in_snapshot(d.xid, folded);
  end if;
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
  'Refreshes the three materialized statistics views CONCURRENTLY, records public.stats_freshness and removes from private.stats_dirty_keys the entries the refresh folded in. Executable by service_role and the owner only. Two never run at once: wait => true waits for a running refresh, wait => false skips.';

-- Reads stay fast after a bulk backfill: when the log holds more than this many entries, the
-- every-minute job refreshes (see README, "Schedule", for how the figure was chosen).
create function private.dirty_keys_threshold() returns integer
language sql immutable
set search_path = ''
as $$ select 20000 $$;

create function private.refresh_stats_views_if_dirty() returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  pending bigint;
begin
  -- count(*) of the log stops at the threshold: the check costs the same however large it grew.
  select count(*) into pending
  from (select from private.stats_dirty_keys limit private.dirty_keys_threshold() + 1) d;
  if pending <= private.dirty_keys_threshold() then
    return 'below the threshold: ' || pending::text || ' dirty keys';
  end if;
  -- Recorded as the requester in private.refresh_runs, so "the last threshold refresh" is known.
  perform pg_catalog.set_config('application_name', 'threshold refresh', true);
  perform public.refresh_stats_views(wait => false);
  return 'refreshed: more than ' || private.dirty_keys_threshold()::text || ' dirty keys';
end
$$;
comment on function private.refresh_stats_views_if_dirty() is
  'Called every minute by pg_cron (job refresh-stats-views-if-dirty): refreshes when private.stats_dirty_keys holds more than private.dirty_keys_threshold() entries.';
revoke all on function private.dirty_keys_threshold(), private.refresh_stats_views_if_dirty()
  from public, anon, authenticated;
grant execute on function private.dirty_keys_threshold(), private.refresh_stats_views_if_dirty() to service_role;

-- The reads. Materialized rows of clean keys, plus live rows for the dirty keys of the
-- caller's chapters (or own mentor rows), all under one statement snapshot, so the view and
-- the log agree. Mentor-months are the unit of correction: chapter-months, distinct active
-- mentors included, are summed from corrected mentor-month rows, so recomputing one costs
-- the mentors of that month plus the activities of its dirty mentor-months.
--
-- Each dirty key is recomputed by a LATERAL aggregate over that key's activities alone, read
-- through the (chapter_id, recorded_at) or (peer_mentor_id, recorded_at) index: its cost
-- follows the rows of the dirty keys whatever the planner estimates of the log's size (a
-- plain join let it choose a hash join over every activity once the log had been large).
--
-- Minutes from a materialized mentor-month: total_hours is minutes / 60.0 as numeric, which
-- keeps 20 significant decimals, so total_hours * 60 rounds back to the exact integer.
-- Two views the callers filter by chapter or mentor, so the filter reaches the materialized
-- view's index and the log's rows: the materialized mentor-months whose key is not in the log,
-- and the dirty mentor-months recomputed live. Together they are every mentor-month as of now.
create view private.clean_peer_mentor_months as
select m.peer_mentor_id, m.chapter_id, m.month_start, m.activity_count,
       (round(m.total_hours * 60))::bigint as minutes
from private.mv_peer_mentor_stats m
where not exists (select from private.stats_dirty_keys d
                  where d.chapter_id = m.chapter_id and d.peer_mentor_id = m.peer_mentor_id
                    and d.bucket_date >= m.month_start and d.bucket_date < m.month_start + interval '1 month');
comment on view private.clean_peer_mentor_months is
  'Materialized mentor-months (count and minutes) that nothing in private.stats_dirty_keys has changed.';

create view private.dirty_peer_mentor_months as
select d.peer_mentor_id, d.chapter_id, d.month_start, l.activity_count, l.minutes
from (
  select distinct k.chapter_id, k.peer_mentor_id, (date_trunc('month', k.bucket_date::timestamp))::date as month_start
  from private.stats_dirty_keys k
) d
cross join lateral (
  select count(*) as activity_count, sum(c.duration_minutes) as minutes
  from private.counted_activities c
  where c.peer_mentor_id = d.peer_mentor_id and c.chapter_id = d.chapter_id
    and c.recorded_at >= d.month_start::timestamp at time zone 'UTC'
    and c.recorded_at < (d.month_start + interval '1 month')::timestamp at time zone 'UTC'
) l
where l.activity_count > 0;
comment on view private.dirty_peer_mentor_months is
  'The mentor-months of the keys in private.stats_dirty_keys, recomputed live from private.counted_activities (count and minutes).';

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.peer_mentor_stats_for_caller();
drop function private.chapter_stats_for_caller();
drop function private.activity_time_series_for_caller();

-- plpgsql, the caller's chapters (and own mentor rows) also taken once into variables, for
-- the filters on the log: a filter that calls private.stats_chapter_ids() is evaluated once
-- per row when the log, being small, is read by a sequential scan (1,370 log rows cost 0.9 s
-- on 1M activities). The materialized views keep the direct call, as in migration
-- 20261125000300: the planner evaluates it while planning and reads them through their
-- chapter index, where it is evaluated once.
--
-- jit = off: the planner prices the live part by its estimate of the log, an upper bound (and
-- a stale one right after a refresh empties the log, until autoanalyze), which passes
-- jit_above_cost; compiling then cost about 0.5 s per request for a query that runs in
-- milliseconds (measured on 1M activities: 525 ms with JIT, 8 ms without). The plan is the
-- planner's own either way; only its compilation to machine code is off.
create function private.activity_time_series_for_caller()
returns table (bucket_date date, chapter_id uuid, activity_count bigint, total_hours numeric)
language plpgsql stable security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  chapters constant uuid[] := private.stats_chapter_ids();
begin
  return query
  with dirty as (
    select distinct d.chapter_id, d.bucket_date
    from private.stats_dirty_keys d
    where d.chapter_id = any (chapters)
  )
  select m.bucket_date, m.chapter_id, m.activity_count, m.total_hours
  from private.mv_activity_time_series m
  where m.chapter_id = any (private.stats_chapter_ids())
    and not exists (select from dirty d where d.chapter_id = m.chapter_id and d.bucket_date = m.bucket_date)
  union all
  select d.bucket_date, d.chapter_id, l.activity_count, l.total_hours
  from dirty d
  cross join lateral (
    select count(*) as activity_count, sum(c.duration_minutes) / 60.0 as total_hours
    from private.counted_activities c
    where c.chapter_id = d.chapter_id
      and c.recorded_at >= d.bucket_date::timestamp at time zone 'UTC'
      and c.recorded_at < (d.bucket_date + 1)::timestamp at time zone 'UTC'
  ) l
  where l.activity_count > 0;
end
$$;

create function private.chapter_stats_for_caller()
returns table (chapter_id uuid, month_start date, activity_count bigint, total_hours numeric,
               active_mentor_count bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  chapters constant uuid[] := private.stats_chapter_ids();
begin
  return query
  with dirty as (
    select distinct d.chapter_id, (date_trunc('month', d.bucket_date::timestamp))::date as month_start
    from private.stats_dirty_keys d
    where d.chapter_id = any (chapters)
  )
  select m.chapter_id, m.month_start, m.activity_count, m.total_hours, m.active_mentor_count
  from private.mv_chapter_stats m
  where m.chapter_id = any (private.stats_chapter_ids())
    and not exists (select from dirty d where d.chapter_id = m.chapter_id and d.month_start = m.month_start)
  union all
  select e.chapter_id, e.month_start, (sum(e.activity_count))::bigint, sum(e.minutes) / 60.0, count(*)
  from (
    select c.chapter_id, c.month_start, c.activity_count, c.minutes
    from private.clean_peer_mentor_months c
    where c.chapter_id = any (private.stats_chapter_ids())
    union all
    select l.chapter_id, l.month_start, l.activity_count, l.minutes
    from private.dirty_peer_mentor_months l
    where l.chapter_id = any (chapters)
  ) e
  where (e.chapter_id, e.month_start) in (select d.chapter_id, d.month_start from dirty d)
  group by e.chapter_id, e.month_start;
end
$$;

-- The same rows row security gives v_peer_mentor_stats: a coordinator's chapters, a
-- mentor's own rows, everything for service_role.
create function private.peer_mentor_stats_for_caller()
returns table (peer_mentor_id uuid, chapter_id uuid, month_start date, activity_count bigint, total_hours numeric)
language plpgsql stable security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  chapters constant uuid[] := private.stats_chapter_ids();
  mentors constant uuid[] := private.own_peer_mentor_ids();
begin
  return query
  select c.peer_mentor_id, c.chapter_id, c.month_start, c.activity_count, c.minutes / 60.0
  from private.clean_peer_mentor_months c
  where c.chapter_id = any (private.stats_chapter_ids()) or c.peer_mentor_id = any (private.own_peer_mentor_ids())
  union all
  select l.peer_mentor_id, l.chapter_id, l.month_start, l.activity_count, l.minutes / 60.0
  from private.dirty_peer_mentor_months l
  where l.chapter_id = any (chapters) or l.peer_mentor_id = any (mentors);
end
$$;

revoke all on private.clean_peer_mentor_months, private.dirty_peer_mentor_months
  from public, anon, authenticated, service_role;
revoke all on function private.activity_time_series_for_caller(), private.chapter_stats_for_caller(),
  private.peer_mentor_stats_for_caller() from public, anon;
grant execute on function private.activity_time_series_for_caller(), private.chapter_stats_for_caller(),
  private.peer_mentor_stats_for_caller() to authenticated, service_role;

create view public.activity_time_series with (security_invoker = true) as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_for_caller();
comment on view public.activity_time_series is
  'Daily activity count and hours of the caller''s chapters, exact at every moment (equal to v_activity_time_series). public.stats_freshness says when the materialized part was last refreshed.';

create view public.chapter_stats with (security_invoker = true) as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_for_caller();
comment on view public.chapter_stats is
  'Monthly figures of the caller''s chapters, exact at every moment (equal to v_chapter_stats).';

create view public.peer_mentor_stats with (security_invoker = true) as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_for_caller();
comment on view public.peer_mentor_stats is
  'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), exact at every moment (equal to v_peer_mentor_stats).';

revoke all on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  to authenticated, service_role;

comment on materialized view private.mv_activity_time_series is
  'Daily counted activities and hours per chapter (UTC days), for the dashboard bar chart. STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.activity_time_series is exact at every moment: it recomputes the keys changed since. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''.';
comment on materialized view private.mv_chapter_stats is
  'Monthly counted activities, hours and active mentors per chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.chapter_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''.';
comment on materialized view private.mv_peer_mentor_stats is
  'Monthly counted activities and hours per mentor and chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.peer_mentor_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''.';

-- Fold in everything written before the triggers existed (activities are locked since the
-- top of this file), so the log starts empty and true.
select count(*) from public.refresh_stats_views();

-- Every minute, a refresh only when the log has grown past the threshold; the hourly job of
-- migration 20261125000300 stays. pg_cron upserts a job by name.
select cron.schedule('refresh-stats-views-if-dirty', '* * * * *', 'select private.refresh_stats_views_if_dirty()');
