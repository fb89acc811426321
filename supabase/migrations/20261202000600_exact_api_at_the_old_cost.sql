-- The exact API at the cost of the release before it: reads with one caller check and one
-- look at the dirty-key log per request, and a refresh that recomputes the mentor-day grain
-- only where the log says it changed (see "The mentor-day grain" below).
--
-- Migration 20261127000100 made each API view call a function per chapter of the caller, so
-- a dashboard's "chapter_id = X" filter reaches the chapter list before any recomputation.
-- But each of those calls checked the caller again, through private.stats_chapter_ids() (the
-- role, the claims, the coordinator's chapters: SQL functions that plan their bodies per
-- call), and looked at the log again, once or twice: a five-chapter coordinator reading all
-- five chapters paid five times what one chapter costs, with the data a small part of it.
--
-- Here each API view reads its chapter list from one function per request, which makes the
-- caller check and reads the log's keys for all those chapters in one query. The view's
-- chapter filter still applies to that list, before the per-chapter function is called, so
-- only the chapters asked for are recomputed. The per-chapter functions take their chapter's
-- keys as arguments and keep, for a direct call, a membership test of their chapter: one
-- index probe (the caller's row of coordinator_chapters), not the whole check.
--
-- The keys a caller passes are no secret and no privilege: they only say which days to
-- recompute live. A wrong list gives the caller wrong figures for chapters they may read
-- anyway, never a row of another chapter or another mentor.

-- The refresh's lock first, as the migrations before this one take it: a refresh by pg_cron
-- must not run while objects of the exact API are replaced.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop view public.peer_mentor_stats;
drop view public.chapter_stats;
drop view public.activity_time_series;
drop function private.activity_time_series_of(uuid);
drop function private.chapter_stats_of(uuid);
drop function private.peer_mentor_stats_of(uuid);
drop function private.changed_peer_mentor_months(uuid);
drop function private.chapter_dirty_keys(uuid);
drop function private.peer_mentor_stats_chapter_ids();

-- The caller's identity, in plpgsql rather than SQL: a SQL function that cannot be inlined
-- (these set search_path) plans its body at every query that calls it, and these four ran
-- nested, in every request: 0.3 ms of the caller check (EXPLAIN ANALYZE of
-- private.stats_chapter_ids() as a coordinator on 100k activities), 0.09 ms in plpgsql,
-- which keeps each plan for the session. Same queries, same rights (the caller's), same
-- answers; the row security policies that call them are unchanged.
create or replace function private.coordinated_chapter_ids() returns uuid[]
language plpgsql stable
set search_path = ''
as $$
begin
  return (select coalesce(pg_catalog.array_agg(c.chapter_id), '{}')
          from public.coordinator_chapters c
          where c.user_id = auth.uid());
end
$$;

create or replace function private.own_peer_mentor_ids() returns uuid[]
language plpgsql stable
set search_path = ''
as $$
begin
  return (select coalesce(pg_catalog.array_agg(m.id), '{}')
          from public.peer_mentors m
          where m.user_id = auth.uid());
end
$$;

create or replace function private.caller_sees_every_chapter() returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce((
    select r.rolsuper or r.rolbypassrls
    from pg_catalog.pg_roles r
    where r.rolname = case pg_catalog.current_setting('role')
                        when 'none' then session_user
                        else pg_catalog.current_setting('role')
                      end
  ), false);
end
$$;

create or replace function private.stats_chapter_ids() returns uuid[]
language plpgsql stable
set search_path = ''
as $$
begin
  if private.caller_sees_every_chapter() then
    return (select coalesce(pg_catalog.array_agg(c.id), '{}') from public.chapters c);
  end if;
  return private.coordinated_chapter_ids();
end
$$;

-- The per-chapter membership test: one probe of coordinator_chapters' primary key, in
-- plpgsql so its plan is kept for the session. The same answer as
-- "chapter = any (private.stats_chapter_ids())" for a chapter that exists.
create or replace function private.caller_sees_chapter(chapter uuid) returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return exists (select from public.coordinator_chapters c where c.user_id = auth.uid() and c.chapter_id = chapter)
         or private.caller_sees_every_chapter();
end
$$;
comment on function private.caller_sees_chapter(uuid) is
  'Whether the caller may read the chapter-level statistics of the chapter: they coordinate it, or their role bypasses row security (as private.stats_chapter_ids()).';

-- --- The mentor-day grain, maintained from the log ---------------------------------------------
-- Migration 20261127000100 made the mentor-day grain a fourth materialized view, refreshed
-- whole with the other three: its concurrent refresh diffs one row per chapter, mentor and
-- day (139,831 rows on 1.27M activities) and took 1.9 of the refresh's 5.9 s at 1M. As a table
-- it is kept up to date from the log instead: each refresh recomputes only the chapter-days
-- the log names (the entries it is about to remove), with private.live_chapter_days(), the
-- same recomputation the reads make. Its cost follows the changed chapter-days, not the data.
--
-- Why that is exact: a chapter-day not named by an entry the refresh removes is unchanged
-- since the last refresh that recomputed it, or is named by an entry that stays (its writer
-- committed after the refresh's snapshot), which every read recomputes live. The
-- recomputation reads with a snapshot at least as new as the refresh's, so it holds at least
-- every change the removed entries stand for. A change that bypasses the log (its triggers
-- disabled, TRUNCATE) is outside that: TRUNCATE rebuilds the table (below), and
-- private.rebuild_peer_mentor_days() rebuilds it by hand.
create table private.peer_mentor_days (
  chapter_id uuid not null,
  peer_mentor_id uuid not null,
  bucket_date date not null,
  activity_count bigint not null,
  minutes bigint not null,
  -- Led by the chapter: reads look up a chapter's mentor-months by mentor and day range.
  constraint peer_mentor_days_pkey primary key (chapter_id, peer_mentor_id, bucket_date)
);
comment on table private.peer_mentor_days is
  'Counted activities and minutes per chapter, mentor and UTC day: the grain the exact API recomputes changed mentor-months from. Not read by clients. Kept up to date by public.refresh_stats_views() from the chapter-days named in private.stats_dirty_keys; the API merges it with the changes logged since.';
alter table private.peer_mentor_days enable row level security;
revoke all on private.peer_mentor_days from public, anon, authenticated, service_role;
-- Nobody reads it but its owner and the definer-rights functions the owner runs: a policy that
-- admits no row says so to Supabase's linter (0008, row security without a policy).
create policy peer_mentor_days_owner_only on private.peer_mentor_days as restrictive
  for all to public using (false);
-- As of the view's last refresh, as the log expects: the entries since stay, and the next
-- refresh recomputes their chapter-days.
insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
select chapter_id, peer_mentor_id, bucket_date, activity_count, minutes from private.mv_peer_mentor_days;
drop materialized view private.mv_peer_mentor_days;
delete from public.stats_freshness where view_name = 'mv_peer_mentor_days';

create function private.rebuild_peer_mentor_days() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- DELETE, not TRUNCATE: readers keep reading the rows until this transaction commits.
  delete from private.peer_mentor_days;
  insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
  select c.chapter_id, c.peer_mentor_id, (c.recorded_at at time zone 'UTC')::date, count(*),
         (sum(c.duration_minutes))::bigint
  from private.counted_activities c
  group by 1, 2, 3
  -- In the order of the primary key, as the materialized view it replaces was written: a
  -- chapter's mentor-months then sit on few pages.
  order by 1, 2, 3;
end
$$;
comment on function private.rebuild_peer_mentor_days() is
  'Recomputes private.peer_mentor_days whole from private.counted_activities: after a TRUNCATE, after changes made with the log''s triggers disabled, and for a refresh that folds more chapter-days than a rebuild costs.';

-- Recompute the chapter-days of the log entries visible in `folded` (the refresh's snapshot).
-- Past rebuild_above chapter-days (a bulk load), one pass over the activities costs less than
-- a range scan per chapter-day: at 1M activities a rebuild takes about as long as 10,000
-- chapter-days one by one.
create function private.fold_into_peer_mentor_days(folded pg_snapshot) returns void
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  rebuild_above constant integer := 10000;
  chapters uuid[];
  days date[];
begin
  select coalesce(pg_catalog.array_agg(k.chapter_id), '{}'), coalesce(pg_catalog.array_agg(k.bucket_date), '{}')
    into chapters, days
  from (
    select distinct l.chapter_id, l.bucket_date
    from private.stats_dirty_keys l
    where pg_catalog.pg_visible_in_snapshot(l.xid, folded)
  ) k;
  if pg_catalog.cardinality(chapters) > rebuild_above then
    perform private.rebuild_peer_mentor_days();
    return;
  end if;
  delete from private.peer_mentor_days d
  using rows from (pg_catalog.unnest(chapters), pg_catalog.unnest(days)) as f (chapter_id, bucket_date)
  where d.chapter_id = f.chapter_id and d.bucket_date = f.bucket_date;
  insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
  select c.chapter_id, l.peer_mentor_id, l.bucket_date, l.activity_count, l.minutes
  from (
    select f.chapter_id, pg_catalog.array_agg(f.bucket_date) as days
    from rows from (pg_catalog.unnest(chapters), pg_catalog.unnest(days)) as f (chapter_id, bucket_date)
    group by f.chapter_id
  ) c
  cross join lateral private.live_chapter_days(c.chapter_id, c.days) l;
end
$$;
comment on function private.fold_into_peer_mentor_days(pg_snapshot) is
  'Called by public.refresh_stats_views(): recomputes in private.peer_mentor_days the chapter-days of the private.stats_dirty_keys entries visible in the given snapshot (all of it, by private.rebuild_peer_mentor_days(), past 10,000 chapter-days).';
revoke all on function private.rebuild_peer_mentor_days(), private.fold_into_peer_mentor_days(pg_snapshot)
  from public, anon, authenticated, service_role;

-- The refresh of migration 20261127000100 with the mentor-day grain folded from the log
-- instead of refreshed whole. Unchanged otherwise.
create or replace function public.refresh_stats_views(wait boolean default true)
returns table (view_name text, refreshed_at timestamptz, refresh_ms numeric, status text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  refresh_lock constant bigint := 7351046002;
  views constant text[] := array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats'];
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

  -- The mentor-day grain first, from the log: only the chapter-days it names.
  begin
    perform private.fold_into_peer_mentor_days(folded);
  exception when others then
    raise warning 'refresh_stats_views: peer_mentor_days failed: %', sqlerrm;
    outcomes := outcomes || ('peer_mentor_days failed: ' || sqlerrm);
  end;

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
  'Refreshes the three materialized statistics views CONCURRENTLY, recomputes in private.peer_mentor_days the chapter-days the log names, records public.stats_freshness and removes from private.stats_dirty_keys the entries the refresh folded in. Executable by service_role and the owner only. Two never run at once: wait => true waits for a running refresh, wait => false skips.';

-- TRUNCATE logs no keys: the mentor-day grain is rebuilt (to empty) with the views.
create or replace function private.refresh_after_truncate() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.rebuild_peer_mentor_days();
  perform public.refresh_stats_views();
  return null;
end
$$;

-- The distinct logged keys (mentor, UTC day) of each of the given chapters, in one query.
-- With only_mentors, only those mentors' keys: a mentor reading their own rows in a chapter
-- they do not coordinate learns nothing of the others' days.
create function private.chapter_keys(chapters uuid[], only_mentors uuid[] default null)
returns table (chapter_id uuid, key_mentors uuid[], key_days date[])
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 5
as $$
begin
  return query
  select c.chapter_id, coalesce(k.key_mentors, '{}'), coalesce(k.key_days, '{}')
  from pg_catalog.unnest(chapters) as c (chapter_id)
  left join (
    select d.chapter_id, pg_catalog.array_agg(d.peer_mentor_id) as key_mentors,
           pg_catalog.array_agg(d.bucket_date) as key_days
    from (
      select distinct l.chapter_id, l.peer_mentor_id, l.bucket_date
      from private.stats_dirty_keys l
      where l.chapter_id = any (chapters)
        and (only_mentors is null or l.peer_mentor_id = any (only_mentors))
    ) d
    group by d.chapter_id
  ) k on k.chapter_id = c.chapter_id;
end
$$;
comment on function private.chapter_keys(uuid[], uuid[]) is
  'The distinct (mentor, UTC day) keys in private.stats_dirty_keys of each given chapter (of the given mentors only, when only_mentors is set), as two arrays of equal length.';

-- The caller's chapters for the chapter-level endpoints, with their keys: the caller check
-- and the look at the log of a request.
create function private.stats_chapters()
returns table (chapter_id uuid, key_mentors uuid[], key_days date[])
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 5
as $$
begin
  return query
  select k.chapter_id, k.key_mentors, k.key_days
  from private.chapter_keys(private.stats_chapter_ids()) k;
end
$$;
comment on function private.stats_chapters() is
  'The chapters whose chapter-level statistics the caller reads (private.stats_chapter_ids()), each with its keys in private.stats_dirty_keys.';

-- The same for public.peer_mentor_stats: every key of the chapters the caller sees; and for
-- a mentor, the chapters where their own mentor row has figures (a mentor reads their own
-- rows everywhere), with their own keys only.
create function private.peer_mentor_stats_chapters()
returns table (chapter_id uuid, key_mentors uuid[], key_days date[])
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 5
as $$
declare
  seen constant uuid[] := private.stats_chapter_ids();
  mentors constant uuid[] := private.own_peer_mentor_ids();
begin
  return query
  select k.chapter_id, k.key_mentors, k.key_days from private.chapter_keys(seen) k;
  if pg_catalog.cardinality(mentors) > 0 then
    return query
    select k.chapter_id, k.key_mentors, k.key_days
    from private.chapter_keys(array(
      select m.chapter_id from private.mv_peer_mentor_stats m where m.peer_mentor_id = any (mentors)
      union
      select l.chapter_id from private.stats_dirty_keys l where l.peer_mentor_id = any (mentors)
      except
      select pg_catalog.unnest(seen)), mentors) k;
  end if;
end
$$;
comment on function private.peer_mentor_stats_chapters() is
  'The chapters the caller reads rows of public.peer_mentor_stats in, each with its keys in private.stats_dirty_keys: every chapter of private.stats_chapter_ids() with all its keys, and the other chapters where the caller''s own mentor row has figures with the caller''s keys only.';

-- The mentor-months of a chapter with a logged key, as they are now: the clean days from
-- private.peer_mentor_days, every changed day of the chapter live. activity_count 0 means nothing
-- counts there any more (the materialized row, if any, must not be shown).
create function private.changed_peer_mentor_months(chapter uuid, key_mentors uuid[], key_days date[])
returns table (peer_mentor_id uuid, month_start date, activity_count bigint, minutes bigint)
language plpgsql stable security definer
set search_path = ''
set jit = off
rows 20
as $$
declare
  dirty_days constant date[] := array(select distinct d from pg_catalog.unnest(key_days) as d);
begin
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
    from private.peer_mentor_days r
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
comment on function private.changed_peer_mentor_months(uuid, uuid[], date[]) is
  'The chapter''s mentor-months with one of the given keys (mentor, UTC day), as they are now: clean days from private.peer_mentor_days plus changed days from private.live_chapter_days().';

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

revoke all on function private.chapter_keys(uuid[], uuid[]), private.stats_chapters(),
  private.peer_mentor_stats_chapters(), private.changed_peer_mentor_months(uuid, uuid[], date[]),
  private.activity_time_series_of(uuid, date[]), private.chapter_stats_of(uuid, uuid[], date[]),
  private.peer_mentor_stats_of(uuid, uuid[], date[])
  from public, anon, authenticated, service_role;
grant execute on function private.stats_chapters(), private.peer_mentor_stats_chapters(),
  private.activity_time_series_of(uuid, date[]), private.chapter_stats_of(uuid, uuid[], date[]),
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
