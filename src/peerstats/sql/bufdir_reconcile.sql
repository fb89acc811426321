-- The Bufdir export beside the dashboard, per UTC year and chapter: the export function, the
-- materialized views (what the dashboard shows, as of their last refresh) and the plain views
-- (the same rule computed live). Parameter: the year, or null for every year that has counted
-- activities or materialized figures.
--
-- Hours are compared as whole minutes: every total_hours is sum(duration_minutes) / 60.0, so
-- round(total_hours * 60) gives back its minutes exactly, and minutes add up exactly across
-- months where hours rounded at the 20th decimal would not.
-- A year's active mentors cannot be added up from months (a mentor active in two months
-- would count twice), so they are counted from the mentor-level views.
with years as (
  select %(year)s::int as year
  where %(year)s::int is not null
  union
  select extract(year from c.recorded_at at time zone 'UTC')::int
  from private.counted_activities c
  where %(year)s::int is null
  union
  select extract(year from m.month_start)::int
  from private.mv_chapter_stats m
  where %(year)s::int is null
),
exported as (
  select y.year, e.chapter_id, e.chapter_name, e.activity_count,
         round(e.total_hours * 60)::bigint as total_minutes, e.active_mentor_count
  from years y
  cross join lateral private.bufdir_export(y.year) e
  where e.activity_type is null  -- the chapter's total row
),
materialized_chapters as (
  select extract(year from m.month_start)::int as year, m.chapter_id,
         sum(m.activity_count)::bigint as activity_count,
         sum(round(m.total_hours * 60))::bigint as total_minutes
  from private.mv_chapter_stats m
  where extract(year from m.month_start)::int in (select year from years)
  group by 1, 2
),
materialized_mentors as (
  select extract(year from p.month_start)::int as year, p.chapter_id,
         count(distinct p.peer_mentor_id) as active_mentor_count
  from private.mv_peer_mentor_stats p
  where extract(year from p.month_start)::int in (select year from years)
  group by 1, 2
),
live_chapters as (
  select extract(year from v.month_start)::int as year, v.chapter_id,
         sum(v.activity_count)::bigint as activity_count,
         sum(round(v.total_hours * 60))::bigint as total_minutes
  from public.v_chapter_stats v
  where extract(year from v.month_start)::int in (select year from years)
  group by 1, 2
),
live_mentors as (
  select extract(year from v.month_start)::int as year, v.chapter_id,
         count(distinct v.peer_mentor_id) as active_mentor_count
  from public.v_peer_mentor_stats v
  where extract(year from v.month_start)::int in (select year from years)
  group by 1, 2
)
select e.year, e.chapter_id, e.chapter_name,
       e.activity_count, e.total_minutes, e.active_mentor_count,
       coalesce(mc.activity_count, 0), coalesce(mc.total_minutes, 0), coalesce(mm.active_mentor_count, 0),
       coalesce(lc.activity_count, 0), coalesce(lc.total_minutes, 0), coalesce(lm.active_mentor_count, 0)
from exported e
left join materialized_chapters mc on (mc.year, mc.chapter_id) = (e.year, e.chapter_id)
left join materialized_mentors mm on (mm.year, mm.chapter_id) = (e.year, e.chapter_id)
left join live_chapters lc on (lc.year, lc.chapter_id) = (e.year, e.chapter_id)
left join live_mentors lm on (lm.year, lm.chapter_id) = (e.year, e.chapter_id)
order by e.year, e.chapter_name, e.chapter_id;
