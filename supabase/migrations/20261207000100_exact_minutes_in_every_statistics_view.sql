-- Exact minutes in every statistics view: total_minutes bigint, sum(duration_minutes), beside
-- total_hours (kept, total_minutes / 60.0).
--
-- total_hours is a quotient that most minute counts do not divide evenly, so whoever added up
-- rows of it (the report's all-chapters total over chapter-months, against the same total over
-- mentor-months) summed rounded quotients, and two such sums of one figure could land on
-- either side of a half: 24,555 minutes is 409.25 hours, shown 409.3 by one sum and 409.2 by
-- the other. With total_minutes a client adds integers and divides once.
--
-- The plain views, the materialized views (rebuilt here, with their indexes, comments and
-- grants), the exact API and its per-chapter functions all gain the column, after
-- total_hours. A changed chapter-month of the exact API now adds its clean mentor-months'
-- stored minutes rather than minutes recovered from their hours.

-- The refresh's lock first, as the migrations before this one take it: a refresh by pg_cron
-- must not run while the views it refreshes are replaced.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.activity_time_series_of(uuid, date[]);
drop function private.chapter_stats_of(uuid, uuid[], date[]);
drop function private.peer_mentor_stats_of(uuid, uuid[], date[]);
drop view public.v_peer_mentor_stats;
drop view public.v_chapter_stats;
drop view public.v_activity_time_series;
drop materialized view private.mv_peer_mentor_stats;
drop materialized view private.mv_chapter_stats;
drop materialized view private.mv_activity_time_series;
drop view private.peer_mentor_stats_live;
drop view private.chapter_stats_live;
drop view private.activity_time_series_live;

-- The three aggregates, written once: the plain views filter them per caller, and the
-- materialized views store them whole. total_hours is computed from the same integer sum.
create view private.activity_time_series_live
with (security_invoker = true) as
select (date_trunc('day', c.recorded_at at time zone 'UTC'))::date as bucket_date,
       c.chapter_id,
       count(*) as activity_count,
       sum(c.duration_minutes) / 60.0 as total_hours,
       sum(c.duration_minutes) as total_minutes
from private.counted_activities c
group by 1, 2;

-- Per mentor first, then per chapter: one row per active mentor makes count(*) the distinct
-- mentors, which a hash aggregate does far faster than count(distinct).
create view private.chapter_stats_live
with (security_invoker = true) as
select per_mentor.chapter_id,
       per_mentor.month_start,
       sum(per_mentor.activity_count)::bigint as activity_count,
       sum(per_mentor.minutes) / 60.0 as total_hours,
       sum(per_mentor.minutes)::bigint as total_minutes,
       count(*) as active_mentor_count
from (
  select c.chapter_id,
         (date_trunc('month', c.recorded_at at time zone 'UTC'))::date as month_start,
         c.peer_mentor_id,
         count(*) as activity_count,
         sum(c.duration_minutes) as minutes
  from private.counted_activities c
  group by 1, 2, 3
) per_mentor
group by 1, 2;

create view private.peer_mentor_stats_live
with (security_invoker = true) as
select c.peer_mentor_id,
       c.chapter_id,
       (date_trunc('month', c.recorded_at at time zone 'UTC'))::date as month_start,
       count(*) as activity_count,
       sum(c.duration_minutes) / 60.0 as total_hours,
       sum(c.duration_minutes) as total_minutes
from private.counted_activities c
group by 1, 2, 3;

grant select on private.activity_time_series_live, private.chapter_stats_live, private.peer_mentor_stats_live
  to authenticated, service_role;

create view public.v_activity_time_series
with (security_invoker = true) as
select bucket_date, chapter_id, activity_count, total_hours, total_minutes
from private.activity_time_series_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);
comment on view public.v_activity_time_series is
  'Daily activity count, hours and minutes per chapter, computed live (the reference for mv_activity_time_series and the fallback when it is stale). Add up rows by total_minutes.';

create view public.v_chapter_stats
with (security_invoker = true) as
select chapter_id, month_start, activity_count, total_hours, total_minutes, active_mentor_count
from private.chapter_stats_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);
comment on view public.v_chapter_stats is
  'Monthly activity count, hours, minutes and active mentors per chapter, computed live. Add up rows by total_minutes.';

-- Mentor rows need no chapter filter: row security on activities already shows a caller
-- either all of a mentor's activities in a chapter or none of them.
create view public.v_peer_mentor_stats
with (security_invoker = true) as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours, total_minutes
from private.peer_mentor_stats_live;
comment on view public.v_peer_mentor_stats is
  'Monthly activity count, hours and minutes per mentor and chapter, computed live. Add up rows by total_minutes.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
revoke all on public.v_activity_time_series, public.v_chapter_stats, public.v_peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.v_activity_time_series, public.v_chapter_stats, public.v_peer_mentor_stats
  to authenticated, service_role;

-- Each stored in the order of its chapter index, as before.
create materialized view private.mv_activity_time_series as
select bucket_date, chapter_id, activity_count, total_hours, total_minutes
from private.activity_time_series_live
order by chapter_id, bucket_date
with data;

create materialized view private.mv_chapter_stats as
select chapter_id, month_start, activity_count, total_hours, total_minutes, active_mentor_count
from private.chapter_stats_live
order by chapter_id, month_start
with data;

create materialized view private.mv_peer_mentor_stats as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours, total_minutes
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
  'Daily counted activities, hours and minutes per chapter (UTC days), for the dashboard bar chart. STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.activity_time_series is exact at every moment: it recomputes the keys changed since. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''.';
comment on materialized view private.mv_chapter_stats is
  'Monthly counted activities, hours, minutes and active mentors per chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.chapter_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''.';
comment on materialized view private.mv_peer_mentor_stats is
  'Monthly counted activities, hours and minutes per mentor and chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.peer_mentor_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''.';

-- No role but the owner reads them (no row security to protect them).
revoke all on private.mv_activity_time_series, private.mv_chapter_stats, private.mv_peer_mentor_stats
  from public, anon, authenticated, service_role;

create function private.activity_time_series_of(chapter uuid, key_days date[])
returns table (bucket_date date, activity_count bigint, total_hours numeric, total_minutes bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 800
as $$
declare
  dirty_days constant date[] := array(select distinct d from pg_catalog.unnest(key_days) as d);
begin
  if not private.caller_sees_chapter(chapter) then
    return;
  end if;
  return query
  select m.bucket_date, m.activity_count, m.total_hours, m.total_minutes
  from private.mv_activity_time_series m
  where m.chapter_id = chapter
    and m.bucket_date <> all (dirty_days);
  if pg_catalog.cardinality(dirty_days) > 0 then
    return query
    select l.bucket_date, (sum(l.activity_count))::bigint, sum(l.minutes) / 60.0, (sum(l.minutes))::bigint
    from private.live_chapter_days(chapter, dirty_days) l
    group by l.bucket_date;
  end if;
end
$$;

create function private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[])
returns table (month_start date, activity_count bigint, total_hours numeric, total_minutes bigint, active_mentor_count bigint)
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
    from private.changed_peer_mentor_months(chapter, key_mentors, key_days) c
  ),
  changed_months as (
    select distinct c.month_start from changed c
  )
  select m.month_start, m.activity_count, m.total_hours, m.total_minutes, m.active_mentor_count
  from private.mv_chapter_stats m
  where m.chapter_id = chapter
    and not exists (select from changed_months c where c.month_start = m.month_start)
  union all
  -- A changed month: summed from its mentor-months, the changed ones as they are now.
  select e.month_start, (sum(e.activity_count))::bigint, sum(e.minutes) / 60.0, (sum(e.minutes))::bigint, count(*)
  from (
    select p.month_start, p.activity_count, p.total_minutes as minutes
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
create function private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[])
returns table (peer_mentor_id uuid, month_start date, activity_count bigint, total_hours numeric, total_minutes bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 200
as $$
declare
  every_mentor constant boolean := private.caller_sees_chapter(chapter);
  mentors uuid[] := '{}'::uuid[];
begin
  if not every_mentor then
    mentors := private.own_peer_mentor_ids();
    if pg_catalog.cardinality(mentors) = 0 then
      return;
    end if;
  end if;
  return query
  with changed as materialized (
    select c.peer_mentor_id, c.month_start, c.activity_count, c.minutes
    from private.changed_peer_mentor_months(chapter, key_mentors, key_days) c
    where every_mentor or c.peer_mentor_id = any (mentors)
  )
  select p.peer_mentor_id, p.month_start, p.activity_count, p.total_hours, p.total_minutes
  from private.mv_peer_mentor_stats p
  where p.chapter_id = chapter
    and (every_mentor or p.peer_mentor_id = any (mentors))
    and not exists (select from changed c where c.peer_mentor_id = p.peer_mentor_id and c.month_start = p.month_start)
  union all
  select c.peer_mentor_id, c.month_start, c.activity_count, c.minutes / 60.0, c.minutes
  from changed c
  where c.activity_count > 0;
end
$$;

comment on function private.activity_time_series_of(uuid, date[]) is
  'The chapter''s rows of public.activity_time_series, exact now given the chapter''s logged keys, when the caller may read them; none otherwise.';
comment on function private.chapter_stats_of(uuid, uuid[], date[]) is
  'The chapter''s rows of public.chapter_stats, exact now given the chapter''s logged keys, when the caller may read them; none otherwise.';
comment on function private.peer_mentor_stats_of(uuid, uuid[], date[]) is
  'The chapter''s rows of public.peer_mentor_stats, exact now given the chapter''s logged keys: every mentor''s for a caller who sees the chapter, else the caller''s own.';

revoke all on function private.activity_time_series_of(uuid, date[]), private.chapter_stats_of(uuid, uuid[], date[]),
  private.peer_mentor_stats_of(uuid, uuid[], date[])
  from public, anon, authenticated, service_role;
grant execute on function private.activity_time_series_of(uuid, date[]), private.chapter_stats_of(uuid, uuid[], date[]),
  private.peer_mentor_stats_of(uuid, uuid[], date[])
  to authenticated, service_role;

-- The API views: the caller's chapters with their keys (one call), then one call per chapter.
create view public.activity_time_series with (security_invoker = true) as
select s.bucket_date, c.chapter_id, s.activity_count, s.total_hours, s.total_minutes
from private.stats_chapters() c
cross join lateral private.activity_time_series_of(c.chapter_id, c.key_days) s;
comment on view public.activity_time_series is
  'Daily activity count, hours and minutes of the caller''s chapters, exact at every moment (equal to v_activity_time_series). Add up rows by total_minutes. public.stats_freshness says when the materialized part was last refreshed.';

create view public.chapter_stats with (security_invoker = true) as
select c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.total_minutes, s.active_mentor_count
from private.stats_chapters() c
cross join lateral private.chapter_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;
comment on view public.chapter_stats is
  'Monthly figures of the caller''s chapters, exact at every moment (equal to v_chapter_stats). Add up rows by total_minutes.';

create view public.peer_mentor_stats with (security_invoker = true) as
select s.peer_mentor_id, c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.total_minutes
from private.peer_mentor_stats_chapters() c
cross join lateral private.peer_mentor_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;
comment on view public.peer_mentor_stats is
  'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), exact at every moment (equal to v_peer_mentor_stats). Add up rows by total_minutes.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
revoke all on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  to authenticated, service_role;
