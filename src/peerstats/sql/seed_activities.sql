-- Synthetic data, part 3: the activities numbered `first` to `last` of this run (the two
-- query parameters) in one statement; the seeder calls it chunk by chunk to show progress.
-- Every choice about a row comes from pg_temp.seed_draws (seed_setup.sql) or is
-- seed_unit(seed, key, salt), and a day's cap from seed_day_caps (seed_day_caps.sql) is
-- decided for the whole run beforehand: a row is the same whichever chunk writes it, and an
-- --append run (whose base is the number of activities already there) writes new rows.
--
-- A repeat (duplicate_of) has its registration's mentor, chapter, type, time and duration,
-- registered a little later. About two rows in a hundred are soft-deleted. (No percent sign
-- in this file: it holds query parameters.)
insert into public.activities
  (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes,
   duplicate_of, deleted_at, created_at)
with placed as (
  select d.*,
         (d.day::timestamp at time zone 'UTC') as day_start,
         -- least() ignores the null cap of a day within its budget.
         least(d.drawn_minutes, c.cap_minutes) as duration_minutes
  from pg_temp.seed_draws(%(first)s::bigint, %(last)s::bigint) d
  left join seed_day_caps c on c.mentor_id = d.mentor_id and c.day = d.day
), timed as (
  select pl.*, pg_temp.seed_unit(pl.seed, pl.source_k, 4) as time_of_day
  from placed pl
), clocked as (
  select t.*,
         -- Between 07:00 and 20:00 UTC in 5-minute steps; on a last day that `until` cuts
         -- short, spread over what there is of it instead (never past the day's end, so the
         -- day is the one seed_day_caps budgeted).
         case when t.day_start + interval '7 hours' + interval '5 minutes' * floor(156 * t.time_of_day) <= t.until
              then t.day_start + interval '7 hours' + interval '5 minutes' * floor(156 * t.time_of_day)
              else date_trunc('minute', t.day_start + (t.until - t.day_start) * t.time_of_day)
         end as recorded_at
  from timed t
), first_registered as (
  select t.*,
         -- Registered within three days, most soon after; a repeat up to two hours after
         -- its original.
         t.recorded_at
         + interval '1 minute' * floor(4320 * pg_temp.seed_unit(t.seed, t.source_k, 8) ^ 3) as source_registered_at
  from clocked t
), registered as (
  select t.*,
         least(t.until,
               t.source_registered_at
               + case when t.is_duplicate
                      then interval '1 minute' * (1 + floor(120 * pg_temp.seed_unit(t.seed, t.k, 9)))
                      else interval '0' end) as created_at
  from first_registered t
)
select pg_temp.seed_activity_id(r.seed, r.k, r.created_at),
       r.mentor_id,
       r.chapter_id,
       r.activity_type,
       r.recorded_at,
       r.duration_minutes,
       case when r.is_duplicate
            then pg_temp.seed_activity_id(r.seed, r.source_k, least(r.until, r.source_registered_at)) end,
       case when pg_temp.seed_unit(r.seed, r.k, 7) < 0.02
            then least(r.until, r.created_at + interval '1 minute' * floor(20160 * pg_temp.seed_unit(r.seed, r.k, 10)))
       end,
       r.created_at
from registered r
-- In key order, whatever order the joins produce: a repeat's row trigger looks up its
-- original, which must already be written.
order by r.k;
