-- One materialized view against its plain view, as the owner (who sees every chapter in
-- both): rows in one and not the other (EXCEPT ALL both ways), row counts and totals. Minutes,
-- not hours: a sum of per-row total_hours is a sum of rounded quotients.
-- {materialized} and {plain} are filled in by the caller as identifiers.
select
  (select count(*) from (select * from {materialized} except all select * from {plain}) as only_materialized)
    as only_in_materialized,
  (select count(*) from (select * from {plain} except all select * from {materialized}) as only_plain)
    as only_in_plain,
  (select count(*) from {materialized}) as materialized_rows,
  (select count(*) from {plain}) as plain_rows,
  (select coalesce(sum(activity_count), 0) from {materialized}) as materialized_activities,
  (select coalesce(sum(activity_count), 0) from {plain}) as plain_activities,
  (select coalesce(sum(total_minutes), 0) from {materialized}) as materialized_minutes,
  (select coalesce(sum(total_minutes), 0) from {plain}) as plain_minutes;
