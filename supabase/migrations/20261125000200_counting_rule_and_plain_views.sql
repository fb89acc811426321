-- The one counting rule and the plain statistics views computed live from it.
--
-- private.counted_activities is the only way any statistic reads activities: the plain views
-- below, the materialized views and the Bufdir export all select from it. Changing what
-- counts means changing this view, and every consumer follows.

create view private.counted_activities
with (security_invoker = true) as
select a.id, a.peer_mentor_id, a.chapter_id, a.activity_type, a.recorded_at, a.duration_minutes
from public.activities a
join public.activity_types t on t.code = a.activity_type
where a.deleted_at is null        -- soft-deleted activities never count
  and a.duplicate_of is null      -- a registration that repeats another never counts
  and t.counts_in_stats;          -- only types marked as counting
comment on view private.counted_activities is
  'The counting rule: activities that are not soft-deleted, not a duplicate, and of a type with counts_in_stats. Every statistic and the Bufdir export read activities through this view only.';

-- Whether the calling role sees every chapter's statistics: superusers and roles that bypass
-- row security (service_role). The caller is the role PostgREST (or SET ROLE) switched to,
-- which stays the same inside SECURITY DEFINER functions, unlike current_user.
create function private.caller_sees_every_chapter() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce((
    select r.rolsuper or r.rolbypassrls
    from pg_catalog.pg_roles r
    where r.rolname = case pg_catalog.current_setting('role')
                        when 'none' then session_user
                        else pg_catalog.current_setting('role')
                      end
  ), false)
$$;

-- The chapters whose chapter-level statistics the caller may see: every chapter for
-- service_role, else the chapters auth.uid() coordinates. Chapter-level figures are shown
-- whole or not at all: a mentor who can read their own activities in a chapter they do not
-- coordinate must not get a chapter total made of just those.
create function private.stats_chapter_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select case
    when private.caller_sees_every_chapter()
      then (select coalesce(array_agg(c.id), '{}') from public.chapters c)
    else private.coordinated_chapter_ids()
  end
$$;

revoke all on function private.caller_sees_every_chapter() from public;
revoke all on function private.stats_chapter_ids() from public;
grant execute on function private.caller_sees_every_chapter() to authenticated, service_role;
grant execute on function private.stats_chapter_ids() to authenticated, service_role;
revoke all on private.counted_activities from public, anon, authenticated;
grant select on private.counted_activities to authenticated, service_role;

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

create view private.peer_mentor_stats_live
with (security_invoker = true) as
select c.peer_mentor_id,
       c.chapter_id,
       (date_trunc('month', c.recorded_at at time zone 'UTC'))::date as month_start,
       count(*) as activity_count,
       sum(c.duration_minutes) / 60.0 as total_hours
from private.counted_activities c
group by 1, 2, 3;

revoke all on private.activity_time_series_live, private.chapter_stats_live, private.peer_mentor_stats_live
  from public, anon, authenticated;
grant select on private.activity_time_series_live, private.chapter_stats_live, private.peer_mentor_stats_live
  to authenticated, service_role;

-- The chapter filter is on a grouping column, so PostgreSQL applies it to the activities
-- before aggregating (through activities_chapter_id_recorded_at), not to the finished groups.
create view public.v_activity_time_series
with (security_invoker = true) as
select bucket_date, chapter_id, activity_count, total_hours
from private.activity_time_series_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);
comment on view public.v_activity_time_series is
  'Daily activity count and hours per chapter, computed live (the reference for mv_activity_time_series and the fallback when it is stale).';

create view public.v_chapter_stats
with (security_invoker = true) as
select chapter_id, month_start, activity_count, total_hours, active_mentor_count
from private.chapter_stats_live
where chapter_id = any ((select private.stats_chapter_ids())::uuid[]);
comment on view public.v_chapter_stats is
  'Monthly activity count, hours and active mentors per chapter, computed live.';

-- Mentor rows need no chapter filter: row security on activities already shows a caller
-- either all of a mentor's activities in a chapter (as its coordinator, or as that mentor)
-- or none of them, so every group is whole.
create view public.v_peer_mentor_stats
with (security_invoker = true) as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours
from private.peer_mentor_stats_live;
comment on view public.v_peer_mentor_stats is
  'Monthly activity count and hours per mentor and chapter, computed live.';

revoke all on public.v_activity_time_series, public.v_chapter_stats, public.v_peer_mentor_stats
  from public, anon, authenticated, service_role;
grant select on public.v_activity_time_series, public.v_chapter_stats, public.v_peer_mentor_stats
  to authenticated, service_role;
