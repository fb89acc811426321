-- Two chapters of very different size, for the planner-leak test: "Small" with 10 activities
-- of one mentor, "Big" with 10,000 of another (1% of them repeats), and one coordinator of
-- Small with a member of it.
insert into public.chapters (id, name) values
  ('5e000000-0000-4000-8000-000000000001', 'Small'),
  ('5e000000-0000-4000-8000-000000000002', 'Big');
insert into public.peer_mentors (id, chapter_id, full_name) values
  ('5e000000-0000-4000-8000-000000000b01', '5e000000-0000-4000-8000-000000000001', 'Sigrid Small'),
  ('5e000000-0000-4000-8000-000000000b02', '5e000000-0000-4000-8000-000000000002', 'Bjarne Big');
insert into auth.users (id, email) values ('5e000000-0000-4000-8000-0000000000a1', 'coord.small@peerstats.test')
on conflict (id) do nothing;
insert into public.coordinator_chapters (user_id, chapter_id)
values ('5e000000-0000-4000-8000-0000000000a1', '5e000000-0000-4000-8000-000000000001');
insert into public.activity_types (code, label, counts_in_stats) values ('visit', 'Home visit', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select ('5e000000-0000-4000-8001-' || lpad(n::text, 12, '0'))::uuid,
       case when n <= 10 then '5e000000-0000-4000-8000-000000000b01'::uuid else '5e000000-0000-4000-8000-000000000b02'::uuid end,
       case when n <= 10 then '5e000000-0000-4000-8000-000000000001'::uuid else '5e000000-0000-4000-8000-000000000002'::uuid end,
       'visit', timestamptz '2024-01-01 10:00+00' + n * interval '47 minutes', 30
from generate_series(1, 10010) n;
update public.activities
set duplicate_of = ('5e000000-0000-4000-8001-' || lpad((right(id::text, 12)::integer - 1)::text, 12, '0'))::uuid
where chapter_id = '5e000000-0000-4000-8000-000000000002' and right(id::text, 12)::integer % 100 = 0;
