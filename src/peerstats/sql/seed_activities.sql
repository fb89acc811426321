-- Synthetic data, part 2: the activities numbered `first` to `last` of this run (the two
-- query parameters) in one statement; the seeder calls it chunk by chunk to show progress.
-- Row number n of the run has the key base + n, and every choice about the row is
-- seed_unit(seed, key, salt): a row is the same whichever chunk writes it, and an --append
-- run (whose base is the number of activities already there) writes new rows.
--
-- About one row in a hundred repeats the registration just before it (same mentor, chapter,
-- type, time and duration, registered a little later) and points at it with duplicate_of;
-- never the first row of a run, and never a repeat of a repeat. About two in a hundred are
-- soft-deleted. (No percent sign in this file: it holds query parameters.)
insert into public.activities
  (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes,
   duplicate_of, deleted_at, created_at)
with keyed as (
  select p.seed, p.until, p.base + n as k,
         n > 1
           and pg_temp.seed_unit(p.seed, p.base + n, 0) < 0.0101
           and pg_temp.seed_unit(p.seed, p.base + n - 1, 0) >= 0.0101 as is_duplicate
  from seed_params p
  cross join generate_series(%(first)s::bigint, %(last)s::bigint) as n
), sourced as (
  -- A repeat takes every choice from the row it repeats.
  select keyed.*, case when is_duplicate then k - 1 else k end as source_k
  from keyed
), placed as (
  select s.*,
         ms.mentor_id,
         case when ms.second_chapter_id is not null and pg_temp.seed_unit(s.seed, s.source_k, 2) < 0.25
              then ms.second_chapter_id else ms.home_chapter_id end as chapter_id,
         ts.code, ts.min_minutes, ts.max_minutes,
         (ds.day::timestamp at time zone 'UTC') as day_start
  from sourced s
  cross join seed_slot_counts sc
  join seed_mentor_slots ms on ms.slot = floor(pg_temp.seed_unit(s.seed, s.source_k, 1) * sc.mentor_slots)::integer
  join seed_day_slots ds on ds.slot = floor(pg_temp.seed_unit(s.seed, s.source_k, 3) * sc.day_slots)::integer
  join seed_type_slots ts on ts.slot = floor(pg_temp.seed_unit(s.seed, s.source_k, 5) * sc.type_slots)::integer
), timed as (
  select pl.*, pg_temp.seed_unit(pl.seed, pl.source_k, 4) as time_of_day
  from placed pl
), clocked as (
  select t.*,
         -- Between 07:00 and 20:00 UTC in 5-minute steps; on a last day that `until` cuts
         -- short, spread over what there is of it instead.
         case when t.day_start + interval '7 hours' + interval '5 minutes' * floor(156 * t.time_of_day) <= t.until
              then t.day_start + interval '7 hours' + interval '5 minutes' * floor(156 * t.time_of_day)
              else date_trunc('minute', t.day_start + (t.until - t.day_start) * t.time_of_day)
         end as recorded_at
  from timed t
), registered as (
  select t.*,
         -- Registered within three days, most soon after; a repeat up to two hours later.
         least(t.until,
               t.recorded_at
               + interval '1 minute' * floor(4320 * pg_temp.seed_unit(t.seed, t.source_k, 8) ^ 3)
               + case when t.is_duplicate
                      then interval '1 minute' * (1 + floor(120 * pg_temp.seed_unit(t.seed, t.k, 9)))
                      else interval '0' end) as created_at
  from clocked t
)
select pg_temp.seed_uuid(r.seed, 'activity', r.k),
       r.mentor_id,
       r.chapter_id,
       r.code,
       r.recorded_at,
       -- 15 minutes to 4 hours by type, in 5-minute steps, shorter ones more often.
       r.min_minutes + 5 * floor(((r.max_minutes - r.min_minutes) / 5 + 1)
                                 * pg_temp.seed_unit(r.seed, r.source_k, 6) ^ 1.6)::integer,
       case when r.is_duplicate then pg_temp.seed_uuid(r.seed, 'activity', r.k - 1) end,
       case when pg_temp.seed_unit(r.seed, r.k, 7) < 0.02
            then least(r.until, r.created_at + interval '1 minute' * floor(20160 * pg_temp.seed_unit(r.seed, r.k, 10)))
       end,
       r.created_at
from registered r;
