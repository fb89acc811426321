-- The share of repeats among activities, known to the planner without an index.
--
-- The counting rule's branches test `(duplicate_of is not null)::integer` (0 for an original,
-- 1 for a repeat). An expression index on it gave the planner that expression's statistics,
-- but it also gave the planner an index to AND into any lookup of activities: before
-- ANALYZE has seen any rows (a new database loaded in one transaction, such as a seed or an
-- import) the planner takes `= 0` for as selective as any equality (0.5% of the rows), so the
-- daily bound's per-day sum (private.refuse_overfull_mentor_days) became a BitmapAnd of the
-- (peer_mentor_id, recorded_at) index with an index of every original: each lookup read all
-- the rows written so far, and a 3M-row load stopped progressing after 150,000 rows.
--
-- Extended statistics on the expression give ANALYZE the same figures (the share of
-- repeats, a figure about all chapters together that only the owner can read), with no index
-- to choose and none to write on every insert.
select pg_advisory_xact_lock(7351046002);

drop index public.activities_duplicate_flag;

create statistics public.activities_duplicate_flag
  on ((duplicate_of is not null)::integer) from public.activities;

comment on statistics public.activities_duplicate_flag is
  'The share of repeats (duplicate_of set) for the planner''s estimates of the counting rule''s two branches; statistics only, no index to write or to AND into a lookup.';

analyze public.activities;
