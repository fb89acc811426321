-- Down: the statistics views without total_minutes, as 20261202000600 and the migrations before
-- it made them (the materialized views rebuilt, with their indexes, comments and grants).

-- The refresh's lock first: a refresh by pg_cron must not run while its views are replaced.
-- CASCADE, as every down script that drops the materialized views (peerstats verify, AC7, reads
-- it so); nothing of this project depends on them.
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
drop materialized view private.mv_peer_mentor_stats cascade;
drop materialized view private.mv_chapter_stats cascade;
drop materialized view private.mv_activity_time_series cascade;
drop view private.peer_mentor_stats_live;
drop view private.chapter_stats_live;
drop view private.activity_time_series_live;

-- The three aggregates, written once: the plain views below filter them per caller, and the
-- materialized views store them whole. Dates are UTC calendar days and months, whatever the
-- session's time zone. security_invoker, so row security still decides what a caller reads.
create view private.activity_time_series_live
with (security_invoker = true) as
select (date_trunc('day', c.recorded_at at time zone 'UTC'))::date as bucket_date,
       c.chapter_id,
       count(*) as activity_count,
       sum(c.duration_minutes) / 60.0 as total_hours
from private.counted_activities c
group by 1, 2;

GRANT SELECT ON TABLE private.activity_time_series_live TO authenticated;

GRANT SELECT ON TABLE private.activity_time_series_live TO service_role;

-- Per mentor first, then per chapter: one row per active mentor makes count(*) the distinct
-- mentors, which a hash aggregate does far faster than count(distinct) (614 against 365 ms
-- on 1M activities). Minutes are summed as integers and divided once, so total_hours is
-- exactly sum(duration_minutes) / 60.0 as everywhere else.
create view private.chapter_stats_live
with (security_invoker = true) as
select per_mentor.chapter_id,
       per_mentor.month_start,
       sum(per_mentor.activity_count)::bigint as activity_count,
       sum(per_mentor.minutes) / 60.0 as total_hours,
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

GRANT SELECT ON TABLE private.chapter_stats_live TO authenticated;

GRANT SELECT ON TABLE private.chapter_stats_live TO service_role;

create view private.peer_mentor_stats_live
with (security_invoker = true) as
select c.peer_mentor_id,
       c.chapter_id,
       (date_trunc('month', c.recorded_at at time zone 'UTC'))::date as month_start,
       count(*) as activity_count,
       sum(c.duration_minutes) / 60.0 as total_hours
from private.counted_activities c
group by 1, 2, 3;

GRANT SELECT ON TABLE private.peer_mentor_stats_live TO authenticated;

GRANT SELECT ON TABLE private.peer_mentor_stats_live TO service_role;

-- The chapter filter is on a grouping column, so PostgreSQL applies it to the activities
-- before aggregating (through activities_chapter_id_recorded_at), not to the finished groups.
create view public.v_activity_time_series
with (security_invoker = true) as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);

COMMENT ON VIEW public.v_activity_time_series IS 'Daily activity count and hours per chapter, computed live (the reference for mv_activity_time_series and the fallback when it is stale).';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_activity_time_series FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.v_activity_time_series TO authenticated;

GRANT SELECT ON TABLE public.v_activity_time_series TO service_role;

create view public.v_chapter_stats
with (security_invoker = true) as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);

COMMENT ON VIEW public.v_chapter_stats IS 'Monthly activity count, hours and active mentors per chapter, computed live.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_chapter_stats FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.v_chapter_stats TO authenticated;

GRANT SELECT ON TABLE public.v_chapter_stats TO service_role;

-- Mentor rows need no chapter filter: row security on activities already shows a caller
-- either all of a mentor's activities in a chapter (as its coordinator, or as that mentor)
-- or none of them, so every group is whole.
create view public.v_peer_mentor_stats
with (security_invoker = true) as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_live;

COMMENT ON VIEW public.v_peer_mentor_stats IS 'Monthly activity count and hours per mentor and chapter, computed live.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_peer_mentor_stats FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.v_peer_mentor_stats TO authenticated;

GRANT SELECT ON TABLE public.v_peer_mentor_stats TO service_role;

-- The stored aggregates are the same views the plain views filter (40_counting_rule_and_plain_views.sql), so the two
-- cannot drift apart. Each is stored in the order of its chapter index, so a chapter's rows
-- sit together on few pages; a concurrent refresh appends changed rows, and a plain refresh
-- restores the order.
create materialized view private.mv_activity_time_series as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_live
order by chapter_id, bucket_date
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_activity_time_series FROM PUBLIC, anon, authenticated, service_role;

CREATE INDEX mv_activity_time_series_bucket_date ON private.mv_activity_time_series USING btree (bucket_date);

CREATE UNIQUE INDEX mv_activity_time_series_key ON private.mv_activity_time_series USING btree (chapter_id, bucket_date);

COMMENT ON MATERIALIZED VIEW private.mv_activity_time_series IS 'Daily counted activities and hours per chapter (UTC days), for the dashboard bar chart. STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.activity_time_series is exact at every moment: it recomputes the keys changed since. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''.';

create materialized view private.mv_chapter_stats as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_live
order by chapter_id, month_start
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_chapter_stats FROM PUBLIC, anon, authenticated, service_role;

CREATE UNIQUE INDEX mv_chapter_stats_key ON private.mv_chapter_stats USING btree (chapter_id, month_start);

COMMENT ON MATERIALIZED VIEW private.mv_chapter_stats IS 'Monthly counted activities, hours and active mentors per chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.chapter_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''.';

create materialized view private.mv_peer_mentor_stats as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_live
order by chapter_id, month_start, peer_mentor_id
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_peer_mentor_stats FROM PUBLIC, anon, authenticated, service_role;

CREATE INDEX mv_peer_mentor_stats_chapter_id ON private.mv_peer_mentor_stats USING btree (chapter_id, month_start);

CREATE UNIQUE INDEX mv_peer_mentor_stats_key ON private.mv_peer_mentor_stats USING btree (peer_mentor_id, chapter_id, month_start);

COMMENT ON MATERIALIZED VIEW private.mv_peer_mentor_stats IS 'Monthly counted activities and hours per mentor and chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.peer_mentor_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''.';

create function private.activity_time_series_of(chapter uuid, key_days date[])
returns table (bucket_date date, activity_count bigint, total_hours numeric)
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

create function private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[])
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
    from private.changed_peer_mentor_months(chapter, key_mentors, key_days) c
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
create function private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[])
returns table (peer_mentor_id uuid, month_start date, activity_count bigint, total_hours numeric)
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
-- chapter_id comes from the chapter list, so the dashboard's "chapter_id = X" filters that
-- list, before any per-chapter call.
create view public.activity_time_series with (security_invoker = true) as
select s.bucket_date, c.chapter_id, s.activity_count, s.total_hours
from private.stats_chapters() c
cross join lateral private.activity_time_series_of(c.chapter_id, c.key_days) s;
comment on view public.activity_time_series is
  'Daily activity count and hours of the caller''s chapters, exact at every moment (equal to v_activity_time_series). public.stats_freshness says when the materialized part was last refreshed.';

create view public.chapter_stats with (security_invoker = true) as
select c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.active_mentor_count
from private.stats_chapters() c
cross join lateral private.chapter_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;
comment on view public.chapter_stats is
  'Monthly figures of the caller''s chapters, exact at every moment (equal to v_chapter_stats).';

create view public.peer_mentor_stats with (security_invoker = true) as
select s.peer_mentor_id, c.chapter_id, s.month_start, s.activity_count, s.total_hours
from private.peer_mentor_stats_chapters() c
cross join lateral private.peer_mentor_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;
comment on view public.peer_mentor_stats is
  'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), exact at every moment (equal to v_peer_mentor_stats).';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
revoke all on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.activity_time_series, public.chapter_stats, public.peer_mentor_stats
  to authenticated, service_role;
