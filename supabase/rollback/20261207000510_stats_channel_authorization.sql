-- No policy of peerstats on realtime.messages: only roles that bypass row security may join a stats: channel.
drop policy "no API role sends on a stats topic" on realtime.messages;
drop policy "anon receives no stats topic" on realtime.messages;
drop policy "stats topics are for their chapters' coordinators only" on realtime.messages;
drop policy "coordinators receive their chapters' stats broadcasts" on realtime.messages;
drop function private.caller_receives_stats_topic(text);
revoke all on function private.caller_sees_chapter(uuid) from authenticated;
drop function private.stats_topic_chapter(text);
