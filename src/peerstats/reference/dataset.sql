-- The Bufdir reference dataset: a small, fixed set of rows that exercises every edge of the
-- counting rule. Its expected exports (expected_2024.json, expected_2025.json) were written
-- by hand from the notes below, not produced by running the code.
--
-- Chapters: Bergen and Oslo have counted activities; Stavanger has activities of a
-- non-counting type, and in 2024 one visit registered as a duplicate of one of them;
-- Tromsø has no activity at all and exports zeros.

insert into public.chapters (id, name) values
  ('c0000000-0000-4000-8000-000000000001', 'Bergen'),
  ('c0000000-0000-4000-8000-000000000002', 'Oslo'),
  ('c0000000-0000-4000-8000-000000000003', 'Stavanger'),
  ('c0000000-0000-4000-8000-000000000004', 'Tromsø');

-- Ada's home chapter is Bergen, but she is also active in Oslo: she counts as an active
-- mentor in both chapters. She is a member of Oslo, so she may register activities there.
insert into public.peer_mentors (id, chapter_id, full_name) values
  ('b0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', 'Ada Berg'),
  ('b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001', 'Bo Dahl'),
  ('b0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000002', 'Cy Lund'),
  ('b0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-000000000003', 'Di Moe');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('b0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000002');

insert into public.activity_types (code, label, counts_in_stats) values
  ('visit', 'Home visit', true),
  ('phone_call', 'Phone call', true),
  ('training', 'Internal training (not reported)', false);

insert into public.activities
  (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of, deleted_at)
values
  -- 2024 (UTC) ------------------------------------------------------------------------------
  -- a01 counts: Bergen, Ada, visit, 90 min, on the leap day.
  ('a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2024-02-29 12:00:00+00', 90, null, null),
  -- a02 counts: Bergen, Bo, phone_call, 1 min, at the last second of 2024 UTC.
  ('a0000000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'phone_call', '2024-12-31 23:59:59+00', 1, null, null),
  -- a03 counts in 2024: Oslo, Ada (her second chapter), visit, 1440 min, recorded at
  -- 00:30 on 1 January 2025 at +01, which is 23:30 on 31 December 2024 UTC.
  ('a0000000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000002', 'visit', '2025-01-01 00:30:00+01', 1440, null, null),
  -- a04 counts: Oslo, Cy, visit, 60 min.
  ('a0000000-0000-4000-8000-000000000004', 'b0000000-0000-4000-8000-000000000003',
   'c0000000-0000-4000-8000-000000000002', 'visit', '2024-06-15 10:00:00+02', 60, null, null),
  -- a05 does not count: a duplicate registration of a04.
  ('a0000000-0000-4000-8000-000000000005', 'b0000000-0000-4000-8000-000000000003',
   'c0000000-0000-4000-8000-000000000002', 'visit', '2024-06-15 10:00:00+02', 60,
   'a0000000-0000-4000-8000-000000000004', null),
  -- a06 does not count: soft-deleted.
  ('a0000000-0000-4000-8000-000000000006', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2024-03-10 09:00:00+00', 45, null, '2024-03-11 08:00:00+00'),
  -- a07 counts: a duplicate of the deleted a06. A duplicate counts when its original does
  -- not, so the visit a06 recorded is counted once, through a07.
  ('a0000000-0000-4000-8000-000000000007', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2024-03-10 09:00:00+00', 45,
   'a0000000-0000-4000-8000-000000000006', null),
  -- a08 does not count: training does not count in the statistics.
  ('a0000000-0000-4000-8000-000000000008', 'b0000000-0000-4000-8000-000000000004',
   'c0000000-0000-4000-8000-000000000003', 'training', '2024-05-05 10:00:00+00', 120, null, null),
  -- a17 counts: Stavanger, Di, visit, 120 min, registered again as a visit and marked a
  -- duplicate of a08, whose type (training) does not count.
  ('a0000000-0000-4000-8000-000000000017', 'b0000000-0000-4000-8000-000000000004',
   'c0000000-0000-4000-8000-000000000003', 'visit', '2024-05-05 10:00:00+00', 120,
   'a0000000-0000-4000-8000-000000000008', null),
  -- 2025 (UTC) ------------------------------------------------------------------------------
  -- a09 counts: Bergen, Ada, visit, 30 min, at the first second of 2025 UTC.
  ('a0000000-0000-4000-8000-000000000009', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2025-01-01 00:00:00+00', 30, null, null),
  -- a10 counts in 2025: Oslo, Cy, phone_call, 15 min, recorded at 23:30 on 31 December 2024
  -- at -02, which is 01:30 on 1 January 2025 UTC.
  ('a0000000-0000-4000-8000-000000000010', 'b0000000-0000-4000-8000-000000000003',
   'c0000000-0000-4000-8000-000000000002', 'phone_call', '2024-12-31 23:30:00-02', 15, null, null),
  -- a11 counts: Oslo, Ada (her second chapter), phone_call, 20 min.
  ('a0000000-0000-4000-8000-000000000011', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000002', 'phone_call', '2025-03-03 18:00:00+00', 20, null, null),
  -- a12 counts: Bergen, Bo, visit, 75 min.
  ('a0000000-0000-4000-8000-000000000012', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2025-07-01 14:00:00+02', 75, null, null),
  -- a13 does not count: training.
  ('a0000000-0000-4000-8000-000000000013', 'b0000000-0000-4000-8000-000000000004',
   'c0000000-0000-4000-8000-000000000003', 'training', '2025-02-02 10:00:00+00', 60, null, null),
  -- a14 does not count: soft-deleted (a whole day's visit).
  ('a0000000-0000-4000-8000-000000000014', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2025-08-08 08:00:00+00', 1440, null, '2025-08-09 08:00:00+00'),
  -- a15 does not count: a duplicate registration of a12.
  ('a0000000-0000-4000-8000-000000000015', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000001', 'visit', '2025-07-01 14:00:00+02', 75,
   'a0000000-0000-4000-8000-000000000012', null),
  -- a16 counts: Oslo, Cy, visit, 50 min, at the last second of 2025 UTC.
  ('a0000000-0000-4000-8000-000000000016', 'b0000000-0000-4000-8000-000000000003',
   'c0000000-0000-4000-8000-000000000002', 'visit', '2025-12-31 23:59:59+00', 50, null, null);
