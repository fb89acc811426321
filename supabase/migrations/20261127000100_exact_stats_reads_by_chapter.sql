-- The exact API's reads, made to cost what a dashboard asks for (see README, "Freshness").
--
-- Migration 20261126000200 made the API exact: materialized rows of clean keys, dirty keys
-- recomputed live. Measured on 1M activities, two things made its reads slow:
-- - Each API view called one function that returned every row of every chapter the caller
--   may see, and only then applied the dashboard's filter: a coordinator of five chapters
--   recomputed the changes of all five to read one.
-- - A mentor-month with one changed day was recomputed whole, from every activity of that
--   month (1,370 pending inserts: 173 ms per read against 5 ms with an empty log).
--
-- Here:
-- - Each API view calls a function per chapter, over the caller's chapters. A filter on
--   chapter_id (what the dashboard sends) applies to the chapter list before any function is
--   called, so only the chapters asked for are read and recomputed.
-- - A fourth materialized view, private.mv_peer_mentor_days, holds each mentor's figures per
--   chapter and UTC day. A changed mentor-month is its clean days from that view plus its
--   changed days recomputed live: the cost follows the changed days, not the month.
--
-- The unit recomputed live is the chapter-day: every logged key (chapter, mentor, day) makes
-- its chapter-day dirty, and a dirty chapter-day is recomputed for all its mentors from
-- private.counted_activities, the counting rule, which stays the only one.

-- The refresh's lock first, as migrations 20261126000100 and 20261126000200 take it: a
-- refresh by pg_cron must not run while its function and views are replaced.
select pg_catalog.pg_advisory_xact_lock(7351046002);

-- Figures per mentor, chapter and UTC day: the grain a changed mentor-month is summed from.
create materialized view private.mv_peer_mentor_days as
select c.chapter_id,
       c.peer_mentor_id,
       (c.recorded_at at time zone 'UTC')::date as bucket_date,
       count(*) as activity_count,
       (sum(c.duration_minutes))::bigint as minutes
from private.counted_activities c
group by 1, 2, 3
order by 1, 2, 3
with data;
-- Unique (what REFRESH CONCURRENTLY needs) and led by the chapter: reads look up a chapter's
-- mentor-months by mentor and day range.
create unique index mv_peer_mentor_days_key on private.mv_peer_mentor_days (chapter_id, peer_mentor_id, bucket_date);
revoke all on private.mv_peer_mentor_days from public, anon, authenticated, service_role;
comment on materialized view private.mv_peer_mentor_days is
  'Counted activities and minutes per chapter, mentor and UTC day: the grain the exact API recomputes changed mentor-months from. Not read by clients. STALENESS: as of its last refresh (public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_days''); the API merges it with the changes logged since.';
insert into public.stats_freshness (view_name, refreshed_at, refresh_ms)
values ('mv_peer_mentor_days', pg_catalog.now(), 0);

-- The refresh of migration 20261126000200, with the fourth view. Unchanged otherwise: see the
-- comments there for the snapshot it folds the log by.
create or replace function public.refresh_stats_views(wait boolean default true)
returns table (view_name text, refreshed_at timestamptz, refresh_ms numeric, status text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  refresh_lock constant bigint := 7351046002;
  views constant text[] := array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats',
                                 'mv_peer_mentor_days'];
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
  'Refreshes the four materialized statistics views CONCURRENTLY, records public.stats_freshness and removes from private.stats_dirty_keys the entries the refresh folded in. Executable by service_role and the owner only. Two never run at once: wait => true waits for a running refresh, wait => false skips.';

-- The counting rule's second branch (repeats whose original does not count) reads a chapter's
-- repeats by day. Through the chapter index it fetched every activity of the day to keep the
-- 1 % that are repeats; this index holds only those. The predicate is the rule's own
-- expression, so the planner matches it.
create index activities_repeats_chapter_id_recorded_at on public.activities (chapter_id, recorded_at)
  where ((duplicate_of is not null)::integer = 1);

-- A read takes a chapter's distinct keys (mentor, day) from the log; with the mentor in the
-- index, a vacuumed log answers that from the index alone.
drop index private.stats_dirty_keys_chapter;
create index stats_dirty_keys_chapter on private.stats_dirty_keys (chapter_id, bucket_date, peer_mentor_id);

-- The log is emptied by every refresh. Until a vacuum, its index keeps the deleted entries, and
-- every read of a chapter's keys steps over them (72,000 of them cost a read milliseconds).
-- Vacuum it as soon as a few thousand are dead, however small the table looks.
alter table private.stats_dirty_keys set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                                          autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 2000);

-- --- The reads ------------------------------------------------------------------------------
-- All plpgsql, SECURITY DEFINER, jit = off, as in migration 20261126000200 (see its comments):
-- plpgsql keeps each query's plan for the session, and a filter on a chapter given as a
-- parameter reaches the materialized views' chapter indexes.

-- The chapter's logged keys, read once per request: the log holds one entry per writing
-- statement, so a backlog of single-row writes holds many entries per key, and every further
-- query works from the distinct keys.
create function private.chapter_dirty_keys(chapter uuid)
returns table (peer_mentor_id uuid, bucket_date date)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 50
as $$
begin
  return query
  select distinct k.peer_mentor_id, k.bucket_date
  from private.stats_dirty_keys k
  where k.chapter_id = chapter;
end
$$;
comment on function private.chapter_dirty_keys(uuid) is
  'The distinct (mentor, UTC day) keys of the chapter in private.stats_dirty_keys.';

-- Every mentor's figures on the given days of a chapter, recomputed from the counting rule:
-- the live part of every read. Grouped inside the LATERAL, so it stays a subquery evaluated
-- per day, with one index range scan of the chapter's activities that day: flattened into a
-- join, the planner (which has no statistics on chapter_id) read the chapter's every activity.
create function private.live_chapter_days(chapter uuid, days date[])
returns table (peer_mentor_id uuid, bucket_date date, activity_count bigint, minutes bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 50
as $$
begin
  return query
  select c.peer_mentor_id, d.bucket_date, c.activity_count, c.minutes
  from pg_catalog.unnest(days) as d (bucket_date)
  cross join lateral (
    select a.peer_mentor_id, count(*) as activity_count, (sum(a.duration_minutes))::bigint as minutes
    from private.counted_activities a
    where a.chapter_id = chapter
      and a.recorded_at >= d.bucket_date::timestamp at time zone 'UTC'
      and a.recorded_at < (d.bucket_date + 1)::timestamp at time zone 'UTC'
    group by a.peer_mentor_id
  ) c;
end
$$;
comment on function private.live_chapter_days(uuid, date[]) is
  'Every mentor''s counted activities and minutes on each of the given UTC days in the chapter, live from private.counted_activities.';

-- The mentor-months of a chapter with a logged change, as they are now: the clean days from
-- mv_peer_mentor_days, every changed day of the chapter live. activity_count 0 means nothing
-- counts there any more (the materialized row, if any, must not be shown). No rows when the
-- chapter has nothing logged, after one look at the log.
create function private.changed_peer_mentor_months(chapter uuid)
returns table (peer_mentor_id uuid, month_start date, activity_count bigint, minutes bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 20
as $$
declare
  key_mentors uuid[];
  key_days date[];
  dirty_days date[];
begin
  select coalesce(pg_catalog.array_agg(k.peer_mentor_id), '{}'), coalesce(pg_catalog.array_agg(k.bucket_date), '{}'),
         coalesce(pg_catalog.array_agg(distinct k.bucket_date), '{}')
    into key_mentors, key_days, dirty_days
  from private.chapter_dirty_keys(chapter) k;
  if pg_catalog.cardinality(dirty_days) = 0 then
    return;
  end if;
  return query
  with live as materialized (
    select l.peer_mentor_id, l.bucket_date, l.activity_count, l.minutes
    from private.live_chapter_days(chapter, dirty_days) l
  ),
  changed as (
    select distinct k.peer_mentor_id, (date_trunc('month', k.bucket_date::timestamp))::date as month_start
    from rows from (pg_catalog.unnest(key_mentors), pg_catalog.unnest(key_days)) as k (peer_mentor_id, bucket_date)
  )
  select m.peer_mentor_id, m.month_start,
         coalesce(clean.activity_count, 0) + coalesce(changed_days.activity_count, 0),
         coalesce(clean.minutes, 0) + coalesce(changed_days.minutes, 0)
  from changed m
  cross join lateral (
    select (sum(r.activity_count))::bigint as activity_count, (sum(r.minutes))::bigint as minutes
    from private.mv_peer_mentor_days r
    where r.chapter_id = chapter
      and r.peer_mentor_id = m.peer_mentor_id
      and r.bucket_date >= m.month_start
      and r.bucket_date < (m.month_start + interval '1 month')::date
      and r.bucket_date <> all (dirty_days)
  ) clean
  cross join lateral (
    select (sum(l.activity_count))::bigint as activity_count, (sum(l.minutes))::bigint as minutes
    from live l
    where l.peer_mentor_id = m.peer_mentor_id
      and l.bucket_date >= m.month_start
      and l.bucket_date < (m.month_start + interval '1 month')::date
  ) changed_days;
end
$$;
comment on function private.changed_peer_mentor_months(uuid) is
  'The chapter''s mentor-months with a key in private.stats_dirty_keys, as they are now: clean days from private.mv_peer_mentor_days plus changed days from private.live_chapter_days().';

-- The chapters a caller reads mentor rows of: those whose chapter-level figures they see, and
-- those where their own mentor row has figures (a mentor reads their own rows everywhere).
create function private.peer_mentor_stats_chapter_ids() returns uuid[]
language plpgsql stable security definer
set search_path = ''
as $$
declare
  mentors constant uuid[] := private.own_peer_mentor_ids();
begin
  if pg_catalog.cardinality(mentors) = 0 then
    return private.stats_chapter_ids();
  end if;
  return array(
    select pg_catalog.unnest(private.stats_chapter_ids())
    union
    select m.chapter_id from private.mv_peer_mentor_stats m where m.peer_mentor_id = any (mentors)
    union
    select k.chapter_id from private.stats_dirty_keys k where k.peer_mentor_id = any (mentors));
end
$$;
comment on function private.peer_mentor_stats_chapter_ids() is
  'Chapters the caller reads rows of public.peer_mentor_stats in: private.stats_chapter_ids(), and where the caller''s own mentor row has figures.';

-- One chapter each. Each checks the caller may read the chapter itself (the views call them
-- only for those, but a function must not rely on its caller for that). The caller is the
-- role PostgREST switched to, which stays the caller's inside a SECURITY DEFINER function.
create function private.caller_sees_chapter(chapter uuid) returns boolean
language sql stable
set search_path = ''
as $$ select coalesce(chapter = any (private.stats_chapter_ids()), false) $$;
comment on function private.caller_sees_chapter(uuid) is
  'Whether the caller may read the chapter-level statistics of the chapter (private.stats_chapter_ids()).';
revoke all on function private.caller_sees_chapter(uuid) from public, anon, authenticated, service_role;

create function private.activity_time_series_of(chapter uuid)
returns table (bucket_date date, activity_count bigint, total_hours numeric)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 800
as $$
declare
  dirty_days date[];
begin
  if not private.caller_sees_chapter(chapter) then
    return;
  end if;
  select coalesce(pg_catalog.array_agg(distinct k.bucket_date), '{}') into dirty_days
  from private.chapter_dirty_keys(chapter) k;
  return query
  select m.bucket_date, m.activity_count, m.total_hours
  from private.mv_activity_time_series m
  where m.chapter_id = chapter
    and m.bucket_date <> all (dirty_days);
  if pg_catalog.cardinality(dirty_days) > 0 then
    return query
    select l.bucket_date, (sum(l.activity_count))::bigint, sum(l.minutes) / 60.0
    from private.live_chapter_days(chapter, dirty_days) l
    group by l.bucket_date;
  end if;
end
$$;

create function private.chapter_stats_of(chapter uuid)
returns table (month_start date, activity_count bigint, total_hours numeric, active_mentor_count bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 30
as $$
begin
  if not private.caller_sees_chapter(chapter) then
    return;
  end if;
  return query
  with changed as materialized (
    select c.peer_mentor_id, c.month_start, c.activity_count, c.minutes
    from private.changed_peer_mentor_months(chapter) c
  ),
  changed_months as (
    select distinct c.month_start from changed c
  )
  select m.month_start, m.activity_count, m.total_hours, m.active_mentor_count
  from private.mv_chapter_stats m
  where m.chapter_id = chapter
    and not exists (select from changed_months c where c.month_start = m.month_start)
  union all
  -- A changed month: summed from its mentor-months, the changed ones as they are now.
  select e.month_start, (sum(e.activity_count))::bigint, sum(e.minutes) / 60.0, count(*)
  from (
    select p.month_start, p.activity_count, (round(p.total_hours * 60))::bigint as minutes
    from private.mv_peer_mentor_stats p
    where p.chapter_id = chapter
      and p.month_start in (select c.month_start from changed_months c)
      and not exists (select from changed c where c.peer_mentor_id = p.peer_mentor_id and c.month_start = p.month_start)
    union all
    select c.month_start, c.activity_count, c.minutes
    from changed c
    where c.activity_count > 0
  ) e
  group by e.month_start;
end
$$;

-- A coordinator reads every mentor of the chapter; anyone else only their own mentor row.
create function private.peer_mentor_stats_of(chapter uuid)
returns table (peer_mentor_id uuid, month_start date, activity_count bigint, total_hours numeric)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 200
as $$
declare
  every_mentor constant boolean := private.caller_sees_chapter(chapter);
  mentors constant uuid[] := private.own_peer_mentor_ids();
begin
  if not every_mentor and pg_catalog.cardinality(mentors) = 0 then
    return;
  end if;
  return query
  with changed as materialized (
    select c.peer_mentor_id, c.month_start, c.activity_count, c.minutes
    from private.changed_peer_mentor_months(chapter) c
    where every_mentor or c.peer_mentor_id = any (mentors)
  )
  select p.peer_mentor_id, p.month_start, p.activity_count, p.total_hours
  from private.mv_peer_mentor_stats p
  where p.chapter_id = chapter
    and (every_mentor or p.peer_mentor_id = any (mentors))
    and not exists (select from changed c where c.peer_mentor_id = p.peer_mentor_id and c.month_start = p.month_start)
  union all
  select c.peer_mentor_id, c.month_start, c.activity_count, c.minutes / 60.0
  from changed c
  where c.activity_count > 0;
end
$$;

comment on function private.activity_time_series_of(uuid) is
  'The chapter''s rows of public.activity_time_series, exact now, when the caller may read them; none otherwise.';
comment on function private.chapter_stats_of(uuid) is
  'The chapter''s rows of public.chapter_stats, exact now, when the caller may read them; none otherwise.';
comment on function private.peer_mentor_stats_of(uuid) is
  'The chapter''s rows of public.peer_mentor_stats, exact now: every mentor''s for a caller who sees the chapter, else the caller''s own.';

revoke all on function private.chapter_dirty_keys(uuid), private.live_chapter_days(uuid, date[]),
  private.changed_peer_mentor_months(uuid),
  private.peer_mentor_stats_chapter_ids(), private.activity_time_series_of(uuid),
  private.chapter_stats_of(uuid), private.peer_mentor_stats_of(uuid)
  from public, anon, authenticated, service_role;
grant execute on function private.peer_mentor_stats_chapter_ids(), private.activity_time_series_of(uuid),
  private.chapter_stats_of(uuid), private.peer_mentor_stats_of(uuid)
  to authenticated, service_role;

-- The API views: the caller's chapters, then one call per chapter. chapter_id comes from the
-- chapter list, so the dashboard's "chapter_id = X" filters that list, before any call.
drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.peer_mentor_stats_for_caller();
drop function private.chapter_stats_for_caller();
drop function private.activity_time_series_for_caller();
drop view private.clean_peer_mentor_months;
drop view private.dirty_peer_mentor_months;

create view public.activity_time_series with (security_invoker = true) as
select s.bucket_date, c.chapter_id, s.activity_count, s.total_hours
from pg_catalog.unnest(private.stats_chapter_ids()) as c (chapter_id)
cross join lateral private.activity_time_series_of(c.chapter_id) s;
comment on view public.activity_time_series is
  'Daily activity count and hours of the caller''s chapters, exact at every moment (equal to v_activity_time_series). public.stats_freshness says when the materialized part was last refreshed.';

create view public.chapter_stats with (security_invoker = true) as
select c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.active_mentor_count
from pg_catalog.unnest(private.stats_chapter_ids()) as c (chapter_id)
cross join lateral private.chapter_stats_of(c.chapter_id) s;
comment on view public.chapter_stats is
  'Monthly figures of the caller''s chapters, exact at every moment (equal to v_chapter_stats).';

create view public.peer_mentor_stats with (security_invoker = true) as
select s.peer_mentor_id, c.chapter_id, s.month_start, s.activity_count, s.total_hours
from pg_catalog.unnest(private.peer_mentor_stats_chapter_ids()) as c (chapter_id)
cross join lateral private.peer_mentor_stats_of(c.chapter_id) s;
comment on view public.peer_mentor_stats is
  'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), exact at every moment (equal to v_peer_mentor_stats).';

revoke all on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  to authenticated, service_role;
