-- 100,000 synthetic activities for the plan tests: 20 chapters, 100 mentors, the two UTC years
-- 2023 and 2024. Deterministic: ids come from md5 of a name, and random() is seeded.
-- Every fifth mentor is also active in a neighbouring chapter (a third of their activities);
-- one in ten activities is of a type that does not count, one in fifty is soft-deleted and
-- one in a hundred repeats the activity before it (same mentor and chapter).
-- Coordinators: plan-user-1 has chapters 1 to 5 (the most one may have); plan-user-2 .. -20
-- have one chapter each.
select setseed(0.2024);

insert into auth.users (id, email)
select md5('plan-user-' || i)::uuid, 'plan-user-' || i || '@peerstats.test'
from generate_series(1, 20) i
on conflict (id) do nothing;

insert into public.chapters (id, name)
select md5('plan-chapter-' || i)::uuid, 'Plan chapter ' || lpad(i::text, 2, '0')
from generate_series(1, 20) i;

insert into public.coordinator_chapters (user_id, chapter_id)
select md5('plan-user-1')::uuid, md5('plan-chapter-' || c)::uuid from generate_series(1, 5) c
union all
select md5('plan-user-' || i)::uuid, md5('plan-chapter-' || (i - 1))::uuid from generate_series(2, 20) i;

insert into public.peer_mentors (id, chapter_id, full_name)
select md5('plan-mentor-' || m)::uuid, md5('plan-chapter-' || ((m - 1) % 20 + 1))::uuid, 'Plan mentor ' || m
from generate_series(1, 100) m;

insert into public.activity_types (code, label, counts_in_stats) values
  ('visit', 'Home visit', true),
  ('phone_call', 'Phone call', true),
  ('group_meeting', 'Group meeting', true),
  ('admin', 'Administration', false);

insert into public.activities
  (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of, deleted_at)
select md5('plan-activity-' || a.g)::uuid,
       md5('plan-mentor-' || a.m)::uuid,
       md5('plan-chapter-' || case when a.m % 5 = 0 and a.src % 3 = 0 then a.m % 20 + 1
                                   else (a.m - 1) % 20 + 1 end)::uuid,
       case when a.g % 10 = 0 then 'admin'
            else (array['visit', 'visit', 'visit', 'visit', 'phone_call', 'phone_call', 'group_meeting'])[1 + floor(a.r * 7)::int]
       end,
       timestamptz '2023-01-01 00:00:00+00' + a.at * interval '730 days',
       15 + floor(a.r * 166)::int,
       case when a.g % 100 = 0 then md5('plan-activity-' || (a.g - 1))::uuid end,
       case when a.g % 50 = 7 then timestamptz '2025-01-15 00:00:00+00' end
-- A repeat (one in a hundred) has the mentor and chapter of the activity it repeats (src).
from (select d.g, d.r, d.at,
             case when d.g % 100 = 0 then lag(d.m) over (order by d.g) else d.m end as m,
             case when d.g % 100 = 0 then d.g - 1 else d.g end as src
      from (select g, 1 + floor(random() * 100)::int as m, random() as r, random() as at
            from generate_series(1, 100000) g) d) a
order by a.g;
