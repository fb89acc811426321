-- Down: private.bufdir_export(year) without total_minutes, as 20261125000500 made it.
drop function private.bufdir_export(integer);

create function private.bufdir_export(report_year integer)
returns table (
  chapter_id uuid,
  chapter_name text,
  activity_type text,
  activity_count bigint,
  total_hours numeric,
  active_mentor_count bigint
)
language sql stable
set search_path = ''
as $$
  with counted_in_year as (
    select c.chapter_id, c.activity_type, c.peer_mentor_id, c.duration_minutes
    from private.counted_activities c
    where c.recorded_at >= pg_catalog.make_date(report_year, 1, 1)::timestamp at time zone 'UTC'
      and c.recorded_at < pg_catalog.make_date(report_year + 1, 1, 1)::timestamp at time zone 'UTC'
  ),
  totals as (
    select y.chapter_id,
           y.activity_type,
           count(*) as activity_count,
           sum(y.duration_minutes) / 60.0 as total_hours,
           count(distinct y.peer_mentor_id) as active_mentor_count
    from counted_in_year y
    group by grouping sets ((y.chapter_id), (y.chapter_id, y.activity_type))
  )
  -- Every chapter has its total row (activity_type null), with zeros when nothing of it
  -- counted that year; then one row per activity type that counted there.
  select ch.id, ch.name, t.activity_type,
         coalesce(t.activity_count, 0), coalesce(t.total_hours, 0), coalesce(t.active_mentor_count, 0)
  from public.chapters ch
  left join totals t on t.chapter_id = ch.id
  order by ch.name, ch.id, t.activity_type nulls first
$$;
comment on function private.bufdir_export(integer) is
  'Bufdir annual figures for one UTC calendar year, from private.counted_activities only: per chapter a total row (activity_type null; zeros when nothing counted) and a row per counted activity type. total_hours = sum(duration_minutes) / 60.0, unrounded. Executable by service_role and the owner only.';
revoke all on function private.bufdir_export(integer) from public, anon, authenticated;
grant execute on function private.bufdir_export(integer) to service_role;
