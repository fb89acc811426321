-- The expression index as it was before the statistics replaced it.
select pg_advisory_xact_lock(7351046002);

drop statistics if exists public.activities_duplicate_flag;

create index if not exists activities_duplicate_flag on public.activities (((duplicate_of is not null)::integer));

analyze public.activities;
