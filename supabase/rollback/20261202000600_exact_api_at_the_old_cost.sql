-- Down: back to the reads and the refresh of migration 20261127000100: one caller check and
-- one look at the log per chapter, the mentor-day grain a materialized view refreshed whole.
-- Base tables and their rows, the log and the three views of the contract are left alone.

-- The refresh's lock first, as the up script takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.activity_time_series_of(uuid, date[]);
drop function private.chapter_stats_of(uuid, uuid[], date[]);
drop function private.peer_mentor_stats_of(uuid, uuid[], date[]);
drop function private.changed_peer_mentor_months(uuid, uuid[], date[]);
drop function private.stats_chapters();
drop function private.peer_mentor_stats_chapters();
drop function private.chapter_keys(uuid[], uuid[]);

-- The mentor-day grain back as the materialized view of migration 20261127000100, refreshed
-- whole with the other three; recomputed from the activities here, so at least as new as the
-- log expects.
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

-- Its refresh and the TRUNCATE trigger as they were.
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

create or replace function private.refresh_after_truncate() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.refresh_stats_views();
  return null;
end
$$;

drop function private.fold_into_peer_mentor_days(pg_snapshot);
drop function private.rebuild_peer_mentor_days();
drop table private.peer_mentor_days;

-- The caller's identity as SQL functions, as migrations 20261125000100 and 20261125000200 made them.
create or replace function private.coordinated_chapter_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(chapter_id), '{}')
  from public.coordinator_chapters
  where user_id = auth.uid()
$$;

create or replace function private.own_peer_mentor_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(id), '{}')
  from public.peer_mentors
  where user_id = auth.uid()
$$;

create or replace function private.caller_sees_every_chapter() returns boolean
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

create or replace function private.stats_chapter_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select case
    when private.caller_sees_every_chapter()
      then (select coalesce(array_agg(c.id), '{}') from public.chapters c)
    else private.coordinated_chapter_ids()
  end
$$;

-- The definitions of migration 20261127000100, as they were.
create or replace function private.caller_sees_chapter(chapter uuid) returns boolean
language sql stable
set search_path = ''
as $$ select coalesce(chapter = any (private.stats_chapter_ids()), false) $$;
comment on function private.caller_sees_chapter(uuid) is
  'Whether the caller may read the chapter-level statistics of the chapter (private.stats_chapter_ids()).';

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
