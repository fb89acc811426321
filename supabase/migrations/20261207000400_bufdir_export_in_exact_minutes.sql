-- The Bufdir export in exact minutes: private.bufdir_export(year) gains total_minutes bigint
-- (sum(duration_minutes), exact) after total_hours (kept, total_minutes / 60.0), as every
-- statistics view did in 20261207000100. peerstats turns a figure's minutes into hours once,
-- rounding a half up at the decimals it shows (two for Bufdir), and never recovers minutes from
-- hours. A submission stored by private.close_reporting_year from now on carries total_minutes
-- too (it stores the function's rows as they are); one stored before has total_hours only, from
-- which round(total_hours * 60) gives its minutes back exactly.
drop function private.bufdir_export(integer);

create function private.bufdir_export(report_year integer)
returns table (
  chapter_id uuid,
  chapter_name text,
  activity_type text,
  activity_count bigint,
  total_hours numeric,
  total_minutes bigint,
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
           sum(y.duration_minutes)::bigint as total_minutes,
           count(distinct y.peer_mentor_id) as active_mentor_count
    from counted_in_year y
    group by grouping sets ((y.chapter_id), (y.chapter_id, y.activity_type))
  )
  -- Every chapter has its total row (activity_type null), with zeros when nothing of it
  -- counted that year; then one row per activity type that counted there.
  select ch.id, ch.name, t.activity_type,
         coalesce(t.activity_count, 0), coalesce(t.total_minutes / 60.0, 0), coalesce(t.total_minutes, 0),
         coalesce(t.active_mentor_count, 0)
  from public.chapters ch
  left join totals t on t.chapter_id = ch.id
  order by ch.name, ch.id, t.activity_type nulls first
$$;
comment on function private.bufdir_export(integer) is
  'Bufdir annual figures for one UTC calendar year, from private.counted_activities only: per chapter a total row (activity_type null; zeros when nothing counted) and a row per counted activity type. total_minutes = sum(duration_minutes), exact; total_hours = total_minutes / 60.0, unrounded. Executable by service_role and the owner only.';
revoke all on function private.bufdir_export(integer) from public, anon, authenticated;
grant execute on function private.bufdir_export(integer) to service_role;
