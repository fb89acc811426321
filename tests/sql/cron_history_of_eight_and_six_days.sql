-- Two runs of every job the current user owns, as pg_cron records them: one that ended 8 days
-- ago and one 6 days ago, each named by its age in return_message. runid is set far beyond
-- what pg_cron's own sequence will reach (and need not be granted on hosted Supabase).
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message,
                                  start_time, end_time)
select job.jobid, 9000000000000000 + row_number() over (), 0, job.database, job.username, job.command,
       'succeeded', age.days || ' days',
       now() - make_interval(days => age.days) - interval '1 second', now() - make_interval(days => age.days)
from cron.job job
cross join (values (6), (8)) as age(days)
where job.username = current_user;
