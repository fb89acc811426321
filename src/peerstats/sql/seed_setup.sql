-- Synthetic data, part 1: the reference rows (activity types, chapters, users, mentors,
-- coordinators) and the lookup tables the activity generator (seed_activities.sql) joins.
--
-- Runs in the seeder's transaction after it has filled pg_temp.seed_params (one row: seed,
-- chapters, mentors, years, until, base, activities). Every value is a pure function of the parameters
-- and a row number, through hashint8extended, so the same parameters give the same rows
-- whatever order PostgreSQL evaluates them in; ids are md5-based uuids of the seed and the
-- row number (an activity's is a UUIDv7 of its registration time). Reference rows that
-- already exist (an --append run with the same seed) are kept as they are.

-- A uniform number in [0, 1) for row number k, decided by the seed and a salt (one salt per
-- independent choice about a row). A single expression, so the planner inlines it.
create function pg_temp.seed_unit(seed bigint, k bigint, salt integer) returns double precision
language sql immutable parallel safe
as $$ select (hashint8extended(k * 16 + salt, seed) & 4503599627370495)::double precision / 4503599627370496 $$;

create function pg_temp.seed_uuid(seed bigint, kind text, k bigint) returns uuid
language sql immutable parallel safe
as $$ select md5('peerstats-seed:' || seed || ':' || kind || ':' || k)::uuid $$;

-- An activity's id: a UUIDv7 (RFC 9562) of the moment it was registered, as an app that
-- generates time-ordered ids would give it; its 74 random bits are hashes of the seed and the
-- row's key. Ids that follow time make each chunk's primary-key entries land in the last
-- pages of the index, where the previous chunk left off, instead of anywhere in it (a
-- random uuid writes into a random leaf of an index that outgrows the cache; see
-- docs/benchmarks.md).
create function pg_temp.seed_activity_id(seed bigint, k bigint, registered_at timestamptz) returns uuid
language sql immutable parallel safe
as $$
  select (lpad(to_hex(floor(extract(epoch from registered_at - timestamptz '1970-01-01 00:00:00+00') * 1000)::bigint), 12, '0')
          || '7' || lpad(to_hex(hashint8extended(k, seed) & 4095), 3, '0')
          -- The variant bits (10) and 62 random ones.
          || to_hex((hashint8extended(k, seed + 1) & 4611686018427387903) | -9223372036854775808))::uuid
$$;

-- The UTC days the data spans: `years` years of days, the last one the day `until` falls in
-- (the day before, when `until` is a midnight, as it is by default).
create temp table seed_span on commit drop as
with ending as (
  select ((until - interval '1 microsecond') at time zone 'UTC')::date as last_day, years from seed_params
)
select (last_day - make_interval(years => years))::date + 1 as first_day, last_day
from ending;

-- Activity types: what a registration is, how often, how long. Two do not count in the
-- statistics (internal training and administration): about 4% of the registrations.
create temp table seed_types on commit drop as
select * from (values
  ('home_visit',     'Home visit',                        true,  34.0, 30, 180),
  ('phone_call',     'Phone call',                        true,  24.0, 15,  60),
  ('group_meeting',  'Group meeting',                     true,  14.0, 60, 180),
  ('video_call',     'Video call',                        true,  10.0, 15,  90),
  ('walk_and_talk',  'Walk and talk',                     true,   8.0, 30, 120),
  ('event',          'Event',                             true,   6.0, 60, 240),
  ('training',       'Internal training (not reported)',  false,  2.5, 60, 240),
  ('administration', 'Administration (not reported)',     false,  1.5, 15,  90)
) as t (code, label, counts_in_stats, weight, min_minutes, max_minutes);

insert into public.activity_types (code, label, counts_in_stats)
select code, label, counts_in_stats from seed_types
on conflict (code) do nothing;

-- Weighted choices are made by slots: each option owns a run of slot numbers in proportion
-- to its weight, a uniform number picks a slot, and a hash join finds its option.
-- 1000 slots for the types.
create temp table seed_type_slots on commit drop as
with bounds as (
  select code, min_minutes, max_minutes,
         round(1000 * (sum(weight) over w - weight) / sum(weight) over ())::integer as first_slot,
         round(1000 * sum(weight) over w / sum(weight) over ())::integer as end_slot
  from seed_types
  window w as (order by code)
)
select s.slot, b.code, b.min_minutes, b.max_minutes
from bounds b
cross join lateral generate_series(b.first_slot, b.end_slot - 1) as s(slot);

-- Chapters of unequal size: weights from 1 to 4 in an order the seed shuffles, so the
-- largest chapter has about four times the activities of the smallest.
create temp table seed_chapters on commit drop as
with places as (
  select array['Oslo', 'Bergen', 'Trondheim', 'Stavanger', 'Drammen', 'Fredrikstad', 'Kristiansand',
               'Sandnes', 'Tromsø', 'Sarpsborg', 'Skien', 'Ålesund', 'Sandefjord', 'Haugesund',
               'Tønsberg', 'Moss', 'Porsgrunn', 'Bodø', 'Arendal', 'Hamar', 'Larvik', 'Halden',
               'Lillehammer', 'Molde', 'Harstad', 'Gjøvik', 'Kongsberg', 'Horten', 'Narvik', 'Alta'] as names
), numbered as (
  select c.ordinal, p.seed, p.chapters,
         row_number() over (order by pg_temp.seed_unit(p.seed, c.ordinal, 0), c.ordinal) - 1 as size_rank
  from seed_params p
  cross join generate_series(0, p.chapters - 1) as c(ordinal)
)
select n.ordinal,
       pg_temp.seed_uuid(n.seed, 'chapter', n.ordinal) as id,
       'NHF ' || pl.names[n.ordinal % 30 + 1]
         || case when n.ordinal >= 30 then ' ' || (n.ordinal / 30 + 1) else '' end as name,
       1 + 3 * n.size_rank::double precision / greatest(n.chapters - 1, 1) as weight
from numbered n
cross join places pl;

insert into public.chapters (id, name)
select id, name from seed_chapters order by ordinal
on conflict (id) do nothing;

-- Home chapters are shared out in proportion to the chapter weights (each chapter's first
-- mentor comes first, so none is left without one).
create temp table seed_chapter_slots on commit drop as
with bounds as (
  select ordinal,
         round(100 * (sum(weight) over w - weight))::integer as first_slot,
         round(100 * sum(weight) over w)::integer as end_slot
  from seed_chapters
  window w as (order by ordinal)
)
select s.slot, b.ordinal
from bounds b
cross join lateral generate_series(b.first_slot, b.end_slot - 1) as s(slot);

-- Mentors: a home chapter, an activity level that varies about eightfold between the least
-- and the most active, for about 12% a second chapter that gets a quarter of their
-- activities, and for about 70% a user account (the app's login).
create temp table seed_mentors on commit drop as
with drawn as (
  select m.ordinal, p.seed, p.chapters,
         case when m.ordinal >= p.chapters
              then ((m.ordinal - p.chapters) * (select count(*) from seed_chapter_slots))
                   / (p.mentors - p.chapters)
         end as home_slot,
         1 / (0.15 + pg_temp.seed_unit(p.seed, m.ordinal, 1)) as activity_level,
         p.chapters > 1 and pg_temp.seed_unit(p.seed, m.ordinal, 2) < 0.12 as has_second_chapter
  from seed_params p
  cross join generate_series(0, p.mentors - 1) as m(ordinal)
), homes as (
  select d.*, coalesce(cs.ordinal, d.ordinal) as home_ordinal
  from drawn d
  left join seed_chapter_slots cs on cs.slot = d.home_slot
), names as (
  select array['Kari', 'Ola', 'Ingrid', 'Lars', 'Anne', 'Per', 'Marit', 'Jon', 'Silje', 'Erik',
               'Hilde', 'Knut', 'Nora', 'Arne', 'Sofie', 'Bjørn', 'Astrid', 'Magnus', 'Liv', 'Håkon',
               'Emma', 'Sindre', 'Ida', 'Tor'] as first_names,
         array['Hansen', 'Johansen', 'Olsen', 'Larsen', 'Andersen', 'Pedersen', 'Nilsen', 'Kristiansen',
               'Jensen', 'Karlsen', 'Johnsen', 'Pettersen', 'Eriksen', 'Berg', 'Haugen', 'Hagen',
               'Johannessen', 'Andreassen', 'Jacobsen', 'Dahl', 'Jørgensen', 'Halvorsen', 'Lund',
               'Solberg'] as last_names
)
select h.ordinal,
       pg_temp.seed_uuid(h.seed, 'mentor', h.ordinal) as id,
       h.home_ordinal,
       home.id as home_chapter_id,
       second.id as second_chapter_id,
       case when pg_temp.seed_unit(h.seed, h.ordinal, 4) < 0.7
            then pg_temp.seed_uuid(h.seed, 'mentor-user', h.ordinal)
       end as user_id,
       nm.first_names[1 + floor(pg_temp.seed_unit(h.seed, h.ordinal, 5) * cardinality(nm.first_names))::integer]
         || ' ' ||
         nm.last_names[1 + floor(pg_temp.seed_unit(h.seed, h.ordinal, 6) * cardinality(nm.last_names))::integer]
         as full_name,
       -- The mentor's share of all activities: their chapter's share, split among the
       -- chapter's mentors by activity level.
       home.weight / (select sum(weight) from seed_chapters)
         * h.activity_level / sum(h.activity_level) over (partition by h.home_ordinal) as share
from homes h
join seed_chapters home on home.ordinal = h.home_ordinal
left join seed_chapters second
  on h.has_second_chapter
 and second.ordinal = (h.home_ordinal + 1
                       + floor(pg_temp.seed_unit(h.seed, h.ordinal, 3) * (h.chapters - 1))::integer) % h.chapters
cross join names nm;

insert into auth.users (id, email)
select user_id, 'mentor-' || ordinal || '.' || left(user_id::text, 8) || '@example.org'
from seed_mentors
where user_id is not null
order by ordinal
on conflict (id) do nothing;

insert into public.peer_mentors (id, user_id, chapter_id, full_name)
select id, user_id, home_chapter_id, full_name from seed_mentors order by ordinal
on conflict (id) do nothing;

-- A mentor active in a second chapter is a member of it (as a coordinator there would grant).
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
select id, second_chapter_id from seed_mentors where second_chapter_id is not null order by ordinal
on conflict (peer_mentor_id, chapter_id) do nothing;

-- Coordinators: the chapters are handed out in groups of 1, 3, 1, 2, 5, 1, 4, 2, ... (in
-- chapter order), so most coordinators have one chapter and some have several, up to the
-- contract's five (private.max_chapters_per_coordinator(), which caps every group). A
-- coordinator's id depends on the chapter count too, so an --append run with another
-- --chapters never gives one user a chapter past the limit.
create temp table seed_coordinators on commit drop as
with groups as (
  select g.ordinal, least((array[1, 3, 1, 2, 5, 1, 4, 2])[g.ordinal % 8 + 1], private.max_chapters_per_coordinator()) as size
  from seed_params p
  cross join generate_series(0, p.chapters - 1) as g(ordinal)
), bounds as (
  select ordinal, size, sum(size) over (order by ordinal) - size as first_chapter
  from groups
)
select b.ordinal,
       pg_temp.seed_uuid(p.seed, 'coordinator-of-' || p.chapters, b.ordinal) as user_id,
       ch.id as chapter_id
from bounds b
join seed_chapters ch on ch.ordinal >= b.first_chapter and ch.ordinal < b.first_chapter + b.size
cross join seed_params p;

insert into auth.users (id, email)
select distinct on (ordinal) user_id, 'coordinator-' || ordinal || '.' || left(user_id::text, 8) || '@example.org'
from seed_coordinators
order by ordinal
on conflict (id) do nothing;

insert into public.coordinator_chapters (user_id, chapter_id)
select user_id, chapter_id from seed_coordinators order by ordinal, chapter_id
on conflict (user_id, chapter_id) do nothing;

-- About 20 slots per mentor (at least one each) for the mentor, and with it the chapter, of
-- an activity.
create temp table seed_mentor_slots on commit drop as
with counts as (
  select m.*, greatest(1, round(m.share * 20 * (select count(*) from seed_mentors)))::integer as slots
  from seed_mentors m
), bounds as (
  select c.*, sum(c.slots) over (order by c.ordinal) - c.slots as first_slot
  from counts c
)
select s.slot::integer, b.id as mentor_id, b.home_chapter_id, b.second_chapter_id
from bounds b
cross join lateral generate_series(b.first_slot, b.first_slot + b.slots - 1) as s(slot);

-- The day of an activity: a weekly rhythm (Saturdays at 45% of a weekday, Sundays at 30%),
-- a summer dip centred on mid-July (down to 35%) and a short one at Christmas; 100 slots
-- for a full weekday.
create temp table seed_day_slots on commit drop as
with days as (
  select d::date as day
  from seed_span sp
  cross join generate_series(sp.first_day, sp.last_day, interval '1 day') as d
), weights as (
  select day,
         case extract(isodow from day) when 6 then 0.45 when 7 then 0.30 else 1.0 end
         * (1 - 0.65 * exp(-power((extract(doy from day) - 198) / 16.0, 2)))
         * (1 - 0.50 * exp(-power((extract(doy from day) - 359) / 5.0, 2))) as weight
  from days
), counts as (
  select day, greatest(1, round(100 * weight))::integer as slots from weights
), bounds as (
  select day, slots, sum(slots) over (order by day) - slots as first_slot from counts
)
select s.slot::integer, b.day
from bounds b
cross join lateral generate_series(b.first_slot, b.first_slot + b.slots - 1) as s(slot);

create temp table seed_slot_counts on commit drop as
select (select count(*) from seed_mentor_slots) as mentor_slots,
       (select count(*) from seed_day_slots) as day_slots,
       (select count(*) from seed_type_slots) as type_slots;

analyze seed_type_slots, seed_mentor_slots, seed_day_slots, seed_slot_counts, seed_params, seed_span;

-- The choices about the activities numbered first_n to last_n of this run that decide how
-- they count against the daily bound: mentor, chapter, type, UTC day and the
-- duration drawn before that bound is applied. Row number n has the key base + n, and every
-- choice is seed_unit(seed, key, salt), so a row is the same whichever statement draws it:
-- the daily-bound pass (seed_day_caps.sql) draws the whole run, the insert (seed_activities.sql)
-- one chunk. About one row in a hundred repeats the registration just before it and takes
-- every choice from that row (source_k); never the first row of a run, and never a repeat of
-- a repeat. One SELECT, not strict, stable: the planner inlines it into both callers.
create function pg_temp.seed_draws(first_n bigint, last_n bigint)
returns table (seed bigint, until timestamptz, k bigint, is_duplicate boolean, source_k bigint,
               mentor_id uuid, chapter_id uuid, activity_type text, day date, drawn_minutes integer)
language sql stable
as $$
  with keyed as (
    select p.seed, p.until, p.activities, n, p.base + n as k,
           n > 1
             and pg_temp.seed_unit(p.seed, p.base + n, 0) < 0.0101
             and pg_temp.seed_unit(p.seed, p.base + n - 1, 0) >= 0.0101 as is_duplicate
    from seed_params p
    cross join generate_series(first_n, last_n) as n
  ), sourced as (
    select keyed.*, case when is_duplicate then k - 1 else k end as source_k,
           case when is_duplicate then n - 1 else n end as source_n
    from keyed
  )
  select s.seed, s.until, s.k, s.is_duplicate, s.source_k,
         ms.mentor_id,
         case when ms.second_chapter_id is not null and pg_temp.seed_unit(s.seed, s.source_k, 2) < 0.25
              then ms.second_chapter_id else ms.home_chapter_id end,
         ts.code,
         ds.day,
         -- 15 minutes to 4 hours by type, in 5-minute steps, shorter ones more often.
         ts.min_minutes + 5 * floor(((ts.max_minutes - ts.min_minutes) / 5 + 1)
                                    * pg_temp.seed_unit(s.seed, s.source_k, 6) ^ 1.6)::integer
  from sourced s
  cross join seed_slot_counts sc
  join seed_mentor_slots ms on ms.slot = floor(pg_temp.seed_unit(s.seed, s.source_k, 1) * sc.mentor_slots)::integer
  -- The day in time order: row n of the run's N draws its slot from the n-th of N equal
  -- slices of the day slots, so the days keep their weights and each chunk of rows covers
  -- the next stretch of days (the chunk's index entries and daily sums stay together).
  join seed_day_slots ds
    on ds.slot = floor((s.source_n - 1 + pg_temp.seed_unit(s.seed, s.source_k, 3)) * sc.day_slots / s.activities)::integer
  join seed_type_slots ts on ts.slot = floor(pg_temp.seed_unit(s.seed, s.source_k, 5) * sc.type_slots)::integer
$$;
