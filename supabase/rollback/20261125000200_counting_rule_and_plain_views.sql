-- Down: the plain views and the counting rule. Base tables and their rows are untouched.
drop view if exists public.v_peer_mentor_stats;
drop view if exists public.v_chapter_stats;
drop view if exists public.v_activity_time_series;
drop view if exists private.peer_mentor_stats_live;
drop view if exists private.chapter_stats_live;
drop view if exists private.activity_time_series_live;
drop function if exists private.stats_chapter_ids();
drop function if exists private.caller_sees_every_chapter();
drop view if exists private.counted_activities;
