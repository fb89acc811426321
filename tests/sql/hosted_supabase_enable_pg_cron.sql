-- What enabling pg_cron (Dashboard -> Database -> Extensions) does on hosted Supabase, run by
-- supabase_admin: the extension is created in pg_catalog (Supabase's supautils pins that
-- schema), and the image's event trigger extensions.grant_pg_cron_access (migration
-- 20231020085357) lets postgres use it: schedule jobs, read cron.job, not write it directly.
create extension pg_cron with schema pg_catalog;
grant usage on schema cron to postgres with grant option;
grant all on all functions in schema cron to postgres with grant option;
grant all privileges on all tables in schema cron to postgres with grant option;
revoke all on table cron.job from postgres;
grant select on table cron.job to postgres with grant option;
