-- The activity count of the one cell of each materialized view that a probe activity of
-- mentor `mentor`, chapter `chapter` on UTC day `day` lands in (0 while the cell is absent).
select
  (select coalesce(sum(activity_count), 0) from private.mv_peer_mentor_stats
   where peer_mentor_id = %(mentor)s and chapter_id = %(chapter)s and month_start = %(month)s) as mv_peer_mentor_stats,
  (select coalesce(sum(activity_count), 0) from private.mv_chapter_stats
   where chapter_id = %(chapter)s and month_start = %(month)s) as mv_chapter_stats,
  (select coalesce(sum(activity_count), 0) from private.mv_activity_time_series
   where chapter_id = %(chapter)s and bucket_date = %(day)s) as mv_activity_time_series;
