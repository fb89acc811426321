-- The daily bound, named once, and its refusals told only what the caller may read.
--
--   1. private.daily_bound_minutes() is the bound (1,440 counted minutes for one mentor on one
--      UTC day), the one definition the guards, the seeder, the benches and the tests read;
--   2. the bound spans chapters (a mentor has one day, wherever they spend it), so a write can be
--      refused because of minutes the caller cannot read: the refusal then gives the day and the
--      bound, and the day's total only where the caller reads every counted activity of that day
--      (private.caller_reads_every_counted_activity_of). What a refusal still tells is one bit:
--      whether the day, with what the caller cannot read, passes the bound;
--   3. a moderation refused because a duplicate of the moderated activity would count in its
--      place on a full day names that duplicate and the way through (both in one request);
--   4. the per-row check's name says what it checks, not how much.
-- The single-row path of 20261203000100 stays: the counting rule is asked only past the bound.
select pg_catalog.pg_advisory_xact_lock(7351046002);

-- --- 1. The bound, named -------------------------------------------------------------------------
-- Immutable, so the planner folds it into a constant where a statement uses it.
create function private.daily_bound_minutes() returns integer
language sql immutable
set search_path = ''
as $$ select 1440 $$;
comment on function private.daily_bound_minutes() is
  'The daily bound: at most this many counted minutes for one peer mentor on one UTC day, across all chapters. The one definition the write guards, the seeder, the benches and the tests read.';
revoke all on function private.daily_bound_minutes() from public;
grant execute on function private.daily_bound_minutes() to service_role;

comment on table private.mentor_day_writes is
  'One row per (peer mentor, UTC day) whose counted minutes a write may have raised; every such write updates it before summing the day, so two writers of the same day never both pass the daily bound (private.daily_bound_minutes()).';

-- --- 4. The per-row check, named for what it checks ---------------------------------------------
alter table public.activities
  rename constraint duration_minutes_between_1_and_1440 to duration_minutes_within_a_day;

-- --- 2. Who reads every counted activity of a mentor's day ---------------------------------------
-- As the select policy of activities reads them (activities_select): those of the chapters the
-- caller coordinates, and a mentor's own; service_role and the owner read every row. Called by
-- the definer's code, which sees every row, to decide what its refusal may say.
create function private.caller_reads_every_counted_activity_of(mentor_id uuid, day date) returns boolean
language sql stable
set search_path = ''
as $$
  select private.caller_sees_every_chapter()
      or mentor_id = any (private.own_peer_mentor_ids())
      or not exists (
        select
        from private.counted_activities c
        where c.peer_mentor_id = mentor_id
          and c.recorded_at >= (day::timestamp at time zone 'UTC')
          and c.recorded_at < ((day + 1)::timestamp at time zone 'UTC')
          and not (c.chapter_id = any (private.coordinated_chapter_ids())))
$$;
revoke all on function private.caller_reads_every_counted_activity_of(uuid, date)
  from public, anon, authenticated, service_role;

-- --- 2. and 3. The bound and its refusals ---------------------------------------------------------
-- A third argument: the duplicates whose counting the statement changed through their original
-- (soft-deleted, undeleted, retyped), so that a refusal can name one that now counts in its
-- original's place. Named by id: it has its original's mentor and chapter, so whoever could
-- change the original reads it.
drop function private.refuse_overfull_mentor_days(uuid[], date[]);
create function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[], duplicate_ids uuid[] default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
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
revoke all on function private.refuse_overfull_mentor_days(uuid[], date[], uuid[])
  from public, anon, authenticated, service_role;

-- The update guard passes the duplicates it adds to the bound's days because their original's
-- deletion or type changed.
create or replace function private.activities_updated_guard_related_rows() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
