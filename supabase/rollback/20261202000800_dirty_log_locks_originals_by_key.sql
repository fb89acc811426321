-- The originals locked by one join of activities with the statement's rows, as before.
-- The refresh's lock first, as the other migrations take it: these triggers write the log
-- a refresh folds in.
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.log_inserted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;

create or replace function private.log_updated_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;
