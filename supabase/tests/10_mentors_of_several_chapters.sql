-- Mentors who serve several chapters: a coordinator reads the mentors who belong to their
-- chapters, home or member, and acts on their activities there; no other mentor is readable.
-- Fixture rows live and die with this transaction. Runs with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(8);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000010a1', 'several.coordinator@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000100a', 'pgTAP several A'),
  ('7e570000-0000-4000-8000-00000000100b', 'pgTAP several B'),
  ('7e570000-0000-4000-8000-00000000100c', 'pgTAP several C');
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000010a1', '7e570000-0000-4000-8000-00000000100a');
-- Ada of A; Bo of B, a member of A; Cid of C, a member of B only.
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000001b01', null, '7e570000-0000-4000-8000-00000000100a', 'pgTAP several Ada'),
  ('7e570000-0000-4000-8000-000000001b02', null, '7e570000-0000-4000-8000-00000000100b', 'pgTAP several Bo'),
  ('7e570000-0000-4000-8000-000000001b03', null, '7e570000-0000-4000-8000-00000000100c', 'pgTAP several Cid');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000001b02', '7e570000-0000-4000-8000-00000000100a'),
  ('7e570000-0000-4000-8000-000000001b03', '7e570000-0000-4000-8000-00000000100b');
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_several_visit', 'pgTAP visit', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000001c01', '7e570000-0000-4000-8000-000000001b02', '7e570000-0000-4000-8000-00000000100a', 'pgtap_several_visit', '2005-03-01 10:00+00', 30),
  ('7e570000-0000-4000-8000-000000001c02', '7e570000-0000-4000-8000-000000001b02', '7e570000-0000-4000-8000-00000000100b', 'pgtap_several_visit', '2005-03-02 10:00+00', 45),
  ('7e570000-0000-4000-8000-000000001c03', '7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_several_visit', '2005-03-03 10:00+00', 60);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a1", "role": "authenticated"}', true);
select set_eq('select full_name from public.peer_mentors', array['pgTAP several Ada', 'pgTAP several Bo'],
  'a coordinator reads the mentors of their chapter, home and member, and no member of another chapter');
select set_eq('select id from public.activities',
  array['7e570000-0000-4000-8000-000000001c01', '7e570000-0000-4000-8000-000000001c03']::uuid[],
  'a member''s activities in the chapter are readable, not those elsewhere');
select set_eq('select chapter_id from public.peer_mentor_chapters', array['7e570000-0000-4000-8000-00000000100a']::uuid[],
  'only the chapter''s memberships are readable');
select lives_ok($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000001c01'$$,
  'a coordinator soft-deletes a member''s activity in their chapter');
select lives_ok($$update public.activities set peer_mentor_id = '7e570000-0000-4000-8000-000000001b02'
  where id = '7e570000-0000-4000-8000-000000001c03'$$,
  'and reassigns an activity of their chapter to the member');
select throws_like($$update public.activities set peer_mentor_id = '7e570000-0000-4000-8000-000000001b03'
  where id = '7e570000-0000-4000-8000-000000001c03'$$,
  '%is not one you can see%', 'not to a mentor who is no member of their chapter');
select throws_ok($$insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
  values ('7e570000-0000-4000-8000-000000001b03', '7e570000-0000-4000-8000-00000000100a')$$,
  '42501', null, 'nor make that mentor a member, to read them');
reset role;
select is((select peer_mentor_id from public.activities where id = '7e570000-0000-4000-8000-000000001c03'),
  '7e570000-0000-4000-8000-000000001b02'::uuid, 'the reassignment took');

select * from finish();
rollback;
