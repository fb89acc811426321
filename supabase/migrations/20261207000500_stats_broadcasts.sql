-- Live dashboards: each committed transaction that changes what a chapter counts sends one
-- private Realtime broadcast per chapter, on the topic stats:chapter:<chapter id>, event
-- stats_changed, payload {chapter_id, days, more}: the UTC days whose figures changed, newest
-- first, at most private.broadcast_days_cap() of them, and whether there were more. Never a
-- figure, a mentor or an activity: a subscriber refetches the API, which decides what it may see.
--
-- The dirty-key log already holds each key (chapter, mentor, UTC day) a transaction changes,
-- once per transaction, and nothing for a write that changes no figure (a type that does not
-- count). A deferred constraint trigger on it fires at commit, once per key logged; the first
-- key of a chapter sends that chapter's message, with every day the transaction logged for it,
-- and marks the chapter in a transaction-local setting so its other keys send nothing.
-- realtime.send inserts into realtime.messages, inside the writing transaction: a rollback
-- sends nothing, and the Realtime server reads the row from the WAL only once it is committed.
--
-- A broadcast never refuses or fails a write: realtime.send turns each of its errors (no
-- partition for today, row security) into a warning, a database without Realtime sends
-- nothing, and anything else is caught here and only warned about.

-- The commit-time trigger reads the days its own transaction logged for a chapter; led by the
-- chapter, the log's index would walk every entry of the chapter to find them.
create index stats_dirty_keys_transaction on private.stats_dirty_keys using btree (xid, chapter_id, bucket_date);

create function private.broadcast_days_cap() returns integer
language sql
immutable
set search_path = ''
as $$ select 31 $$;

comment on function private.broadcast_days_cap() is 'The most UTC days a stats_changed broadcast names; past it, more is true.';

revoke all on function private.broadcast_days_cap() from public;
grant all on function private.broadcast_days_cap() to service_role;

-- The setting peerstats.broadcast_chapters lists the chapters sent in this transaction; set
-- local, it ends with the transaction, and a rolled-back savepoint takes back its marks with
-- the messages it sent. Runs as its owner, to whom row security on realtime.messages does not
-- apply (the API roles may not insert on stats: topics). Pinned to UTC: realtime.messages'
-- inserted_at is now() without a time zone, and the server's partitions are UTC days.
create function private.broadcast_changed_chapter() returns trigger
language plpgsql
security definer
set search_path = ''
set "TimeZone" = 'UTC'
as $$
declare
  sent constant text := pg_catalog.current_setting('peerstats.broadcast_chapters', true);
  cap constant integer := private.broadcast_days_cap();
  days date[];
begin
  if pg_catalog.strpos(sent, new.chapter_id::text) > 0 then
    return null;
  end if;
  perform pg_catalog.set_config('peerstats.broadcast_chapters', pg_catalog.concat(sent, new.chapter_id, ' '), true);
  if pg_catalog.to_regproc('realtime.send') is null then
    return null;  -- a database without Realtime: nobody to tell
  end if;
  begin
    days := array(select distinct k.bucket_date from private.stats_dirty_keys k
                  where k.chapter_id = new.chapter_id and k.xid = new.xid
                  order by 1 desc
                  limit cap + 1);
    -- A refresh in this transaction may have folded the keys in; the firing key's day remains.
    if pg_catalog.cardinality(days) = 0 then
      days := array[new.bucket_date];
    end if;
    perform realtime.send(
      pg_catalog.jsonb_build_object('chapter_id', new.chapter_id, 'days', pg_catalog.to_jsonb(days[1:cap]),
                                    'more', pg_catalog.cardinality(days) > cap),
      'stats_changed', 'stats:chapter:' || new.chapter_id::text, true);
  exception when others then
    -- realtime.send warns of its own errors; this is for a send that raises (an older one).
    raise warning 'peerstats: the stats_changed broadcast of chapter % was not sent: %', new.chapter_id, sqlerrm;
  end;
  return null;
end
$$;

comment on function private.broadcast_changed_chapter() is 'Deferred constraint trigger on private.stats_dirty_keys: at commit, the first key logged for a chapter sends that chapter''s private stats_changed broadcast (realtime.send) with the UTC days the transaction logged for it, newest first, capped. Never raises.';

revoke all on function private.broadcast_changed_chapter() from public;

create constraint trigger stats_dirty_keys_broadcast
after insert on private.stats_dirty_keys
deferrable initially deferred
for each row execute function private.broadcast_changed_chapter();
