-- Live dashboards through Supabase Realtime: the functions of the broadcasts the database sends
-- when a committed transaction changes what a chapter counts, and of who may join their channels.
--
-- Broadcasts: a deferred constraint trigger on the dirty-key log (33_stats_dirty_keys.sql) fires
-- at commit once per key logged; the first key of a chapter sends, with realtime.send, one
-- private message on stats:chapter:<chapter id>, event stats_changed, payload {chapter_id, days,
-- more}: the UTC days the transaction logged for the chapter, newest first, capped. Never a
-- figure. A rollback sends nothing (the message is a row of the transaction), a write that changes
-- no figure logs no key and sends nothing, and nothing here can refuse or fail a write.
--
-- Authorization: the policies on realtime.messages (70_realtime_messages.sql) call
-- private.caller_receives_stats_topic, which calls the API's private.caller_sees_chapter
-- (14_functions_dirty_key_log_and_exact_api.sql).

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

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

-- The chapter of a topic stats:chapter:<id>, the id in the form uuid's text output gives (the
-- form the broadcasts use); null for any other topic.
create function private.stats_topic_chapter(topic text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select case when topic ~ '^stats:chapter:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then pg_catalog.substr(topic, 15)::uuid end
$$;

comment on function private.stats_topic_chapter(topic text) is 'The chapter id of a topic stats:chapter:<lower-case uuid>; null for any other topic, malformed ones included.';

revoke all on function private.stats_topic_chapter(topic text) from public;

grant all on function private.stats_topic_chapter(topic text) to authenticated;

-- With the caller's rights, as the policies call it: private.caller_sees_chapter reads the
-- caller's own rows of public.coordinator_chapters, which row security lets them read.
create function private.caller_receives_stats_topic(topic text) returns boolean
language plpgsql
stable
set search_path = ''
as $$
declare
  chapter constant uuid := private.stats_topic_chapter(topic);
begin
  return chapter is not null and private.caller_sees_chapter(chapter);
end
$$;

comment on function private.caller_receives_stats_topic(topic text) is 'Whether the caller may join the Realtime channel of the topic: a stats:chapter:<id> topic of a chapter they coordinate (or their role bypasses row security).';

revoke all on function private.caller_receives_stats_topic(topic text) from public;

grant all on function private.caller_receives_stats_topic(topic text) to authenticated;

grant all on function private.caller_receives_stats_topic(topic text) to service_role;
