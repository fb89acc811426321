-- The update guard (private.activities_updated_guard_related_rows) finds the rows whose
-- counting an update changed. It did so by joining the statement's two transition tables,
-- and PL/pgSQL plans a statement without parameters once per session and keeps that plan.
-- On a pooled connection (PostgREST's) whose first update touched one row, the join was
-- planned as a nested loop, and a later update of n rows compared n x n pairs: a
-- coordinator's update of a chapter's 15,000 activities ran into the 8 s statement timeout
-- after three one-row updates on the same connection, against under a second on a new one.
-- Now no statement joins the two tables: a union of the old and new versions keeps both
-- versions of a changed row and one of an unchanged one, and the versions are counted per id
-- (a hash or sort, whatever the sizes the plan was made for). The daily bound also sums the
-- old days of changed rows, which only lose minutes, so the refusals are the same.
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
