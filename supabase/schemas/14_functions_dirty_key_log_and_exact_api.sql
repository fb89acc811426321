-- The dirty-key log and the exact API.
--
-- Write path: statement-level triggers on activities and activity_types (25_activities.sql,
-- 24_activity_types.sql) log the keys (chapter, mentor, UTC day) a write changes into
-- private.stats_dirty_keys (33_stats_dirty_keys.sql), once per key and transaction (a unique
-- index), and nothing for an inserted row that cannot count; a change of a type's
-- counts_in_stats first locks activities (the write guards'
-- private.lock_activities_for_type_changes, 11_functions_write_guards.sql). Read path:
-- each API view (public.peer_mentor_stats, chapter_stats, activity_time_series, in
-- 60_exact_api_views.sql) reads the caller's chapters with their logged keys in one call (the
-- caller check and the look at the log of a request), then calls one function per chapter; a
-- filter on chapter_id reaches that chapter list first. The per-chapter function returns the
-- materialized rows of clean keys merged with the dirty chapter-days recomputed live from
-- private.counted_activities, so every read equals the plain view at that moment. Refresh:
-- refresh_stats_views() (13_functions_refresh.sql) snapshots the log, refreshes, and removes
-- the entries it folded in; every minute a refresh runs once the log passes
-- private.dirty_keys_threshold() entries, or one chapter passes
-- private.dirty_days_threshold() dirty days.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

CREATE FUNCTION private.caller_sees_chapter(chapter uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return exists (select from public.coordinator_chapters c where c.user_id = auth.uid() and c.chapter_id = chapter)
         or private.caller_sees_every_chapter();
end
$$;

COMMENT ON FUNCTION private.caller_sees_chapter(chapter uuid) IS 'Whether the caller may read the chapter-level statistics of the chapter: they coordinate it, or their role bypasses row security (as private.stats_chapter_ids()).';

REVOKE ALL ON FUNCTION private.caller_sees_chapter(chapter uuid) FROM PUBLIC;

-- The Realtime policies on realtime.messages call it as the caller (70_realtime_messages.sql).
GRANT ALL ON FUNCTION private.caller_sees_chapter(chapter uuid) TO authenticated;

-- The threshold refresh counts what makes reads slow. A read of a chapter recomputes each of
-- its dirty days: on 100k seeded activities, a chapter's 12-month read (three endpoints) took
-- 3.9 ms with none, 14.9 ms with 100 and 98 ms with 500 (docs/history.md). So the job
-- also refreshes when one chapter has more dirty days than private.dirty_days_threshold(), a
-- month's worth, which the app's own traffic (this week's activities) stays under and a
-- backfill over months passes. The entry count stays the first bound: it follows the rows a
-- backlog of single-row writes adds to the dirty days, and while it is under its threshold the
-- per-chapter count reads at most that many entries.
CREATE FUNCTION private.dirty_days_threshold() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 31 $$;

COMMENT ON FUNCTION private.dirty_days_threshold() IS 'Distinct dirty days of one chapter in private.stats_dirty_keys past which the every-minute job refreshes.';

REVOKE ALL ON FUNCTION private.dirty_days_threshold() FROM PUBLIC;

GRANT ALL ON FUNCTION private.dirty_days_threshold() TO service_role;

CREATE FUNCTION private.most_dirty_days_of_a_chapter() RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(max(c.days), 0)
  from (select count(distinct d.bucket_date) as days from private.stats_dirty_keys d group by d.chapter_id) c
$$;

COMMENT ON FUNCTION private.most_dirty_days_of_a_chapter() IS 'The most distinct UTC days any one chapter has in private.stats_dirty_keys.';

REVOKE ALL ON FUNCTION private.most_dirty_days_of_a_chapter() FROM PUBLIC;

GRANT ALL ON FUNCTION private.most_dirty_days_of_a_chapter() TO service_role;

-- Reads stay fast after a bulk backfill: when the log holds more than this many entries, the
-- every-minute job refreshes (see docs/history.md, 20261127000100, for how the figure was
-- chosen).
CREATE FUNCTION private.dirty_keys_threshold() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 20000 $$;

REVOKE ALL ON FUNCTION private.dirty_keys_threshold() FROM PUBLIC;

GRANT ALL ON FUNCTION private.dirty_keys_threshold() TO service_role;

-- Every mentor's figures on the given days of a chapter, recomputed from the counting rule:
-- the live part of every read. Grouped inside the LATERAL, so it stays a subquery evaluated
-- per day, with one index range scan of the chapter's activities that day: flattened into a
-- join, the planner (which has no statistics on chapter_id) read the chapter's every activity.
CREATE FUNCTION private.live_chapter_days(chapter uuid, days date[]) RETURNS TABLE(peer_mentor_id uuid, bucket_date date, activity_count bigint, minutes bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 50
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
begin
  return query
  select c.peer_mentor_id, d.bucket_date, c.activity_count, c.minutes
  from pg_catalog.unnest(days) as d (bucket_date)
  cross join lateral (
    select a.peer_mentor_id, count(*) as activity_count, (sum(a.duration_minutes))::bigint as minutes
    from private.counted_activities a
    where a.chapter_id = chapter
      and a.recorded_at >= d.bucket_date::timestamp at time zone 'UTC'
      and a.recorded_at < (d.bucket_date + 1)::timestamp at time zone 'UTC'
    group by a.peer_mentor_id
  ) c;
end
$$;

COMMENT ON FUNCTION private.live_chapter_days(chapter uuid, days date[]) IS 'Every mentor''s counted activities and minutes on each of the given UTC days in the chapter, live from private.counted_activities.';

REVOKE ALL ON FUNCTION private.live_chapter_days(chapter uuid, days date[]) FROM PUBLIC;

-- The triggers run as the owner (SECURITY DEFINER): writers through PostgREST may not write
-- the log themselves. Each logs the keys of the rows the statement touched, old and new,
-- and of the registrations marked as duplicates of them, since whether a duplicate counts
-- may depend on its original (that is private.counted_activities' business, not the log's).
-- A statement that touches no row logs nothing.
--
-- A row marked as a duplicate share-locks its original. A transaction that changes the
-- original meanwhile (soft delete, type) holds a lock that conflicts, so one of the two waits
-- for the other to commit: either the original's writer sees the duplicate and logs its key,
-- or the duplicate's writer commits after it, and its own log entry outlives any refresh
-- that does not see the original's change. Each original is looked up by its key: PL/pgSQL
-- plans the statement once per transaction, and a join planned while the table was small
-- (a hash join over a scan of activities) would read the whole table on every later
-- statement of a long transaction (a seed, an import in batches).
--
-- An inserted row that does not count when it is written (soft-deleted, or of a type that
-- does not count) changes no figure and adds no entry. A switch of that type to counting logs
-- every activity of the type (private.log_retyped_activities), and the write guards make sure
-- it sees this insert or this insert sees it: the switch first takes SHARE on activities
-- (private.lock_activities_for_type_changes), which waits for this transaction, so at READ
-- COMMITTED the counts_in_stats read here is the committed one; at REPEATABLE READ and
-- SERIALIZABLE the insert guard has locked the types FOR SHARE (private.share_lock_types, a
-- trigger that fires before this one), which fails when a switch committed after this
-- transaction's snapshot, and a switch whose snapshot predates a committed insert fails itself
-- (private.refuse_snapshot_older_than_committed_writers).
CREATE FUNCTION private.log_inserted_activities() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
  uncounted_types text[];
begin
  uncounted_types := array(
    select t.code
    from public.activity_types t
    where t.code in (select n.activity_type from new_rows n where n.deleted_at is null)
      and not t.counts_in_stats);
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, n.chapter_id, n.peer_mentor_id, (n.recorded_at at time zone 'UTC')::date
  from new_rows n
  where n.deleted_at is null
    and n.activity_type <> all (uncounted_types)
  on conflict do nothing;
  perform
  from (select distinct n.duplicate_of as id from new_rows n where n.duplicate_of is not null) original
  cross join lateral (select from public.activities o where o.id = original.id for share of o) locked;
  return null;
end
$$;

COMMENT ON FUNCTION private.log_inserted_activities() IS 'AFTER INSERT statement trigger on activities: logs the keys of the new rows that count (not soft-deleted, of a type that counts), once per transaction.';

REVOKE ALL ON FUNCTION private.log_inserted_activities() FROM PUBLIC;

-- A type that starts or stops counting changes the figures of every activity of that type
-- (and of their duplicates): the switch's log, one entry per key and transaction. The lock
-- that leaves no activity of the type unseen is the write guards'
-- private.lock_activities_for_type_changes (11_functions_write_guards.sql).
CREATE FUNCTION private.log_retyped_activities() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
  changed_types text[];
begin
  select coalesce(pg_catalog.array_agg(n.code), '{}'::text[]) into changed_types
  from new_rows n
  where not exists (select from old_rows o where o.code = n.code and o.counts_in_stats = n.counts_in_stats);
  if pg_catalog.cardinality(changed_types) = 0 then
    return null;
  end if;
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, a.chapter_id, a.peer_mentor_id, (a.recorded_at at time zone 'UTC')::date
  from public.activities a
  where a.activity_type = any (changed_types)
     or a.duplicate_of in (select t.id from public.activities t where t.activity_type = any (changed_types))
  on conflict do nothing;
  return null;
end
$$;

COMMENT ON FUNCTION private.log_retyped_activities() IS 'AFTER UPDATE statement trigger on activity_types: logs the keys of every activity of a type whose counts_in_stats changed, once per transaction.';

REVOKE ALL ON FUNCTION private.log_retyped_activities() FROM PUBLIC;

CREATE FUNCTION private.log_updated_activities() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select n.chapter_id, n.peer_mentor_id, n.recorded_at from new_rows n
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k
  on conflict do nothing;
  perform
  from (select distinct n.duplicate_of as id from new_rows n where n.duplicate_of is not null) original
  cross join lateral (select from public.activities o where o.id = original.id for share of o) locked;
  return null;
end
$$;

COMMENT ON FUNCTION private.log_updated_activities() IS 'AFTER UPDATE statement trigger on activities: logs the old and new rows'' keys and those of their duplicates, once per transaction.';

REVOKE ALL ON FUNCTION private.log_updated_activities() FROM PUBLIC;

CREATE FUNCTION private.log_deleted_activities() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k
  on conflict do nothing;
  return null;
end
$$;

COMMENT ON FUNCTION private.log_deleted_activities() IS 'AFTER DELETE statement trigger on activities: logs the deleted rows'' keys and those of their duplicates, once per transaction.';

REVOKE ALL ON FUNCTION private.log_deleted_activities() FROM PUBLIC;

-- TRUNCATE has no transition table; it holds ACCESS EXCLUSIVE on activities anyway, so the
-- views are refreshed to empty within the truncating transaction.
CREATE FUNCTION private.refresh_after_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform private.rebuild_peer_mentor_days();
  perform public.refresh_stats_views();
  return null;
end
$$;

COMMENT ON FUNCTION private.refresh_after_truncate() IS 'AFTER TRUNCATE trigger on activities: refreshes the materialized views inside the truncating transaction.';

REVOKE ALL ON FUNCTION private.refresh_after_truncate() FROM PUBLIC;

CREATE FUNCTION private.refresh_stats_views_if_dirty() RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  entries bigint;
  days bigint;
begin
  -- count(*) of the log stops at the threshold: the check costs the same however large it grew.
  select count(*) into entries
  from (select from private.stats_dirty_keys limit private.dirty_keys_threshold() + 1) d;
  if entries <= private.dirty_keys_threshold() then
    days := private.most_dirty_days_of_a_chapter();
    if days <= private.dirty_days_threshold() then
      return 'below the thresholds: ' || entries::text || ' dirty keys, at most ' || days::text
             || ' dirty days in a chapter';
    end if;
  end if;
  -- Recorded as the requester in private.refresh_runs, so "the last threshold refresh" is known.
  perform pg_catalog.set_config('application_name', 'threshold refresh', true);
  perform public.refresh_stats_views(wait => false);
  return 'refreshed: more than ' || private.dirty_keys_threshold()::text || ' dirty keys or '
         || private.dirty_days_threshold()::text || ' dirty days in a chapter';
end
$$;

COMMENT ON FUNCTION private.refresh_stats_views_if_dirty() IS 'Called every minute by pg_cron (job refresh-stats-views-if-dirty): refreshes when private.stats_dirty_keys holds more than private.dirty_keys_threshold() entries, or one chapter more than private.dirty_days_threshold() dirty days.';

REVOKE ALL ON FUNCTION private.refresh_stats_views_if_dirty() FROM PUBLIC;

GRANT ALL ON FUNCTION private.refresh_stats_views_if_dirty() TO service_role;

CREATE FUNCTION private.chapter_keys(chapters uuid[], only_mentors uuid[] DEFAULT NULL::uuid[]) RETURNS TABLE(chapter_id uuid, key_mentors uuid[], key_days date[])
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 5
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.chapter_keys(chapters uuid[], only_mentors uuid[]) IS 'The distinct (mentor, UTC day) keys in private.stats_dirty_keys of each given chapter (of the given mentors only, when only_mentors is set), as two arrays of equal length.';

REVOKE ALL ON FUNCTION private.chapter_keys(chapters uuid[], only_mentors uuid[]) FROM PUBLIC;

CREATE FUNCTION private.stats_chapters() RETURNS TABLE(chapter_id uuid, key_mentors uuid[], key_days date[])
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 5
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
begin
  return query
  select k.chapter_id, k.key_mentors, k.key_days
  from private.chapter_keys(private.stats_chapter_ids()) k;
end
$$;

COMMENT ON FUNCTION private.stats_chapters() IS 'The chapters whose chapter-level statistics the caller reads (private.stats_chapter_ids()), each with its keys in private.stats_dirty_keys.';

REVOKE ALL ON FUNCTION private.stats_chapters() FROM PUBLIC;

GRANT ALL ON FUNCTION private.stats_chapters() TO authenticated;

GRANT ALL ON FUNCTION private.stats_chapters() TO service_role;

CREATE FUNCTION private.peer_mentor_stats_chapters() RETURNS TABLE(chapter_id uuid, key_mentors uuid[], key_days date[])
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 5
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.peer_mentor_stats_chapters() IS 'The chapters the caller reads rows of public.peer_mentor_stats in, each with its keys in private.stats_dirty_keys: every chapter of private.stats_chapter_ids() with all its keys, and the other chapters where the caller''s own mentor row has figures with the caller''s keys only.';

REVOKE ALL ON FUNCTION private.peer_mentor_stats_chapters() FROM PUBLIC;

GRANT ALL ON FUNCTION private.peer_mentor_stats_chapters() TO authenticated;

GRANT ALL ON FUNCTION private.peer_mentor_stats_chapters() TO service_role;

CREATE FUNCTION private.changed_peer_mentor_months(chapter uuid, key_mentors uuid[], key_days date[]) RETURNS TABLE(peer_mentor_id uuid, month_start date, activity_count bigint, minutes bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.changed_peer_mentor_months(chapter uuid, key_mentors uuid[], key_days date[]) IS 'The chapter''s mentor-months with one of the given keys (mentor, UTC day), as they are now: clean days from private.peer_mentor_days plus changed days from private.live_chapter_days().';

REVOKE ALL ON FUNCTION private.changed_peer_mentor_months(chapter uuid, key_mentors uuid[], key_days date[]) FROM PUBLIC;

CREATE FUNCTION private.activity_time_series_of(chapter uuid, key_days date[]) RETURNS TABLE(bucket_date date, activity_count bigint, total_hours numeric, total_minutes bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 800
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.activity_time_series_of(chapter uuid, key_days date[]) IS 'The chapter''s rows of public.activity_time_series, exact now given the chapter''s logged keys, when the caller may read them; none otherwise.';

REVOKE ALL ON FUNCTION private.activity_time_series_of(chapter uuid, key_days date[]) FROM PUBLIC;

GRANT ALL ON FUNCTION private.activity_time_series_of(chapter uuid, key_days date[]) TO authenticated;

GRANT ALL ON FUNCTION private.activity_time_series_of(chapter uuid, key_days date[]) TO service_role;

CREATE FUNCTION private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) RETURNS TABLE(month_start date, activity_count bigint, total_hours numeric, total_minutes bigint, active_mentor_count bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 30
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) IS 'The chapter''s rows of public.chapter_stats, exact now given the chapter''s logged keys, when the caller may read them; none otherwise.';

REVOKE ALL ON FUNCTION private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) FROM PUBLIC;

GRANT ALL ON FUNCTION private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) TO authenticated;

GRANT ALL ON FUNCTION private.chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) TO service_role;

CREATE FUNCTION private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) RETURNS TABLE(peer_mentor_id uuid, month_start date, activity_count bigint, total_hours numeric, total_minutes bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 200
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
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

COMMENT ON FUNCTION private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) IS 'The chapter''s rows of public.peer_mentor_stats, exact now given the chapter''s logged keys: every mentor''s for a caller who sees the chapter, else the caller''s own.';

REVOKE ALL ON FUNCTION private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) FROM PUBLIC;

GRANT ALL ON FUNCTION private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) TO authenticated;

GRANT ALL ON FUNCTION private.peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[]) TO service_role;
