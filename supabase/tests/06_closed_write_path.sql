-- The closed write path, with requests made as PostgREST makes them: where a mentor may write
-- (membership), the values the database sets or refuses, duplicates within one mentor and
-- chapter. (Moderation: 13_moderation.sql; closed reporting years: 12_closed_years.sql.)
-- Fixture rows live and die with this transaction. Runs with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(8);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000006a2', 'write.anna@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000060a', 'pgTAP write A'),
  ('7e570000-0000-4000-8000-00000000060b', 'pgTAP write B'),
  ('7e570000-0000-4000-8000-00000000060c', 'pgTAP write C');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-0000000006a2', '7e570000-0000-4000-8000-00000000060a', 'pgTAP write Anna'),
  ('7e570000-0000-4000-8000-000000000b62', null, '7e570000-0000-4000-8000-00000000060c', 'pgTAP write Cid');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060b');
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_write_visit', 'pgTAP visit', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000000c62', '7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060a', 'pgtap_write_visit', '2024-01-11 10:00+00', 30),
  ('7e570000-0000-4000-8000-000000000c63', '7e570000-0000-4000-8000-000000000b62', '7e570000-0000-4000-8000-00000000060c', 'pgtap_write_visit', '2024-01-12 10:00+00', 45);

-- Anna, a peer mentor: home A, member of B.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000006a2", "role": "authenticated"}', true);
select lives_ok($$insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, created_at)
  values ('7e570000-0000-4000-8000-0000000006fe', '7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060b',
          'pgtap_write_visit', '2024-02-01 10:00+00', 15, '2001-01-01')$$,
  'a mentor registers an activity in a chapter they are a member of');
select throws_ok($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060c', 'pgtap_write_visit', '2024-02-01 10:00+00', 15)$$,
  '42501', null, 'a mentor cannot register an activity in a chapter they do not belong to');
select throws_ok($$update public.activities set chapter_id = '7e570000-0000-4000-8000-00000000060c'
  where id = '7e570000-0000-4000-8000-000000000c62'$$,
  '42501', null, 'a mentor cannot move an activity to a chapter they do not belong to');
select is((select array[count(*) filter (where id = '7e570000-0000-4000-8000-0000000006fe'),
                          count(*) filter (where created_at = now())]
           from public.activities where chapter_id = '7e570000-0000-4000-8000-00000000060b'),
  array[0, 1]::bigint[], 'the database, not the client, set the id and created_at of that activity');
select throws_like($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060a', 'pgtap_write_visit', 'infinity', 15)$$,
  '%recorded_at_finite_and_not_before_earliest_recorded_at%', 'an infinite recorded_at is refused by name');
select throws_like($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060a', 'pgtap_write_visit', now() + private.recorded_at_allowed_ahead() + interval '1 hour', 15)$$,
  '%more than one day ahead%', 'a recorded_at more than a day ahead is refused');
select throws_like($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of)
  values ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060a', 'pgtap_write_visit', '2024-01-12 10:00+00', 45,
          '7e570000-0000-4000-8000-000000000c63')$$,
  '%duplicate_of must name an activity of the same peer mentor and chapter%', 'a duplicate of an activity in another chapter is refused');
select throws_like($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of)
  values ('7e570000-0000-4000-8000-000000000b61', '7e570000-0000-4000-8000-00000000060a', 'pgtap_write_visit', '2024-01-12 10:00+00', 45,
          '7e570000-0000-4000-8000-0000000006ff')$$,
  '%duplicate_of must name an activity of the same peer mentor and chapter%', 'and so is one of an id that does not exist, with the same message');
reset role;

select * from finish();
rollback;
