-- The daily bound (private.refuse_overfull_mentor_days) could be planned anew on every call.
-- Its two statements read the (mentor, day) pairs from array parameters; the planner cannot
-- know an array's length and estimates 100 elements for each unnest, so a plan kept for every
-- call looked about twice as dear as one made for the values: close to the point where
-- PL/pgSQL's plan cache stops keeping a plan, and past it with some statistics. On the demo's
-- data after the write benchmark's hour of writes, every single-row insert through the API
-- planned them anew: 0.50 against 0.14 ms a call with the plan kept, a quarter of the insert.
-- A write of one row brings one pair, and so does a one-row update within its day: that pair
-- now takes statements on two plain values, whose kept plan costs what a fresh one does, so
-- it is made once per session. Two or more pairs (a multi-row write, an update that moves a
-- row to another day) keep the statements over the arrays: their planning is small against
-- their pairs. The rows updated, the sums and the refusals are the same.
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  pair_mentor constant uuid := mentor_ids[1];
  pair_day constant date := days[1];
  one_pair boolean := true;
  overfull record;
begin
  if coalesce(pg_catalog.cardinality(mentor_ids), 0) = 0 then
    return;
  end if;
  for i in 2 .. pg_catalog.cardinality(mentor_ids) loop
    if mentor_ids[i] is distinct from pair_mentor or days[i] is distinct from pair_day then
      one_pair := false;
      exit;
    end if;
  end loop;
  if one_pair then
    insert into private.mentor_day_writes as w (peer_mentor_id, day, writes)
    values (pair_mentor, pair_day, 1)
    on conflict (peer_mentor_id, day) do update set writes = w.writes + 1;
    select pair_mentor as peer_mentor_id, pair_day as day, sum(c.duration_minutes) as minutes into overfull
    from private.counted_activities c
    where c.peer_mentor_id = pair_mentor
      and c.recorded_at >= (pair_day::timestamp at time zone 'UTC')
      and c.recorded_at < ((pair_day + 1)::timestamp at time zone 'UTC')
    having sum(c.duration_minutes) > 1440;
  else
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
  end if;
  if found then
    raise exception 'peer mentor % would have % counted minutes on % (UTC): at most 1,440 a day', overfull.peer_mentor_id, overfull.minutes, overfull.day
      using errcode = 'check_violation',
            hint = 'Shorten, soft-delete or mark as duplicates some of that day''s activities.';
  end if;
end
$$;
