-- Indirect write routes closed (issue 16): the closed write path of migration 20261126000100
-- held against every direct write; these are the detours around it.
--
--   1. a closed year refuses a type switch that changes the counting of a duplicate it holds
--      (an open-year activity of the type being that duplicate's original);
--   3. writers whose effect depends on another row conflict in the database, at every
--      isolation level: a duplicate mark and any change of its original's deleted_at, type,
--      chapter, mentor or duplicate_of update the same per-original row
--      (private.original_registration_writes); a write of activities takes its types FOR SHARE,
--      and a type switch refuses a snapshot older than the writers it waited for;
--   4. moderation sticks by every route: public.activities.moderated_in_chapter records where
--      a deleted_at or duplicate_of was set, and only a coordinator of that chapter (or
--      service_role) may clear it, change it or move the activity to another chapter;
--   5. nobody acts on a mentor they cannot read: a membership grant and a reassignment name a
--      mentor the caller's row security shows, with one refusal whether the id exists or not;
--   6. a mentor's counted minutes on one UTC day stay within 1,440, checked per statement on
--      the (mentor, day) pairs it touches, serialised on one row per pair
--      (private.mentor_day_writes).
--
-- Runs as hosted Supabase's `postgres` (owner of the tables, not a superuser).

-- The refresh's lock first, as every migration replacing what the refresh uses takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

-- --- 6. Existing rows must already obey the daily bound, where a write can still reach them ---
-- Nothing is changed to make them fit. A day of a closed reporting year is left as it is: it is
-- frozen as submitted (every write of it is refused until the year is reopened), so the bound
-- has nothing to protect there, and correcting it would change what was submitted. Elsewhere
-- (open and reopened years) the migration stops and lists the offending activities by id with
-- their UTC years: the first ten, and how many in all.
do $$
declare
  shown constant integer := 10;
  overfull_days bigint;
  overfull_activities bigint;
  listed text;
  left_as_submitted text;
begin
  with overfull as (
    select c.peer_mentor_id, (c.recorded_at at time zone 'UTC')::date as day
    from private.counted_activities c
    group by 1, 2
    having sum(c.duration_minutes) > 1440
  ),
  judged as (
    select o.peer_mentor_id, o.day, extract(year from o.day)::integer as year, coalesce(r.status, 'open') as status
    from overfull o
    left join private.reporting_years r on r.year = extract(year from o.day)::integer
  ),
  offending as (
    select c.id, j.day, j.peer_mentor_id, j.year, j.status
    from judged j
    join private.counted_activities c
      on c.peer_mentor_id = j.peer_mentor_id
     and c.recorded_at >= (j.day::timestamp at time zone 'UTC')
     and c.recorded_at < ((j.day + 1)::timestamp at time zone 'UTC')
    where j.status <> 'closed'
  )
  select (select count(*) from judged j where j.status <> 'closed'),
         (select count(*) from offending),
         (select string_agg(pg_catalog.format('%s (%s%s)', f.id, f.year,
                                              case when f.status = 'reopened' then ', reopened' else '' end),
                            ', ' order by f.day, f.peer_mentor_id, f.id)
          from (select * from offending o order by o.day, o.peer_mentor_id, o.id limit shown) f),
         (select string_agg(pg_catalog.format('%s mentor-day%s in closed year %s', y.days,
                                              case when y.days = 1 then '' else 's' end, y.year),
                            ', ' order by y.year)
          from (select j.year, count(*) as days from judged j where j.status = 'closed' group by j.year) y)
  into overfull_days, overfull_activities, listed, left_as_submitted;
  if overfull_days > 0 then
    raise exception 'existing rows break the rules this migration enforces; nothing was changed: % mentor-day% of open or reopened years ha% more than 1,440 counted minutes, % counted activities in all (id (UTC year)): %',
      overfull_days, case when overfull_days = 1 then '' else 's' end, case when overfull_days = 1 then 's' else 've' end,
      overfull_activities,
      listed
      || case when overfull_activities > shown then pg_catalog.format(', and %s more', overfull_activities - shown) else '' end
      || case when left_as_submitted is not null
              then pg_catalog.format('; left as submitted: %s', left_as_submitted) else '' end
      using errcode = 'check_violation',
            hint = 'Correct, soft-delete or mark as duplicates enough of these activities (in a reopened year as service_role), then apply the migration again: docs/operations.md, "Upgrading over rows a new rule refuses", gives the procedure.';
  elsif left_as_submitted is not null then
    raise notice 'left as submitted, with more than 1,440 counted minutes: %', left_as_submitted;
  end if;
end
$$;

-- --- 4. Where a moderation was made -----------------------------------------------------------
-- The down script drops the column and keeps, in private.moderations_kept_by_down, the states
-- a first application could not rebuild from the rows. Down scripts released before it left
-- the column in place, unmaintained while this migration was rolled back, hence `if not
-- exists`; such values are not trusted (the activity may have been restored, moved and
-- moderated in another chapter meanwhile): the update below sets every row afresh.
alter table public.activities
  add column if not exists moderated_in_chapter uuid references public.chapters (id);
comment on column public.activities.moderated_in_chapter is
  'The chapter the activity was in when its deleted_at or duplicate_of was set (null while neither is): only a coordinator of this chapter, or service_role, may clear or change them or move the activity elsewhere. Set by the database.';
-- It tells chapters apart, so it carries no planner statistics (see private.statistics_free_columns):
-- SET STATISTICS 0 for the future, and ALTER TYPE to its own type to delete any gathered while
-- the column outlived a down script (as migration 20261126000100 explains).
alter table public.activities
  alter column moderated_in_chapter set statistics 0,
  alter column moderated_in_chapter type uuid;
create index if not exists activities_moderated_in_chapter on public.activities (moderated_in_chapter)
  where moderated_in_chapter is not null;
-- A moderated activity was moderated in its chapter, as a first application finds it, unless
-- the down script kept another chapter for it and the activity still has the chapter,
-- deleted_at and duplicate_of it was kept with. A record of the past, not a change of any
-- figure: without the triggers, which would refuse rows of closed years, log keys and stamp
-- updated_at. The table is empty where no down script kept anything.
create table if not exists private.moderations_kept_by_down (
  activity_id uuid primary key,
  moderated_in_chapter uuid not null,
  chapter_id uuid not null,
  deleted_at timestamptz,
  duplicate_of uuid
);
alter table public.activities disable trigger user;
update public.activities
set moderated_in_chapter = case when deleted_at is not null or duplicate_of is not null then chapter_id end
where moderated_in_chapter is distinct from
      case when deleted_at is not null or duplicate_of is not null then chapter_id end;
update public.activities a
set moderated_in_chapter = k.moderated_in_chapter
from private.moderations_kept_by_down k
where a.id = k.activity_id
  and (a.chapter_id, a.deleted_at, a.duplicate_of) is not distinct from (k.chapter_id, k.deleted_at, k.duplicate_of);
alter table public.activities enable trigger user;
drop table private.moderations_kept_by_down;

create or replace function private.statistics_free_columns()
returns table (table_name regclass, column_name name)
language sql stable
set search_path = ''
as $$
  values ('public.activities'::regclass, 'id'::name), ('public.activities', 'peer_mentor_id'),
         ('public.activities', 'chapter_id'), ('public.activities', 'duplicate_of'),
         ('public.activities', 'moderated_in_chapter'),
         ('public.peer_mentors', 'id'), ('public.peer_mentors', 'user_id'),
         ('public.peer_mentors', 'chapter_id'), ('public.peer_mentors', 'full_name'),
         ('public.chapters', 'id'), ('public.chapters', 'name'),
         ('public.coordinator_chapters', 'user_id'), ('public.coordinator_chapters', 'chapter_id')
$$;

-- Invoker's rights, so row_security_active() tells an API user from service_role and the
-- owner, and the mentor lookup below sees only what the caller's row security shows.
create or replace function private.guard_activity_write() returns trigger
language plpgsql
set search_path = ''
as $$
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
     and new.recorded_at > pg_catalog.now() + interval '1 day'
     and pg_catalog.isfinite(new.recorded_at) then  -- infinity is the check constraint's to name
    raise exception 'recorded_at % is more than one day ahead: an activity is registered after it took place', new.recorded_at
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;

-- --- 5. A membership grant names a mentor the granting coordinator can read --------------------
-- The sub-query runs under the caller's row security, so a mentor of another chapter and an
-- id that exists nowhere get the same refusal (the policy's, before the foreign key's).
alter policy peer_mentor_chapters_insert on public.peer_mentor_chapters
  with check (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
              and exists (select from public.peer_mentors pm where pm.id = peer_mentor_id));

-- --- 3. and 6. Rows every dependent writer updates ----------------------------------------------
-- PostgreSQL detects a conflict between two REPEATABLE READ or SERIALIZABLE writers only where
-- both update the same row (a row a committed transaction merely locked raises nothing), and
-- at READ COMMITTED such an update makes the later writer wait and then read the earlier
-- one's result. Hence rows that exist only to be updated by every writer of a kind.
create table private.original_registration_writes (
  activity_id uuid primary key,
  writes bigint not null
);
comment on table private.original_registration_writes is
  'One row per activity that was named by a duplicate_of, or whose deleted_at, type, chapter, mentor or duplicate_of changed; both kinds of write update it, so a duplicate mark and a change of its original conflict (serialization failure at REPEATABLE READ and SERIALIZABLE, a wait at READ COMMITTED). Rows of hard-deleted activities stay: they are never read.';
create table private.mentor_day_writes (
  peer_mentor_id uuid not null,
  day date not null,
  writes bigint not null,
  primary key (peer_mentor_id, day)
);
comment on table private.mentor_day_writes is
  'One row per (peer mentor, UTC day) whose counted minutes a write may have raised; every such write updates it before summing the day, so two writers of the same day never both pass the 1,440-minute bound.';
revoke all on private.original_registration_writes, private.mentor_day_writes
  from public, anon, authenticated, service_role;

-- Both kinds of writer of an original update its row, in id order so that two multi-row
-- statements take them in the same order.
create function private.record_original_writes(activity_ids uuid[]) returns void
language sql
security definer
set search_path = ''
as $$
  insert into private.original_registration_writes as w (activity_id, writes)
  select distinct i, 1 from pg_catalog.unnest(activity_ids) i where i is not null order by 1
  on conflict (activity_id) do update set writes = w.writes + 1
$$;

-- The (mentor, day) pairs given, paired by position: update each pair's row, then sum the
-- day's counted minutes (after that update, so at READ COMMITTED under a snapshot that sees
-- every writer of the day that committed before it) and refuse the first day over 1,440.
create function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  overfull record;
begin
  insert into private.mentor_day_writes as w (peer_mentor_id, day, writes)
  select distinct k.peer_mentor_id, k.day, 1
  from rows from (pg_catalog.unnest(mentor_ids), pg_catalog.unnest(days)) k (peer_mentor_id, day)
  order by 1, 2
  on conflict (peer_mentor_id, day) do update set writes = w.writes + 1;
  select k.peer_mentor_id, k.day, total.minutes into overfull
  from (select distinct u.peer_mentor_id, u.day
        from rows from (pg_catalog.unnest(mentor_ids), pg_catalog.unnest(days)) u (peer_mentor_id, day)) k
  cross join lateral (
    select sum(c.duration_minutes) as minutes
    from private.counted_activities c
    where c.peer_mentor_id = k.peer_mentor_id
      and c.recorded_at >= (k.day::timestamp at time zone 'UTC')
      and c.recorded_at < ((k.day + 1)::timestamp at time zone 'UTC')) total
  where total.minutes > 1440
  order by k.peer_mentor_id, k.day
  limit 1;
  if found then
    raise exception 'peer mentor % would have % counted minutes on % (UTC): at most 1,440 a day', overfull.peer_mentor_id, overfull.minutes, overfull.day
      using errcode = 'check_violation',
            hint = 'Shorten, soft-delete or mark as duplicates some of that day''s activities.';
  end if;
end
$$;

-- Whether a type counts decides what an activity of it adds (and, for a duplicate, its
-- original's type decides whether it counts at all). FOR SHARE rather than the
-- foreign key's FOR KEY SHARE: under REPEATABLE READ and SERIALIZABLE it fails when a type
-- switch committed after the writer's snapshot, which the writer's checks would not see.
-- The callers skip it at READ COMMITTED, where it is not needed: a switch holds SHARE on
-- activities, which a writer's statement waits for before it takes its snapshot. That spares
-- every API insert (PostgREST's default level) a second tuple lock on the one row all
-- writers share.
create function private.share_lock_types(type_codes text[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform from public.activity_types t
  where t.code = any (type_codes)
  order by t.code
  for share;
end
$$;

create function private.activities_inserted_guard_related_rows() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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

-- An update may change what a row counts (duration, day, mentor, deletion, type, duplicate
-- mark) and, through the counting rule, what its duplicates count.
create function private.activities_updated_guard_related_rows() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  mentor_ids uuid[];
  days date[];
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    perform private.share_lock_types(array(
      select n.activity_type from new_rows n
      union
      select o.activity_type from public.activities o
      where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)));
  end if;
  perform private.record_original_writes(array(
    select o.id
    from old_rows o join new_rows n on n.id = o.id
    where (n.deleted_at, n.activity_type, n.chapter_id, n.peer_mentor_id, n.duplicate_of)
          is distinct from (o.deleted_at, o.activity_type, o.chapter_id, o.peer_mentor_id, o.duplicate_of)
    union all
    select o.duplicate_of
    from old_rows o join new_rows n on n.id = o.id
    where n.duplicate_of is distinct from o.duplicate_of and o.duplicate_of is not null
    union all
    select n.duplicate_of
    from old_rows o join new_rows n on n.id = o.id
    where n.duplicate_of is distinct from o.duplicate_of and n.duplicate_of is not null));
  select pg_catalog.array_agg(k.peer_mentor_id), pg_catalog.array_agg(k.day)
  into mentor_ids, days
  from (
    select n.peer_mentor_id, (n.recorded_at at time zone 'UTC')::date as day
    from old_rows o join new_rows n on n.id = o.id
    where n.deleted_at is null
      and (n.duration_minutes, n.recorded_at, n.peer_mentor_id, n.deleted_at, n.activity_type, n.duplicate_of)
          is distinct from (o.duration_minutes, o.recorded_at, o.peer_mentor_id, o.deleted_at, o.activity_type, o.duplicate_of)
    union
    select d.peer_mentor_id, (d.recorded_at at time zone 'UTC')::date
    from public.activities d
    where d.deleted_at is null
      and d.duplicate_of in (select o.id
                             from old_rows o join new_rows n on n.id = o.id
                             where (n.deleted_at, n.activity_type) is distinct from (o.deleted_at, o.activity_type))
  ) k;
  if mentor_ids is not null then
    perform private.refuse_overfull_mentor_days(mentor_ids, days);
  end if;
  return null;
end
$$;

-- A hard delete only lowers figures, but it changes its original's duplicates and the
-- original's own row must not vanish under a concurrent mark.
create function private.activities_deleted_guard_related_rows() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.record_original_writes(array(
    select o.id from old_rows o
    union all
    select o.duplicate_of from old_rows o where o.duplicate_of is not null));
  return null;
end
$$;
revoke all on function private.record_original_writes(uuid[]), private.refuse_overfull_mentor_days(uuid[], date[]),
  private.share_lock_types(text[]), private.activities_inserted_guard_related_rows(),
  private.activities_updated_guard_related_rows(), private.activities_deleted_guard_related_rows()
  from public, anon, authenticated, service_role;

create trigger activities_guard_related_rows_insert
  after insert on public.activities referencing new table as new_rows
  for each statement execute function private.activities_inserted_guard_related_rows();
create trigger activities_guard_related_rows_update
  after update on public.activities referencing old table as old_rows new table as new_rows
  for each statement execute function private.activities_updated_guard_related_rows();
create trigger activities_guard_related_rows_delete
  after delete on public.activities referencing old table as old_rows
  for each statement execute function private.activities_deleted_guard_related_rows();

-- --- 1. and 3. A type switch ----------------------------------------------------------------------
-- A switch of counts_in_stats changes every activity of the type and every duplicate of one.
-- Before any row of activity_types is locked, the statement takes SHARE on activities: it
-- waits for the writers in flight and holds off new ones (which would otherwise hold their
-- table lock while waiting for the type row this statement locks, a deadlock).
create function private.lock_activities_for_type_changes() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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

-- Under REPEATABLE READ and SERIALIZABLE this transaction's snapshot was taken before the
-- lock above was granted: a writer of activities that committed in between is invisible to
-- it, and nothing it updated is a row this transaction updates. Every transaction that
-- committed after the snapshot was running at it (pg_snapshot_xip) or got its id later,
-- below this transaction's own (given after the lock); if any did, the switch fails as a serialization failure
-- (retried, it sees them). Transactions that wrote other tables fail it too: switches are
-- rare and the retry is immediate.
create function private.refuse_snapshot_older_than_committed_writers() returns void
language plpgsql
security definer
set search_path = ''
as $$
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

create or replace function private.refuse_type_changes_in_closed_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
revoke all on function private.lock_activities_for_type_changes(),
  private.refuse_snapshot_older_than_committed_writers() from public, anon, authenticated, service_role;
create trigger activity_types_lock_activities
  before update or delete on public.activity_types
  for each statement execute function private.lock_activities_for_type_changes();

-- The column's comment said a duplicate never counts; the counting rule has long counted one
-- whose original does not.
comment on column public.activities.duplicate_of is
  'Set when this registration repeats that one (of the same mentor and chapter): it counts only when that original does not (soft-deleted or of a type that does not count).';
