-- The write guards: the rules the database enforces on every write, at every isolation
-- level and under concurrent writers (docs/security.md lists each attack and its test).
--
-- id, created_at and updated_at are the database's; a coordinator has at most five chapters
-- (private.max_chapters_per_coordinator(); a counter row per user that concurrent assignments serialise on); a duplicate_of points at
-- an activity of the same mentor and chapter; a mentor cannot undo what a coordinator set
-- (deleted_at, duplicate_of), by any route: only a coordinator of the chapter where it was set
-- (activities.moderated_in_chapter), or service_role, may. A mentor's counted minutes on one
-- UTC day stay within the daily bound (private.daily_bound_minutes()), checked on a row per
-- (mentor, day) that concurrent writers of that day update (private.mentor_day_writes); a
-- duplicate mark and any change of its original update one row per original
-- (private.original_registration_writes), so such writers conflict at every isolation level.
--
-- The triggers calling these functions are in the files of the tables they guard
-- (22_peer_mentor_chapters.sql, 23_coordinator_chapters.sql, 24_activity_types.sql,
-- 25_activities.sql); the rows they serialise on are the tables of 30_coordinator_chapter_counts.sql,
-- 31_mentor_day_writes.sql and 32_original_registration_writes.sql.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

-- A hard delete only lowers figures, but it changes its original's duplicates and the
-- original's own row must not vanish under a concurrent mark.
CREATE FUNCTION private.activities_deleted_guard_related_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform private.record_original_writes(array(
    select o.id from old_rows o
    union all
    select o.duplicate_of from old_rows o where o.duplicate_of is not null));
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_deleted_guard_related_rows() FROM PUBLIC;

CREATE FUNCTION private.activities_inserted_guard_related_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  mentor_ids uuid[];
  days date[];
  originals uuid[];
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    perform private.share_lock_types(array(
      select n.activity_type from new_rows n
      union
      select o.activity_type from public.activities o
      where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)));
  end if;
  select pg_catalog.array_agg(n.peer_mentor_id) filter (where n.deleted_at is null),
         pg_catalog.array_agg((n.recorded_at at time zone 'UTC')::date) filter (where n.deleted_at is null),
         pg_catalog.array_agg(n.duplicate_of) filter (where n.duplicate_of is not null)
  into mentor_ids, days, originals
  from new_rows n;
  if originals is not null then
    perform private.record_original_writes(originals);
  end if;
  if mentor_ids is not null then
    perform private.refuse_overfull_mentor_days(mentor_ids, days);
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_inserted_guard_related_rows() FROM PUBLIC;

-- An update may change what a row counts (duration, day, mentor, deletion, type, duplicate
-- mark) and, through the counting rule, what its duplicates count. Which rows changed is
-- found without joining the two transition tables: PL/pgSQL keeps one plan per session for a
-- statement without parameters, and a join planned for a one-row update (a nested loop)
-- compared n x n pairs for a later update of n rows on the same connection. A union of the
-- old and new versions keeps both versions of a changed row and one of an unchanged one
-- (nulls compare equal, as in IS DISTINCT FROM); counting the versions per id needs no join.
-- The daily bound then sums the days of both versions of a changed row; an old day only loses
-- minutes, so it can never be the one refused.
CREATE FUNCTION private.activities_updated_guard_related_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  mentor_ids uuid[];
  days date[];
  duplicate_ids uuid[];
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    perform private.share_lock_types(array(
      select n.activity_type from new_rows n
      union
      select o.activity_type from public.activities o
      where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)));
  end if;
  -- The rows whose counting changed, and the originals their duplicate marks named before and after.
  perform private.record_original_writes(array(
    select v.id
    from (select o.id, o.deleted_at, o.activity_type, o.chapter_id, o.peer_mentor_id, o.duplicate_of from old_rows o
          union
          select n.id, n.deleted_at, n.activity_type, n.chapter_id, n.peer_mentor_id, n.duplicate_of from new_rows n) v
    group by v.id
    having pg_catalog.count(*) > 1
    union all
    select v.duplicate_of
    from (select u.duplicate_of, pg_catalog.count(*) over (partition by u.id) as versions
          from (select o.id, o.duplicate_of from old_rows o
                union
                select n.id, n.duplicate_of from new_rows n) u) v
    where v.versions > 1 and v.duplicate_of is not null));
  select pg_catalog.array_agg(k.peer_mentor_id), pg_catalog.array_agg(k.day),
         pg_catalog.array_agg(k.duplicate_id) filter (where k.duplicate_id is not null)
  into mentor_ids, days, duplicate_ids
  from (
    select v.peer_mentor_id, (v.recorded_at at time zone 'UTC')::date as day, null::uuid as duplicate_id
    from (select u.peer_mentor_id, u.recorded_at, u.deleted_at,
                 pg_catalog.count(*) over (partition by u.id) as versions
          from (select o.id, o.duration_minutes, o.recorded_at, o.peer_mentor_id, o.deleted_at, o.activity_type,
                       o.duplicate_of
                from old_rows o
                union
                select n.id, n.duration_minutes, n.recorded_at, n.peer_mentor_id, n.deleted_at, n.activity_type,
                       n.duplicate_of
                from new_rows n) u) v
    where v.versions > 1 and v.deleted_at is null
    union
    select d.peer_mentor_id, (d.recorded_at at time zone 'UTC')::date, d.id
    from public.activities d
    where d.deleted_at is null
      and d.duplicate_of in (select c.id
                             from (select o.id, o.deleted_at, o.activity_type from old_rows o
                                   union
                                   select n.id, n.deleted_at, n.activity_type from new_rows n) c
                             group by c.id
                             having pg_catalog.count(*) > 1)
  ) k;
  if mentor_ids is not null then
    perform private.refuse_overfull_mentor_days(mentor_ids, days, duplicate_ids);
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.activities_updated_guard_related_rows() FROM PUBLIC;

CREATE FUNCTION private.enforce_coordinator_chapter_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  assigned integer;
  most constant integer := private.max_chapters_per_coordinator();
begin
  if tg_op in ('UPDATE', 'DELETE') then
    update private.coordinator_chapter_counts
    set chapter_count = chapter_count - 1
    where user_id = old.user_id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.coordinator_chapter_counts as counts (user_id, chapter_count)
    values (new.user_id, 1)
    on conflict (user_id) do update set chapter_count = counts.chapter_count + 1
    returning counts.chapter_count into assigned;
    if assigned > most then
      raise exception 'coordinator % already has % chapters; a coordinator may have at most %', new.user_id, most, most
        using errcode = 'check_violation',
              hint = 'Remove one of their chapters from coordinator_chapters first.';
    end if;
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.enforce_coordinator_chapter_limit() FROM PUBLIC;

-- Invoker's rights, so row_security_active() tells an API user (under row security) from
-- service_role and the owner, who may import rows with their own ids and times.
CREATE FUNCTION private.guard_activity_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  api_user boolean := pg_catalog.row_security_active('public.activities'::regclass);
  moderated_before boolean;
begin
  if tg_op = 'INSERT' then
    new.updated_at := pg_catalog.now();
    if api_user then
      new.id := pg_catalog.gen_random_uuid();
      new.created_at := pg_catalog.now();
      new.moderated_in_chapter := null;
    end if;
    moderated_before := false;
  else
    moderated_before := old.deleted_at is not null or old.duplicate_of is not null;
  end if;
  if tg_op = 'UPDATE' and api_user then
    new.id := old.id;
    new.created_at := old.created_at;
    new.moderated_in_chapter := old.moderated_in_chapter;
    -- Whoever moderated, the chapter it was moderated in keeps it: moving the activity to
    -- another chapter first (or out of that chapter's coordinators' sight) changes nothing.
    if moderated_before
       and not (coalesce(old.moderated_in_chapter, old.chapter_id) = any (private.coordinated_chapter_ids())) then
      if old.deleted_at is not null and new.deleted_at is distinct from old.deleted_at then
        raise exception 'activity % is soft-deleted: only a coordinator of the chapter it was deleted in may restore it or change deleted_at', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if old.duplicate_of is not null and new.duplicate_of is distinct from old.duplicate_of then
        raise exception 'activity % is marked a duplicate: only a coordinator of the chapter it was marked in may clear or change duplicate_of', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if new.chapter_id <> old.chapter_id then
        raise exception 'activity % is soft-deleted or marked a duplicate: only a coordinator of the chapter it was moderated in may move it to another chapter', old.id
          using errcode = 'insufficient_privilege';
      end if;
    end if;
    -- One refusal for a mentor that does not exist and one the caller cannot read, so it
    -- tells nothing about which ids exist (the foreign key's own message would).
    if new.peer_mentor_id <> old.peer_mentor_id
       and not exists (select from public.peer_mentors pm where pm.id = new.peer_mentor_id) then
      raise exception 'peer mentor % is not one you can see: an activity can be reassigned only to a mentor you can read', new.peer_mentor_id
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  if new.deleted_at is null and new.duplicate_of is null then
    new.moderated_in_chapter := null;
  elsif not moderated_before and (api_user or new.moderated_in_chapter is null) then
    new.moderated_in_chapter := new.chapter_id;
  end if;
  if (tg_op = 'INSERT' or new.recorded_at is distinct from old.recorded_at)
     and new.recorded_at > pg_catalog.now() + private.recorded_at_allowed_ahead()
     and pg_catalog.isfinite(new.recorded_at) then  -- infinity is the check constraint's to name
    raise exception 'recorded_at % is more than one day ahead: an activity is registered after it took place', new.recorded_at
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.guard_activity_write() FROM PUBLIC;

-- A switch of counts_in_stats changes every activity of the type and every duplicate of one.
-- Before any row of activity_types is locked, the statement takes SHARE on activities: it
-- waits for the writers in flight and holds off new ones (which would otherwise hold their
-- table lock while waiting for the type row this statement locks, a deadlock).
CREATE FUNCTION private.lock_activities_for_type_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  lock table public.activities in share mode;
  -- The check below bounds the transactions that committed after this one's snapshot by this
  -- one's own id, which must therefore be given after the lock: by the row update to come.
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed'
     and pg_catalog.pg_current_xact_id_if_assigned() is not null then
    raise exception 'under % isolation, activity_types can be changed only in a transaction that has written nothing before', pg_catalog.current_setting('transaction_isolation')
      using errcode = 'invalid_transaction_state',
            hint = 'Change the type in a transaction of its own, or at READ COMMITTED.';
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.lock_activities_for_type_changes() FROM PUBLIC;

-- Both kinds of writer of an original update its row, in id order so that two multi-row
-- statements take them in the same order.
CREATE FUNCTION private.record_original_writes(activity_ids uuid[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  insert into private.original_registration_writes as w (activity_id, writes)
  select distinct i, 1 from pg_catalog.unnest(activity_ids) i where i is not null order by 1
  on conflict (activity_id) do update set writes = w.writes + 1
$$;

REVOKE ALL ON FUNCTION private.record_original_writes(activity_ids uuid[]) FROM PUBLIC;

-- The daily bound: at most this many counted minutes for one mentor on one UTC day, across
-- all chapters (a mentor has one day, wherever they spend it). Its one definition: the guards,
-- the seeder, the benches and the tests read it. Immutable, so the planner folds it into a
-- constant where a statement uses it.
CREATE FUNCTION private.daily_bound_minutes() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 1440 $$;

COMMENT ON FUNCTION private.daily_bound_minutes() IS 'The daily bound: at most this many counted minutes for one peer mentor on one UTC day, across all chapters. The one definition the write guards, the seeder, the benches and the tests read.';

REVOKE ALL ON FUNCTION private.daily_bound_minutes() FROM PUBLIC;

GRANT ALL ON FUNCTION private.daily_bound_minutes() TO service_role;

-- How many chapters one user may coordinate: a dashboard of at most this many chapters is
-- what the benches measure and the indexes serve.
CREATE FUNCTION private.max_chapters_per_coordinator() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 5 $$;

COMMENT ON FUNCTION private.max_chapters_per_coordinator() IS 'At most this many chapters per coordinator (coordinator_chapters rows per user). The one definition the write guard, the seeder and the tests read.';

REVOKE ALL ON FUNCTION private.max_chapters_per_coordinator() FROM PUBLIC;

GRANT ALL ON FUNCTION private.max_chapters_per_coordinator() TO service_role;

-- The earliest recorded_at an activity may have, well before anything this app records (an
-- earlier one is a typo or a default of some client). The check constraint
-- recorded_at_finite_and_not_before_earliest_recorded_at of activities calls it, so every role that
-- writes activities executes it; immutable, as a check constraint's functions must be.
-- Changing it means validating that constraint again (a migration drops and adds it).
CREATE FUNCTION private.earliest_recorded_at() RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select '2000-01-01 00:00:00+00'::timestamp with time zone $$;

COMMENT ON FUNCTION private.earliest_recorded_at() IS 'The earliest recorded_at an activity may have. The one definition the check constraint recorded_at_finite_and_not_before_earliest_recorded_at of activities, verify and the tests read.';

REVOKE ALL ON FUNCTION private.earliest_recorded_at() FROM PUBLIC;

GRANT ALL ON FUNCTION private.earliest_recorded_at() TO authenticated;

GRANT ALL ON FUNCTION private.earliest_recorded_at() TO service_role;

-- How far ahead of the time of writing a recorded_at may be: an activity is registered after
-- it took place, and a day covers any time zone's today. The write guard runs with the
-- caller's rights, so every role that writes activities executes it.
CREATE FUNCTION private.recorded_at_allowed_ahead() RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select '1 day'::interval $$;

COMMENT ON FUNCTION private.recorded_at_allowed_ahead() IS 'How far ahead of the time of writing an activity''s recorded_at may be. The one definition the write guard and the tests read.';

REVOKE ALL ON FUNCTION private.recorded_at_allowed_ahead() FROM PUBLIC;

GRANT ALL ON FUNCTION private.recorded_at_allowed_ahead() TO authenticated;

GRANT ALL ON FUNCTION private.recorded_at_allowed_ahead() TO service_role;

-- The (mentor, day) pairs given, paired by position: update each pair's row, then sum the
-- day's counted minutes (after that update, so at READ COMMITTED under a snapshot that sees
-- every writer of the day that committed before it) and refuse the first day over the bound.
-- One pair (a single-row write, a one-row update within its day) takes statements on plain
-- values and first sums the day's activities that are not deleted, a bound on its counted
-- minutes: the counting rule, whose statement PL/pgSQL plans anew on nearly every call (0.3 to
-- 0.5 ms), is asked only when that sum passes the bound.
-- The refusal gives the day's total only to a caller who reads every counted activity of it
-- (private.caller_reads_every_counted_activity_of); to anyone else the day and the bound.
-- duplicate_ids: the duplicates whose counting the statement changed through their original
-- (soft-deleted, undeleted, retyped), so that a refusal names one that would count in its
-- original's place, and the way through. It has its original's mentor and chapter, so whoever
-- could change the original reads it.
CREATE FUNCTION private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[], duplicate_ids uuid[] DEFAULT NULL::uuid[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  overfull record;
  day_minutes bigint;
  bound text;
  in_place record;
  told text;
begin
  if pg_catalog.cardinality(mentor_ids) = 1 then
    insert into private.mentor_day_writes as w (peer_mentor_id, day, writes)
    values (mentor_ids[1], days[1], 1)
    on conflict (peer_mentor_id, day) do update set writes = w.writes + 1;
    -- The counted minutes are some of the day's activities that are not deleted, each at least
    -- a minute: while all of those stay within the bound, the counting rule need not be asked.
    select sum(a.duration_minutes) into day_minutes
    from public.activities a
    where a.peer_mentor_id = mentor_ids[1]
      and a.recorded_at >= (days[1]::timestamp at time zone 'UTC')
      and a.recorded_at < ((days[1] + 1)::timestamp at time zone 'UTC')
      and a.deleted_at is null;
    if day_minutes is null or day_minutes <= private.daily_bound_minutes() then
      return;
    end if;
  else
    insert into private.mentor_day_writes as w (peer_mentor_id, day, writes)
    select distinct k.peer_mentor_id, k.day, 1
    from rows from (pg_catalog.unnest(mentor_ids), pg_catalog.unnest(days)) k (peer_mentor_id, day)
    order by 1, 2
    on conflict (peer_mentor_id, day) do update set writes = w.writes + 1;
  end if;
  select k.peer_mentor_id, k.day, total.minutes into overfull
  from (select distinct u.peer_mentor_id, u.day
        from rows from (pg_catalog.unnest(mentor_ids), pg_catalog.unnest(days)) u (peer_mentor_id, day)) k
  cross join lateral (
    select sum(c.duration_minutes) as minutes
    from private.counted_activities c
    where c.peer_mentor_id = k.peer_mentor_id
      and c.recorded_at >= (k.day::timestamp at time zone 'UTC')
      and c.recorded_at < ((k.day + 1)::timestamp at time zone 'UTC')) total
  where total.minutes > private.daily_bound_minutes()
  order by k.peer_mentor_id, k.day
  limit 1;
  if not found then
    return;
  end if;
  bound := pg_catalog.to_char(private.daily_bound_minutes(), 'FM999,999');
  -- The total only to a caller who could add it up: to anyone else it would tell minutes of
  -- other chapters, and (one probe a day) that the mentor works there and how much.
  if private.caller_reads_every_counted_activity_of(overfull.peer_mentor_id, overfull.day) then
    told := pg_catalog.format('peer mentor %s would have %s counted minutes on %s (UTC): at most %s a day',
                              overfull.peer_mentor_id, overfull.minutes, overfull.day, bound);
  else
    told := pg_catalog.format('peer mentor %s would have more than %s counted minutes on %s (UTC), some of them in activities you cannot read: the bound spans all chapters',
                              overfull.peer_mentor_id, bound, overfull.day);
  end if;
  select d.id, d.duplicate_of, pg_catalog.count(*) over () as duplicates into in_place
  from public.activities d
  where d.id = any (duplicate_ids)
    and d.peer_mentor_id = overfull.peer_mentor_id
    and d.recorded_at >= (overfull.day::timestamp at time zone 'UTC')
    and d.recorded_at < ((overfull.day + 1)::timestamp at time zone 'UTC')
    and exists (select from private.counted_activities c where c.id = d.id)
  order by d.id
  limit 1;
  if found then
    raise exception '%; activity % there is a duplicate of activity %, which this request stops counting, so it would count in its place%',
      told, in_place.id, in_place.duplicate_of,
      case when in_place.duplicates > 1 then pg_catalog.format(' (and %s more duplicates of this request''s activities there)', in_place.duplicates - 1) else '' end
      using errcode = 'check_violation',
            hint = pg_catalog.format('Soft-delete (or change) activity %s in the same request as activity %s: one update naming both ids.', in_place.id, in_place.duplicate_of);
  end if;
  raise exception '%', told
    using errcode = 'check_violation',
          hint = 'Shorten, soft-delete or mark as duplicates some of that day''s activities.';
end
$$;

REVOKE ALL ON FUNCTION private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[], duplicate_ids uuid[]) FROM PUBLIC;

-- Under REPEATABLE READ and SERIALIZABLE this transaction's snapshot was taken before the
-- lock above was granted: a writer of activities that committed in between is invisible to
-- it, and nothing it updated is a row this transaction updates. Every transaction that
-- committed after the snapshot was running at it (pg_snapshot_xip) or got its id later,
-- below this transaction's own (given after the lock); if any did, the switch fails as a serialization failure
-- (retried, it sees them). Transactions that wrote other tables fail it too: switches are
-- rare and the retry is immediate.
CREATE FUNCTION private.refuse_snapshot_older_than_committed_writers() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  snapshot constant pg_snapshot := pg_catalog.pg_current_snapshot();
  own_id constant xid8 := pg_catalog.pg_current_xact_id();
begin
  if pg_catalog.current_setting('transaction_isolation') = 'read committed' then
    return;  -- every statement takes a new snapshot, after the lock
  end if;
  if exists (
    select
    from (select x from pg_catalog.pg_snapshot_xip(snapshot) x
          union all
          select (g::text)::xid8
          from pg_catalog.generate_series((pg_catalog.pg_snapshot_xmax(snapshot)::text)::bigint,
                                          (own_id::text)::bigint - 1) g) later
    where pg_catalog.pg_xact_status(later.x) = 'committed') then
    raise exception 'could not serialize access: a transaction committed activities after this one''s snapshot'
      using errcode = 'serialization_failure',
            hint = 'Retry the transaction.';
  end if;
end
$$;

REVOKE ALL ON FUNCTION private.refuse_snapshot_older_than_committed_writers() FROM PUBLIC;

-- The role behind the request: the one PostgREST or SET ROLE switched to, else the login.
CREATE FUNCTION private.requesting_role() RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select case pg_catalog.current_setting('role') when 'none' then session_user::text
              else pg_catalog.current_setting('role') end
$$;

REVOKE ALL ON FUNCTION private.requesting_role() FROM PUBLIC;

-- TRUNCATE fires no row trigger: it empties the counters with the table.
CREATE FUNCTION private.reset_coordinator_chapter_counts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  delete from private.coordinator_chapter_counts;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.reset_coordinator_chapter_counts() FROM PUBLIC;

-- Whether a type counts decides what an activity of it adds (and, for a duplicate, its
-- original's type decides whether it counts at all). FOR SHARE rather than the
-- foreign key's FOR KEY SHARE: under REPEATABLE READ and SERIALIZABLE it fails when a type
-- switch committed after the writer's snapshot, which the writer's checks would not see.
-- The callers skip it at READ COMMITTED, where it is not needed: a switch holds SHARE on
-- activities, which a writer's statement waits for before it takes its snapshot. That spares
-- every API insert (PostgREST's default level) a second tuple lock on the one row all
-- writers share.
CREATE FUNCTION private.share_lock_types(type_codes text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform from public.activity_types t
  where t.code = any (type_codes)
  order by t.code
  for share;
end
$$;

REVOKE ALL ON FUNCTION private.share_lock_types(type_codes text[]) FROM PUBLIC;

-- A membership records who granted it, whatever the client sends.
CREATE FUNCTION private.stamp_membership_grant() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if pg_catalog.row_security_active('public.peer_mentor_chapters'::regclass) then
    new.granted_by := auth.uid();
    new.granted_at := pg_catalog.now();
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.stamp_membership_grant() FROM PUBLIC;

-- updated_at follows every update, so "changed since the last refresh" needs no guessing.
CREATE FUNCTION private.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.touch_updated_at() FROM PUBLIC;

-- duplicate_of names an original of the same mentor and chapter. Definer's rights, to read
-- the original whatever row security shows the caller, and one message whether it is missing
-- or elsewhere, so the refusal never tells which ids exist. It runs before the foreign key's
-- own check for the same reason. The original is locked (FOR SHARE) so it cannot become a
-- duplicate itself before this transaction ends.
CREATE FUNCTION private.validate_duplicate_of() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  original_chapter_id uuid;
  original_mentor_id uuid;
  original_duplicate_of uuid;
  moved boolean := tg_op = 'UPDATE'
                   and (new.chapter_id <> old.chapter_id or new.peer_mentor_id <> old.peer_mentor_id);
begin
  if new.duplicate_of is not null
     and (tg_op = 'INSERT' or moved or new.duplicate_of is distinct from old.duplicate_of) then
    select o.chapter_id, o.peer_mentor_id, o.duplicate_of
      into original_chapter_id, original_mentor_id, original_duplicate_of
    from public.activities o
    where o.id = new.duplicate_of
    for share;
    if not found or original_chapter_id <> new.chapter_id or original_mentor_id <> new.peer_mentor_id then
      raise exception 'duplicate_of must name an activity of the same peer mentor and chapter'
        using errcode = 'check_violation';
    end if;
    if original_duplicate_of is not null then
      raise exception 'duplicate_of must name an original registration: activity % is itself a duplicate', new.duplicate_of
        using errcode = 'check_violation';
    end if;
  end if;
  if tg_op = 'UPDATE' and (moved or (new.duplicate_of is not null and old.duplicate_of is null))
     and exists (select from public.activities d where d.duplicate_of = old.id) then
    raise exception 'activity % has duplicates: it cannot become a duplicate or move to another mentor or chapter while they point at it', old.id
      using errcode = 'check_violation',
            hint = 'Clear or move its duplicates first.';
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.validate_duplicate_of() FROM PUBLIC;
