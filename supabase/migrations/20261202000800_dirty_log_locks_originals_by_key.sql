-- The dirty-key log's insert and update triggers share-lock the originals their duplicates
-- name (why: 20261126000200). They did it as one join of activities with the statement's
-- rows, planned once per transaction by PL/pgSQL: in a transaction that writes many
-- statements into a growing table (a seed, an import in batches) the first statement's plan,
-- made when the table was empty, a hash join over a sequential scan of activities, was
-- reused by every later one, so each statement read the whole table. Now each original is
-- looked up by its key, whatever the table held when the plan was made: the same rows
-- locked in the same mode.

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
  from (select distinct n.duplicate_of as id from new_rows n where n.duplicate_of is not null) original
  cross join lateral (select from public.activities o where o.id = original.id for share of o) locked;
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
  from (select distinct n.duplicate_of as id from new_rows n where n.duplicate_of is not null) original
  cross join lateral (select from public.activities o where o.id = original.id for share of o) locked;
  return null;
end
$$;
