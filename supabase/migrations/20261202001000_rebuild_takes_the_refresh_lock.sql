-- private.rebuild_peer_mentor_days() takes the refresh's lock. It deletes every mentor-day and
-- inserts them again; a refresh folding the log at the same moment deletes and inserts the
-- chapter-days it names. Run beside one (by an owner after writes made with the log's triggers
-- disabled, as the write benchmark does), the rebuild's delete did not see the mentor-days the
-- refresh had inserted and not yet committed, and its insert then failed on them as duplicate
-- keys once the refresh committed (seen at 10M in `peerstats bench`). With the lock the rebuild
-- waits for the refresh, and its statements, each with a snapshot taken after the wait at READ
-- COMMITTED, see what the refresh wrote. The refresh calls it holding that lock already (a
-- transaction's advisory locks are re-entrant).
select pg_catalog.pg_advisory_xact_lock(7351046002);

create or replace function private.rebuild_peer_mentor_days() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- A refresh folding the log at the same moment writes mentor-days this delete would not see.
  perform pg_catalog.pg_advisory_xact_lock(7351046002);
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
  'Recomputes private.peer_mentor_days whole from private.counted_activities, holding the refresh''s lock: after a TRUNCATE, after changes made with the log''s triggers disabled, and for a refresh that folds more chapter-days than a rebuild costs.';
