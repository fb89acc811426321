-- realtime.messages is Realtime's own table (made by Supabase, or by peerstats where missing);
-- the project's policies on it decide who may join the stats channels.
--
-- Realtime lets a client join a private channel if row security lets its probe row of
-- realtime.messages through for the client's role and claims, with realtime.topic() set to the
-- channel's topic. Coordinators of a chapter may join its topic (the API's
-- private.caller_sees_chapter), service_role any (it bypasses row security), anon and mentors
-- none; restrictive policies keep stats: topics so whatever the app's own policies allow, and
-- let no API role insert on one. Functions they call: private.caller_receives_stats_topic()
-- (17_functions_realtime_broadcasts.sql). The broadcasts themselves: the constraint trigger of
-- private.stats_dirty_keys (33_stats_dirty_keys.sql).

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
