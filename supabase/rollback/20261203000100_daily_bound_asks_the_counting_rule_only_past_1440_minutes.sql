-- The daily bound as 20261202000100 made it: the counting rule asked for every pair, over the arrays.
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.refuse_overfull_mentor_days(mentor_ids uuid[], days date[]) returns void
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
