-- Where verify's probe activity goes, made inside a transaction that verify rolls back: a new
-- chapter (unless %(chapter_id)s names one), a new peer mentor of it and a new counting activity
-- type, and the moment to record it at: now, if the current UTC year is open for writes, else
-- noon UTC on 31 December of the latest earlier year that is (a closed year refuses every
-- write, a reopened one all but the national office's; a later year would lie in the future,
-- which the write guard refuses). So the data cannot refuse the probe: the new mentor's day is
-- empty, its year is open, and it needs no existing mentor or type. No row when every year
-- since the earliest a recorded_at may have (private.earliest_recorded_at()) is closed or reopened.
with new_chapter as (
  insert into public.chapters (name)
  select 'peerstats verify probe (rolled back)'
  where %(chapter_id)s::uuid is null
  returning id
),
mentor as (
  insert into public.peer_mentors (chapter_id, full_name)
  select coalesce(%(chapter_id)s::uuid, (select id from new_chapter)), 'peerstats verify probe (rolled back)'
  returning id, chapter_id
),
activity_type as (
  insert into public.activity_types (code, label, counts_in_stats)
  values ('verify_probe_' || replace(gen_random_uuid()::text, '-', ''), 'peerstats verify probe (rolled back)', true)
  returning code
),
this_year as (
  select extract(year from now() at time zone 'UTC')::int as year
),
open_year as (
  select max(y)::int as year
  from this_year t,
       generate_series(extract(year from private.earliest_recorded_at() at time zone 'UTC')::int, t.year) y
  where not exists (select from private.reporting_years r where r.year = y and r.status <> 'open')
)
select m.chapter_id, m.id as peer_mentor_id, a.code as activity_type,
       case when o.year = t.year then now() else make_timestamptz(o.year, 12, 31, 12, 0, 0, 'UTC') end as recorded_at
from mentor m, activity_type a, open_year o, this_year t
where o.year is not null;
