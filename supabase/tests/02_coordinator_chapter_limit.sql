-- At most five chapters per coordinator, refused with a message that says so.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(6);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000002a1', 'limit.five@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000002a2', 'limit.four@pgtap.test');
insert into public.chapters (id, name)
select ('7e570000-0000-4000-8000-00000000020' || n)::uuid, 'pgTAP limit ' || n from generate_series(1, 6) n;
insert into public.coordinator_chapters (user_id, chapter_id)
select '7e570000-0000-4000-8000-0000000002a1'::uuid, ('7e570000-0000-4000-8000-00000000020' || n)::uuid from generate_series(1, 5) n
union all
select '7e570000-0000-4000-8000-0000000002a2'::uuid, ('7e570000-0000-4000-8000-00000000020' || n)::uuid from generate_series(1, 4) n;

select throws_like($$insert into public.coordinator_chapters (user_id, chapter_id)
  values ('7e570000-0000-4000-8000-0000000002a1', '7e570000-0000-4000-8000-000000000206')$$,
  '%a coordinator may have at most ' || private.max_chapters_per_coordinator() || '%', 'a sixth chapter is refused with a message saying at most 5');
select throws_ok($$insert into public.coordinator_chapters (user_id, chapter_id)
  values ('7e570000-0000-4000-8000-0000000002a1', '7e570000-0000-4000-8000-000000000206')$$,
  '23514', null, 'the refusal is a check violation');
select is((select count(*) from public.coordinator_chapters where user_id = '7e570000-0000-4000-8000-0000000002a1'),
  private.max_chapters_per_coordinator()::bigint, 'the coordinator keeps their five chapters');
select lives_ok($$update public.coordinator_chapters set chapter_id = '7e570000-0000-4000-8000-000000000206'
  where user_id = '7e570000-0000-4000-8000-0000000002a1' and chapter_id = '7e570000-0000-4000-8000-000000000205'$$,
  'one of five chapters may be swapped for another');
select lives_ok($$insert into public.coordinator_chapters (user_id, chapter_id)
  values ('7e570000-0000-4000-8000-0000000002a2', '7e570000-0000-4000-8000-000000000205')$$,
  'a fifth chapter is accepted');
select throws_like($$insert into public.coordinator_chapters (user_id, chapter_id)
  values ('7e570000-0000-4000-8000-0000000002a2', '7e570000-0000-4000-8000-000000000206')$$,
  '%at most ' || private.max_chapters_per_coordinator() || '%', 'and then a sixth is refused');

select * from finish();
rollback;
