-- Who may join the private Realtime channel stats:chapter:<chapter id>. Realtime authorizes a
-- join once, by a probe: as its admin it inserts a row (topic, extension; no event, payload
-- or private flag) into realtime.messages, switches to the token's role and claims with
-- realtime.topic set to the channel's topic, selects the row back and rolls back; the join
-- succeeds if row security let the row through. So the policies decide on realtime.topic(),
-- the row's topic and extension only.
--
-- An authenticated caller receives a chapter's broadcasts if they coordinate the chapter, as
-- the API decides it (private.caller_sees_chapter); service_role bypasses row security and
-- receives any; anon and mentors none. A malformed topic or chapter id is simply not a
-- chapter: the row is not let through, and nothing raises. Restrictive policies keep it so
-- whatever permissive policies the app adds for its own channels (Supabase's guides suggest
-- `using (true)` for authenticated): a stats: topic is for its chapter's coordinators only, and
-- no API role may insert on one, so nobody can forge a stats_changed message; the database
-- sends them as the trigger's owner, to whom row security does not apply.

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

grant all on function private.caller_sees_chapter(chapter uuid) to authenticated;

create policy "coordinators receive their chapters' stats broadcasts"
on realtime.messages
as permissive
for select
to authenticated
using (realtime.messages.extension = 'broadcast'
       and (select private.caller_receives_stats_topic((select realtime.topic()))));

create policy "stats topics are for their chapters' coordinators only"
on realtime.messages
as restrictive
for select
to authenticated
using (realtime.messages.topic not like 'stats:%'
       or (realtime.messages.topic = (select realtime.topic())
           and (select private.caller_receives_stats_topic((select realtime.topic())))));

create policy "anon receives no stats topic"
on realtime.messages
as restrictive
for select
to anon
using (realtime.messages.topic not like 'stats:%');

create policy "no API role sends on a stats topic"
on realtime.messages
as restrictive
for insert
to anon, authenticated
with check (realtime.messages.topic not like 'stats:%'
            and coalesce((select realtime.topic()), '') not like 'stats:%');
