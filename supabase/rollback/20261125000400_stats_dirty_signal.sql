-- Down: the dirty signal only; the tables and their rows are left alone.
drop trigger if exists activity_types_stats_dirty on public.activity_types;
drop trigger if exists activities_stats_dirty on public.activities;
drop function if exists private.notify_stats_dirty();
