-- Writes the statistics have not folded in yet, for `peerstats bench`: one single-row INSERT
-- per activity, each its own transaction as each request of the app is (so the dirty-key log
-- grows by one entry per insert, as it does under the app's single-row writes), by random
-- mentors in their home chapters, of a counting type, dated at random over the last
-- `peerstats.bench_days` days. Each lasts one minute: an hour of writes at 20 a second puts
-- about 240 on a mentor's day (100 mentors, three days), and a mentor's counted minutes on one
-- day may not pass the daily bound (private.daily_bound_minutes()). The reads it slows depend
-- on the keys it logs, not on the minutes. A seeded day may already be full (the seeder fills
-- a busy mentor's day up to the bound), so each
-- write draws its mentor and time again until that mentor's UTC day has a minute left.
-- Run outside a transaction block, so it may commit.
-- Parameters (set_config before this runs): peerstats.bench_rows, peerstats.bench_days.
do $$
declare
  mentors uuid[];
  counting_type text;
  rows_to_write constant integer := current_setting('peerstats.bench_rows')::integer;
  days constant double precision := current_setting('peerstats.bench_days')::double precision;
  draws_per_write constant integer := 1000;
  mentor uuid;
  recorded timestamptz;
  day date;
begin
  select array_agg(id order by id) into mentors from public.peer_mentors;
  select code into counting_type from public.activity_types where counts_in_stats order by code limit 1;
  for i in 1 .. rows_to_write loop
    for draw in 1 .. draws_per_write loop
      mentor := mentors[1 + floor(random() * cardinality(mentors))::integer];
      recorded := now() - random() * days * interval '1 day';
      day := (recorded at time zone 'UTC')::date;
      exit when (select coalesce(sum(c.duration_minutes), 0)
                 from private.counted_activities c
                 where c.peer_mentor_id = mentor
                   and c.recorded_at >= (day::timestamp at time zone 'UTC')
                   and c.recorded_at < ((day + 1)::timestamp at time zone 'UTC')) < private.daily_bound_minutes();
      if draw = draws_per_write then
        raise exception 'no mentor-day of the last % days has a minute left for write % of %', days, i, rows_to_write;
      end if;
    end loop;
    insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
    select m.id, m.chapter_id, counting_type, recorded, 1
    from public.peer_mentors m
    where m.id = mentor;
    commit;
  end loop;
end
$$;
