-- The rebuild as 20261202000600 made it, without the refresh's lock.
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.rebuild_peer_mentor_days() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- DELETE, not TRUNCATE: readers keep reading the rows until this transaction commits.
  delete from private.peer_mentor_days;
  insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
  select c.chapter_id, c.peer_mentor_id, (c.recorded_at at time zone 'UTC')::date, count(*),
         (sum(c.duration_minutes))::bigint
  from private.counted_activities c
  group by 1, 2, 3
  -- In the order of the primary key, as the materialized view it replaces was written: a
  -- chapter's mentor-months then sit on few pages.
  order by 1, 2, 3;
end
$$;
comment on function private.rebuild_peer_mentor_days() is
  'Recomputes private.peer_mentor_days whole from private.counted_activities: after a TRUNCATE, after changes made with the log''s triggers disabled, and for a refresh that folds more chapter-days than a rebuild costs.';
