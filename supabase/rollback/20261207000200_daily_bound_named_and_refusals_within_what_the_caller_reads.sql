-- Back to 20261203000100: the bound a literal, its refusal giving the day's total to every
-- caller, the per-row check named by its numbers.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop function private.refuse_overfull_mentor_days(uuid[], date[], uuid[]);
create function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  overfull record;
  day_minutes bigint;
begin
  if pg_catalog.cardinality(mentor_ids) = 1 then
    insert into private.mentor_day_writes as w (peer_mentor_id, day, writes)
    values (mentor_ids[1], days[1], 1)
    on conflict (peer_mentor_id, day) do update set writes = w.writes + 1;
    -- The counted minutes are some of the day's activities that are not deleted, each at least
    -- a minute: while all of those stay within 1,440, the counting rule need not be asked.
    select sum(a.duration_minutes) into day_minutes
    from public.activities a
    where a.peer_mentor_id = mentor_ids[1]
      and a.recorded_at >= (days[1]::timestamp at time zone 'UTC')
      and a.recorded_at < ((days[1] + 1)::timestamp at time zone 'UTC')
      and a.deleted_at is null;
    if day_minutes is null or day_minutes <= 1440 then
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
revoke all on function private.refuse_overfull_mentor_days(uuid[], date[])
  from public, anon, authenticated, service_role;

create or replace function private.activities_updated_guard_related_rows() returns trigger
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
  select pg_catalog.array_agg(k.peer_mentor_id), pg_catalog.array_agg(k.day)
  into mentor_ids, days
  from (
    select v.peer_mentor_id, (v.recorded_at at time zone 'UTC')::date as day
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
    select d.peer_mentor_id, (d.recorded_at at time zone 'UTC')::date
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
    perform private.refuse_overfull_mentor_days(mentor_ids, days);
  end if;
  return null;
end
$$;

drop function private.caller_reads_every_counted_activity_of(uuid, date);

alter table public.activities
  rename constraint duration_minutes_within_a_day to duration_minutes_between_1_and_1440;

comment on table private.mentor_day_writes is
  'One row per (peer mentor, UTC day) whose counted minutes a write may have raised; every such write updates it before summing the day, so two writers of the same day never both pass the 1,440-minute bound.';

drop function private.daily_bound_minutes();
