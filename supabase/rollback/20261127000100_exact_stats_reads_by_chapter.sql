-- Down: back to the reads and refresh of migration 20261126000200, as they were. The log and
-- its triggers stay, so the API stays exact; only the way it reads changes back. Base tables
-- and their rows are left alone.

-- The refresh's lock first, as the up script takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.activity_time_series_of(uuid);
drop function private.chapter_stats_of(uuid);
drop function private.peer_mentor_stats_of(uuid);
drop function private.caller_sees_chapter(uuid);
drop function private.peer_mentor_stats_chapter_ids();
drop function private.changed_peer_mentor_months(uuid);
drop function private.live_chapter_days(uuid, date[]);
drop function private.chapter_dirty_keys(uuid);

drop index public.activities_repeats_chapter_id_recorded_at;

drop index private.stats_dirty_keys_chapter;
create index stats_dirty_keys_chapter on private.stats_dirty_keys (chapter_id, bucket_date);

alter table private.stats_dirty_keys reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
                                            autovacuum_analyze_scale_factor, autovacuum_analyze_threshold);

-- The refresh of migration 20261126000200 (three views).
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

drop materialized view private.mv_peer_mentor_days;
delete from public.stats_freshness where view_name = 'mv_peer_mentor_days';

-- The reads of migration 20261126000200.
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
