-- How far the materialized views lag behind what they count: the moment their data is as of
-- (the oldest view's last refresh), and what changed in activities and activity types after
-- it. A hard delete leaves no trace here; the app soft-deletes.
select f.views_as_of,
       (select count(*) from public.activities a
        where a.updated_at > f.views_as_of or a.created_at > f.views_as_of) as changed_activities,
       (select count(*) from public.activity_types t
        where t.updated_at > f.views_as_of) as changed_activity_types,
       (select max(a.updated_at) from public.activities a) as latest_activity_change,
       (select max(t.updated_at) from public.activity_types t) as latest_activity_type_change
from (select min(s.refreshed_at) as views_as_of from public.stats_freshness s) f;
