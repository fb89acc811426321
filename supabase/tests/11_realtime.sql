-- Live dashboards through Realtime: a write sends one private stats_changed broadcast per
-- chapter (here fired early with set constraints all immediate, since the file never commits),
-- carrying only the chapter and its UTC days; and Realtime's join probe, run as the server runs
-- it, lets a chapter's coordinator in and nobody else, and no API role may send on the topic.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(13);

select policies_are('realtime', 'messages', array[
  'coordinators receive their chapters'' stats broadcasts', 'stats topics are for their chapters'' coordinators only',
  'anon receives no stats topic', 'no API role sends on a stats topic'],
  'realtime.messages has the four policies of the stats topics');
select policy_cmd_is('realtime', 'messages', 'no API role sends on a stats topic', 'insert',
  'the only insert policy on stats topics is the one that refuses them');
select is_definer('private', 'broadcast_changed_chapter', array[]::text[],
  'the broadcast runs as its owner, to whom the insert policies do not apply');

-- Today's partition, as the Realtime server makes it when a client connects (on Supabase it
-- is there once Realtime has served the project).
do $$
declare
  today constant date := (now() at time zone 'UTC')::date;
  partition_name constant text := 'messages_' || to_char(today, 'YYYY_MM_DD');
begin
  if to_regclass('realtime.' || partition_name) is null then
    execute format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
                   partition_name, today, today + 1);
  end if;
end $$;

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000011a1', 'rt.mentor@peerstats.test'),
  ('7e570000-0000-4000-8000-0000000011a2', 'rt.coordinator@peerstats.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-0000000011c1', 'Realtime chapter'),
  ('7e570000-0000-4000-8000-0000000011c2', 'Other realtime chapter');
insert into public.peer_mentors (id, user_id, chapter_id, full_name)
values ('7e570000-0000-4000-8000-0000000011b1', '7e570000-0000-4000-8000-0000000011a1',
        '7e570000-0000-4000-8000-0000000011c1', 'Realtime Mentor');
insert into public.coordinator_chapters (user_id, chapter_id)
values ('7e570000-0000-4000-8000-0000000011a2', '7e570000-0000-4000-8000-0000000011c1');
insert into public.activity_types (code, label, counts_in_stats)
values ('rt_test_visit', 'Realtime test visit', true), ('rt_test_admin', 'Realtime test admin', false);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000011a1", "role": "authenticated"}', true);
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select '7e570000-0000-4000-8000-0000000011b1', '7e570000-0000-4000-8000-0000000011c1', t.code, now() - g * interval '1 day', 30
from generate_series(1, 3) g, (values ('rt_test_visit'), ('rt_test_admin')) t (code);
reset role;
set constraints all immediate;  -- what the commit would run
select results_eq($$select count(*)::integer from realtime.messages
                    where topic = 'stats:chapter:7e570000-0000-4000-8000-0000000011c1'$$,
  array[1], 'six rows in one statement send one message for their chapter');
select results_eq($$select event, private, extension from realtime.messages
                    where topic = 'stats:chapter:7e570000-0000-4000-8000-0000000011c1'$$,
  $$values ('stats_changed'::text, true, 'broadcast'::text)$$, 'a private stats_changed broadcast');
select results_eq($$select array(select jsonb_object_keys(payload) order by 1), payload -> 'days', payload -> 'more'
                    from realtime.messages where topic = 'stats:chapter:7e570000-0000-4000-8000-0000000011c1'$$,
  $$select array['chapter_id', 'days', 'id', 'more'],
           jsonb_agg(to_jsonb(((now() at time zone 'UTC') - g * interval '1 day')::date) order by g), 'false'::jsonb
    from generate_series(1, 3) g$$,
  'the payload names the chapter and its UTC days, newest first, and no figure');
set constraints all deferred;

-- The join probe, as the Realtime server runs it: the row inserted by its admin, then the
-- caller's role, claims and topic set for the transaction, then the row selected back.
create function pg_temp.probe_passes(topic text, claims jsonb) returns boolean language plpgsql as $$
declare probe uuid := gen_random_uuid(); passed boolean;
begin
  insert into realtime.messages (id, topic, extension, inserted_at, updated_at)
  values (probe, topic, 'broadcast', now() at time zone 'UTC', now() at time zone 'UTC');
  perform set_config('role', claims ->> 'role', true), set_config('realtime.topic', topic, true),
          set_config('request.jwt.claims', claims::text, true),
          set_config('request.jwt.claim.sub', claims ->> 'sub', true),
          set_config('request.jwt.claim.role', claims ->> 'role', true), set_config('request.headers', '{}', true);
  passed := exists (select from realtime.messages m where m.id = probe);
  reset role;
  delete from realtime.messages m where m.id = probe;
  return passed;
end $$;

select ok(pg_temp.probe_passes('stats:chapter:7e570000-0000-4000-8000-0000000011c1',
  '{"sub": "7e570000-0000-4000-8000-0000000011a2", "role": "authenticated"}'),
  'the chapter''s coordinator joins its topic');
select ok(not pg_temp.probe_passes('stats:chapter:7e570000-0000-4000-8000-0000000011c2',
  '{"sub": "7e570000-0000-4000-8000-0000000011a2", "role": "authenticated"}'),
  'the coordinator does not join another chapter''s topic');
select ok(not pg_temp.probe_passes('stats:chapter:7e570000-0000-4000-8000-0000000011c1',
  '{"sub": "7e570000-0000-4000-8000-0000000011a1", "role": "authenticated"}'),
  'a mentor of the chapter does not join it');
select ok(not pg_temp.probe_passes('stats:chapter:7e570000-0000-4000-8000-0000000011c1', '{"role": "anon"}'),
  'anon does not join it');
select ok(pg_temp.probe_passes('stats:chapter:7e570000-0000-4000-8000-0000000011c2', '{"role": "service_role"}'),
  'service_role joins any chapter''s topic');
select ok(not pg_temp.probe_passes('stats:chapter:7E570000-0000-4000-8000-0000000011C1x',
  '{"sub": "7e570000-0000-4000-8000-0000000011a2", "role": "authenticated"}'),
  'a malformed topic is refused, without an error');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000011a2", "role": "authenticated"}', true);
select throws_ok($$insert into realtime.messages (topic, extension, event, payload, private)
                   values ('stats:chapter:7e570000-0000-4000-8000-0000000011c1', 'broadcast', 'stats_changed', '{}', true)$$,
  '42501', null, 'a coordinator cannot send on their chapter''s topic');
reset role;

select * from finish();
rollback;
