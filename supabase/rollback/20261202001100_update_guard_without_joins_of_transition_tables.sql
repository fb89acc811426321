-- The update guard as 20261202000100 made it, joining its transition tables.
select pg_catalog.pg_advisory_xact_lock(7351046002);

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
