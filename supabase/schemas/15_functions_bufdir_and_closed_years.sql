-- The annual Bufdir export and closed reporting years.
--
-- private.bufdir_export(year) computes every chapter's figures for one UTC year from the
-- counting rule. `peerstats bufdir close` stores a year's export as submitted
-- (private.bufdir_submissions, 38_bufdir_submissions.sql); from then on the database refuses
-- every write that would change that year's figures until `bufdir reopen`, which is logged in
-- private.reporting_year_events (39_reporting_year_events.sql). A year's state is a row of
-- private.reporting_years (37_reporting_years.sql); the triggers calling these functions are
-- in 24_activity_types.sql and 25_activities.sql.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

CREATE FUNCTION private.activities_deleted_check_years() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select extract(year from o.recorded_at at time zone 'UTC')::integer from old_rows o
    union
    select extract(year from d.recorded_at at time zone 'UTC')::integer
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)));
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_deleted_check_years() FROM PUBLIC;

-- The years a statement touches: those of the rows it writes, old and new, and of the
-- duplicates of the rows it changes or deletes (whether a duplicate counts depends on its
-- original). Transition tables admit one event per trigger, hence three small functions.
CREATE FUNCTION private.activities_inserted_check_years() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select distinct extract(year from n.recorded_at at time zone 'UTC')::integer from new_rows n));
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_inserted_check_years() FROM PUBLIC;

CREATE FUNCTION private.activities_updated_check_years() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select extract(year from n.recorded_at at time zone 'UTC')::integer from new_rows n
    union
    select extract(year from o.recorded_at at time zone 'UTC')::integer from old_rows o
    union
    select extract(year from d.recorded_at at time zone 'UTC')::integer
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)));
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_updated_check_years() FROM PUBLIC;

-- The Bufdir export: the annual figures per chapter and activity type that the national office
-- reports to Bufdir, computed from the one counting rule (private.counted_activities) and
-- nothing else, so the export and the dashboard can only differ by staleness.
--
-- The year is the UTC calendar year, the same boundary the dashboard's UTC months use:
-- [1 January 00:00 UTC, next 1 January 00:00 UTC), written as a range on recorded_at so the
-- (chapter_id, recorded_at) index can serve it. total_minutes is sum(duration_minutes), exact,
-- and total_hours total_minutes / 60.0, the views' expressions; turning minutes into hours for
-- publication is the caller's (peerstats rounds a half up to two decimals, which still tells
-- every whole minute apart).
CREATE FUNCTION private.bufdir_export(report_year integer) RETURNS TABLE(chapter_id uuid, chapter_name text, activity_type text, activity_count bigint, total_hours numeric, total_minutes bigint, active_mentor_count bigint)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
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

COMMENT ON FUNCTION private.bufdir_export(report_year integer) IS 'Bufdir annual figures for one UTC calendar year, from private.counted_activities only: per chapter a total row (activity_type null; zeros when nothing counted) and a row per counted activity type. total_minutes = sum(duration_minutes), exact; total_hours = total_minutes / 60.0, unrounded. Executable by service_role and the owner only.';

REVOKE ALL ON FUNCTION private.bufdir_export(report_year integer) FROM PUBLIC;

GRANT ALL ON FUNCTION private.bufdir_export(report_year integer) TO service_role;

-- Close a year: lock it against writers, store the export as submitted, log who and when.
CREATE FUNCTION private.close_reporting_year(report_year integer, operator text DEFAULT NULL::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  current_status text;
  submission_id bigint;
begin
  insert into private.reporting_years (year) values (report_year) on conflict (year) do nothing;
  select r.status into current_status from private.reporting_years r where r.year = report_year for update;
  if current_status = 'closed' then
    raise exception 'reporting year % is already closed', report_year
      using errcode = 'check_violation';
  end if;
  update private.reporting_years
  set status = 'closed', changed_at = pg_catalog.now(), changed_by = private.requesting_role()
  where year = report_year;
  insert into private.bufdir_submissions (year, submitted_by, operator, figures)
  select report_year, private.requesting_role(), operator,
         coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)), '[]'::jsonb)
  from private.bufdir_export(report_year) e
  returning id into submission_id;
  insert into private.reporting_year_events (year, event, by_role, operator, submission_id)
  values (report_year, 'closed', private.requesting_role(), operator, submission_id);
  return submission_id;
end
$$;

REVOKE ALL ON FUNCTION private.close_reporting_year(report_year integer, operator text) FROM PUBLIC;

GRANT ALL ON FUNCTION private.close_reporting_year(report_year integer, operator text) TO service_role;

-- TRUNCATE fires no row or transition-table trigger: refused while any year is closed or reopened.
CREATE FUNCTION private.refuse_truncate_with_closed_years() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  closed_years text;
begin
  select string_agg(r.year::text, ', ' order by r.year) into closed_years
  from private.reporting_years r where r.status <> 'open';
  if closed_years is not null then
    raise exception 'activities cannot be truncated: reporting year(s) % are closed or reopened', closed_years
      using errcode = 'check_violation';
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.refuse_truncate_with_closed_years() FROM PUBLIC;

-- Whether a type counts, or its code, decides the figures of every year it was used in.
CREATE FUNCTION private.refuse_type_changes_in_closed_years() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  mentor_ids uuid[];
  days date[];
begin
  if tg_op = 'DELETE' or (new.counts_in_stats is distinct from old.counts_in_stats or new.code <> old.code) then
    perform private.refuse_snapshot_older_than_committed_writers();
    -- The years of the type's activities and of their duplicates, whose counting follows
    -- their original's.
    perform private.refuse_writes_in_closed_years(array(
      select distinct extract(year from a.recorded_at at time zone 'UTC')::integer
      from public.activities a
      where a.activity_type = old.code
      union
      select distinct extract(year from d.recorded_at at time zone 'UTC')::integer
      from public.activities d
      join public.activities o on o.id = d.duplicate_of
      where o.activity_type = old.code));
  end if;
  -- A type that starts counting adds its activities' minutes; one that stops adds those of
  -- the duplicates of its activities, which now count in their place.
  if tg_op = 'UPDATE' and new.counts_in_stats is distinct from old.counts_in_stats then
    select pg_catalog.array_agg(k.peer_mentor_id), pg_catalog.array_agg(k.day) into mentor_ids, days
    from (select a.peer_mentor_id, (a.recorded_at at time zone 'UTC')::date as day
          from public.activities a
          where new.counts_in_stats and a.activity_type = new.code and a.deleted_at is null
          union
          select d.peer_mentor_id, (d.recorded_at at time zone 'UTC')::date
          from public.activities d
          join public.activities o on o.id = d.duplicate_of
          where not new.counts_in_stats and o.activity_type = new.code and d.deleted_at is null) k;
    if mentor_ids is not null then
      perform private.refuse_overfull_mentor_days(mentor_ids, days);
    end if;
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.refuse_type_changes_in_closed_years() FROM PUBLIC;

CREATE FUNCTION private.refuse_writes_in_closed_years(touched_years integer[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  closed_year integer;
  closed_status text;
begin
  insert into private.reporting_years (year)
  select distinct y from pg_catalog.unnest(touched_years) y where y is not null
  on conflict (year) do nothing;
  for closed_year, closed_status in
    select r.year, r.status from private.reporting_years r
    where r.year = any (touched_years)
    order by r.year
    for share
  loop
    if closed_status = 'closed' then
      raise exception 'reporting year % is closed: its figures were submitted to Bufdir, so its activities cannot be inserted, changed or deleted', closed_year
        using errcode = 'check_violation',
              hint = pg_catalog.format('The national office may reopen it: peerstats bufdir reopen --year %s --reason TEXT', closed_year);
    elsif closed_status = 'reopened' and not private.caller_sees_every_chapter() then
      raise exception 'reporting year % is reopened for corrections by the national office (service_role) only', closed_year
        using errcode = 'insufficient_privilege';
    end if;
  end loop;
end
$$;

REVOKE ALL ON FUNCTION private.refuse_writes_in_closed_years(touched_years integer[]) FROM PUBLIC;

CREATE FUNCTION private.reopen_reporting_year(report_year integer, reason text, operator text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  current_status text;
begin
  if coalesce(pg_catalog.btrim(reason), '') = '' then
    raise exception 'reopening reporting year % needs a reason', report_year
      using errcode = 'check_violation';
  end if;
  select r.status into current_status from private.reporting_years r where r.year = report_year for update;
  if current_status is distinct from 'closed' then
    raise exception 'reporting year % is not closed', report_year
      using errcode = 'check_violation';
  end if;
  update private.reporting_years
  set status = 'reopened', changed_at = pg_catalog.now(), changed_by = private.requesting_role()
  where year = report_year;
  insert into private.reporting_year_events (year, event, by_role, operator, reason)
  values (report_year, 'reopened', private.requesting_role(), operator, reason);
end
$$;

REVOKE ALL ON FUNCTION private.reopen_reporting_year(report_year integer, reason text, operator text) FROM PUBLIC;

GRANT ALL ON FUNCTION private.reopen_reporting_year(report_year integer, reason text, operator text) TO service_role;
