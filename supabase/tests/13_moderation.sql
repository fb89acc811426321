-- Moderation, as PostgREST's requests meet it: a soft delete or duplicate mark records the
-- chapter it was made in (activities.moderated_in_chapter, never the client's choice), and
-- only a coordinator of that chapter (or service_role) undoes it or moves the activity, by
-- any route; a mentor may soft-delete their own activity. Fixture rows live and die with this
-- transaction. Runs with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(13);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000013a1', 'moderation.coordinator@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000013a2', 'moderation.cato@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000013a3', 'moderation.anna@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000130a', 'pgTAP moderation A'),
  ('7e570000-0000-4000-8000-00000000130c', 'pgTAP moderation C');
-- The coordinator of A; Cato, a mentor of C who coordinates C and is a member of A; Anna of A.
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000013a1', '7e570000-0000-4000-8000-00000000130a'),
  ('7e570000-0000-4000-8000-0000000013a2', '7e570000-0000-4000-8000-00000000130c');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000013b01', '7e570000-0000-4000-8000-0000000013a2', '7e570000-0000-4000-8000-00000000130c', 'pgTAP moderation Cato'),
  ('7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-0000000013a3', '7e570000-0000-4000-8000-00000000130a', 'pgTAP moderation Anna');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000013b01', '7e570000-0000-4000-8000-00000000130a');
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_moderation_visit', 'pgTAP visit', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, deleted_at) values
  -- Cato's in A; Anna's, one soft-deleted by the owner, one live, an original and its repeat.
  ('7e570000-0000-4000-8000-000000013c01', '7e570000-0000-4000-8000-000000013b01', '7e570000-0000-4000-8000-00000000130a', 'pgtap_moderation_visit', '2024-05-02 10:00+00', 30, null),
  ('7e570000-0000-4000-8000-000000013c02', '7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-00000000130a', 'pgtap_moderation_visit', '2024-01-10 10:00+00', 60, now()),
  ('7e570000-0000-4000-8000-000000013c03', '7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-00000000130a', 'pgtap_moderation_visit', '2024-01-11 10:00+00', 30, null),
  ('7e570000-0000-4000-8000-000000013c04', '7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-00000000130a', 'pgtap_moderation_visit', '2024-01-12 10:00+00', 45, null),
  ('7e570000-0000-4000-8000-000000013c05', '7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-00000000130a', 'pgtap_moderation_visit', '2024-01-12 10:00+00', 45, null);

-- The coordinator of A soft-deletes Cato's activity in A and marks Anna's repeat a duplicate.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000013a1", "role": "authenticated"}', true);
select lives_ok($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000013c01'$$,
  'a coordinator soft-deletes an activity of their chapter');
select is((select moderated_in_chapter from public.activities where id = '7e570000-0000-4000-8000-000000013c01'),
  '7e570000-0000-4000-8000-00000000130a'::uuid, 'the soft delete records the chapter it was made in');
select lives_ok($$update public.activities set duplicate_of = '7e570000-0000-4000-8000-000000013c04'
  where id = '7e570000-0000-4000-8000-000000013c05'$$, 'a coordinator marks a duplicate in their chapter');

-- Cato, who coordinates C, cannot take it to C, nor restore it.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000013a2", "role": "authenticated"}', true);
select throws_like($$update public.activities set chapter_id = '7e570000-0000-4000-8000-00000000130c'
  where id = '7e570000-0000-4000-8000-000000013c01'$$,
  '%only a coordinator of the chapter it was moderated in may move it%', 'a moderated activity cannot be moved out of its chapter');
select throws_like($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000013c01'$$,
  '%only a coordinator of the chapter it was deleted in may restore it%', 'nor restored by a coordinator of another chapter');

-- Anna, a peer mentor of A.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000013a3", "role": "authenticated"}', true);
select throws_like($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000013c02'$$,
  '%only a coordinator of the chapter it was deleted in may restore it%', 'a mentor cannot undo a soft delete');
select throws_like($$update public.activities set duplicate_of = null where id = '7e570000-0000-4000-8000-000000013c05'$$,
  '%only a coordinator of the chapter it was marked in may clear or change duplicate_of%',
  'nor clear a duplicate mark');
select lives_ok($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000013c03'$$,
  'a mentor may soft-delete their own activity');
select lives_ok($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes,
  deleted_at, moderated_in_chapter) values ('7e570000-0000-4000-8000-000000013b02', '7e570000-0000-4000-8000-00000000130a',
  'pgtap_moderation_visit', '2024-05-09 10:00+00', 15, now(), '7e570000-0000-4000-8000-00000000130c')$$,
  'a mentor registers an activity soft-deleted, naming another chapter as where it was moderated');
reset role;
select is((select moderated_in_chapter from public.activities
           where peer_mentor_id = '7e570000-0000-4000-8000-000000013b02' and recorded_at = '2024-05-09 10:00+00'),
  '7e570000-0000-4000-8000-00000000130a'::uuid, 'the database records its own chapter, not the client''s');

-- The coordinator of A restores both soft deletes.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000013a1", "role": "authenticated"}', true);
select lives_ok($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000013c02'$$,
  'a coordinator of the chapter restores a soft-deleted activity');
select lives_ok($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000013c01'$$,
  'the coordinator of the chapter it was deleted in restores it');
select is((select moderated_in_chapter from public.activities where id = '7e570000-0000-4000-8000-000000013c01'),
  null::uuid, 'a restored activity is moderated nowhere');
reset role;

select * from finish();
rollback;
