-- The daily bound (private.refuse_overfull_mentor_days) asked the counting rule for every
-- day a write touched, and PL/pgSQL planned that question anew on nearly every call: its
-- (mentor, day) pairs came from array parameters, whose length the planner guesses at 100, and
-- a plan for any mentor and day looks several times dearer than one for the values at hand
-- (at 10M activities of the realistic profile 2,034 against 246, even written on plain
-- values), so PL/pgSQL's plan cache kept making plans for the values. Planning the counting rule's union, joins and
-- anti-join took 0.3 to 0.5 ms of every single-row insert through the API, a quarter of it.
-- Now one pair (a single-row write, a one-row update within its day) takes statements on
-- plain values, and first sums the day's activities that are not deleted: the counted minutes
-- are some of those, each at least a minute, so a day whose activities stay within 1,440
-- minutes (nearly all) cannot be over, and the counting rule is asked only for a fuller one,
-- by the same statement as for many pairs. That bare sum is cheap to plan. Two or more pairs
-- (a multi-row write, an update that moves a row to another day) ask the rule as before: their
-- planning is small against their pairs. The rows updated and the refusals are the same.
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[]) returns void
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
