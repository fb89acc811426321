-- The Bufdir export beside the dashboard, per UTC year and chapter: the export function, the
-- API the dashboard reads (public.chapter_stats and public.peer_mentor_stats, exact at every
-- moment: the materialized views merged with the changes logged since their last refresh) and
-- the plain views (the same rule computed live). Read as the database owner, who sees every
-- chapter through both. Parameter: the year, or null for every year that has counted
-- activities or dashboard figures.
--
-- Hours are compared as whole minutes: every source gives total_minutes, exact, and minutes
-- add up exactly across months where sums of per-row hours (rounded quotients) would not.
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
  from public.chapter_stats m
  where %(year)s::int is null
),
exported as (
  select y.year, e.chapter_id, e.chapter_name, e.activity_count, e.total_minutes, e.active_mentor_count
  from years y
  cross join lateral private.bufdir_export(y.year) e
  where e.activity_type is null  -- the chapter's total row
),
-- The dashboard's figures and the live ones, side by side as two sources of the same shape.
chapter_months as (
  select 'dashboard' as source, m.month_start, m.chapter_id, m.activity_count, m.total_minutes
  from public.chapter_stats m
  union all
  select 'plain', v.month_start, v.chapter_id, v.activity_count, v.total_minutes
  from public.v_chapter_stats v
),
mentor_months as (
  select 'dashboard' as source, p.month_start, p.chapter_id, p.peer_mentor_id
  from public.peer_mentor_stats p
  union all
  select 'plain', v.month_start, v.chapter_id, v.peer_mentor_id
  from public.v_peer_mentor_stats v
),
chapters as (
  select c.source, extract(year from c.month_start)::int as year, c.chapter_id,
         sum(c.activity_count)::bigint as activity_count,
         sum(c.total_minutes)::bigint as total_minutes
  from chapter_months c
  where extract(year from c.month_start)::int in (select year from years)
  group by 1, 2, 3
),
mentors as (
  select m.source, extract(year from m.month_start)::int as year, m.chapter_id,
         count(distinct m.peer_mentor_id) as active_mentor_count
  from mentor_months m
  where extract(year from m.month_start)::int in (select year from years)
  group by 1, 2, 3
)
select e.year, e.chapter_id, e.chapter_name,
       e.activity_count, e.total_minutes, e.active_mentor_count,
       coalesce(mc.activity_count, 0), coalesce(mc.total_minutes, 0), coalesce(mm.active_mentor_count, 0),
       coalesce(lc.activity_count, 0), coalesce(lc.total_minutes, 0), coalesce(lm.active_mentor_count, 0)
from exported e
left join chapters mc on (mc.source, mc.year, mc.chapter_id) = ('dashboard', e.year, e.chapter_id)
left join mentors mm on (mm.source, mm.year, mm.chapter_id) = ('dashboard', e.year, e.chapter_id)
left join chapters lc on (lc.source, lc.year, lc.chapter_id) = ('plain', e.year, e.chapter_id)
left join mentors lm on (lm.source, lm.year, lm.chapter_id) = ('plain', e.year, e.chapter_id)
order by e.year, e.chapter_name, e.chapter_id;
