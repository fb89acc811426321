-- Synthetic data, part 2: the daily bound (private.daily_bound_minutes()). The database
-- refuses a write that gives a peer mentor more than that many counted minutes on one UTC day
-- (by recorded_at), and at about 14 activities per mentor and day (a million on the default
-- profile) the drawn durations of a busy day add up to more than that.
--
-- One pass over the whole run, before any row is written, counts the run's rows on each
-- (mentor, UTC day) and sums their drawn durations, with the same draws as the insert
-- (pg_temp.seed_draws). A day's budget is the bound minus the counted minutes already there
-- (only an --append run finds any). On a day whose drawn minutes exceed its budget every
-- row of the run is cut to at most floor(budget / rows), rounded down to a 5-minute step
-- where that is 5 or more: then the day's minutes, counted or not, add up to at most the
-- budget whatever the rows are, exactly and without any retry. Days within their budget
-- keep the drawn durations. A day whose budget is smaller than its rows (only possible when
-- appending onto full days) cannot take them at a minute each: the seeder reads those
-- from this table and stops before inserting anything.
create temp table seed_day_caps on commit drop as
with run_days as (
  select d.mentor_id, d.day, count(*)::integer as activities, sum(d.drawn_minutes)::integer as drawn_minutes
  from seed_params p
  cross join lateral pg_temp.seed_draws(1, p.activities) d
  group by d.mentor_id, d.day
), budgeted as (
  select r.*, private.daily_bound_minutes() - coalesce(existing.minutes, 0) as budget
  from run_days r
  -- The same sum as the database's check; only a database that already holds activities
  -- is looked up, a day at a time through the (peer_mentor_id, recorded_at) index.
  left join lateral (
    select sum(c.duration_minutes)::integer as minutes
    from private.counted_activities c
    where (select base from seed_params) > 0
      and c.peer_mentor_id = r.mentor_id
      and c.recorded_at >= (r.day::timestamp at time zone 'UTC')
      and c.recorded_at < ((r.day + 1)::timestamp at time zone 'UTC')
  ) existing on true
)
select mentor_id, day, activities, budget,
       case when budget / activities >= 5 then budget / activities - budget / activities % 5
            else budget / activities
       end as cap_minutes
from budgeted
where drawn_minutes > budget;

analyze seed_day_caps;
