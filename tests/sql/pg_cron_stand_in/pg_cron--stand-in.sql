-- pg_cron's tables as its scripts 1.0 to 1.4-1 create them, and its functions for managing
-- jobs in SQL, so migrations that schedule, read and unschedule jobs apply as on pg_cron. No
-- background worker runs them: cron.job_run_details stays empty unless a test writes to it.
-- The functions run as their caller, who may touch only their own jobs (the row security
-- policies below, as pg_cron's), where pg_cron's C functions check the same by hand.

create schema cron;

create sequence cron.jobid_seq;
create table cron.job (
  jobid bigint primary key default pg_catalog.nextval('cron.jobid_seq'),
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  -- pg_cron takes the server's port from the server; inet_server_port() is null over a socket.
  nodeport int not null default pg_catalog.current_setting('port')::int,
  database text not null default pg_catalog.current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname name,
  constraint jobname_username_uniq unique (jobname, username)
);
grant select on cron.job to public;
alter table cron.job enable row level security;
create policy cron_job_policy on cron.job using (username operator(pg_catalog.=) current_user);

create sequence cron.runid_seq;
create table cron.job_run_details (
  jobid bigint,
  runid bigint primary key default pg_catalog.nextval('cron.runid_seq'),
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
grant select, delete on cron.job_run_details to public;
alter table cron.job_run_details enable row level security;
create policy cron_job_run_details_policy on cron.job_run_details using (username operator(pg_catalog.=) current_user);

select pg_catalog.pg_extension_config_dump('cron.job', '');
select pg_catalog.pg_extension_config_dump('cron.jobid_seq', '');
select pg_catalog.pg_extension_config_dump('cron.job_run_details', '');
select pg_catalog.pg_extension_config_dump('cron.runid_seq', '');
grant select on sequence cron.jobid_seq, cron.runid_seq to public;

-- Where pg_cron writes the job table in C, the stand-in's functions write it as the caller.
grant insert, update, delete on cron.job to public;
grant usage on sequence cron.jobid_seq to public;

create function cron.schedule(schedule text, command text) returns bigint
language sql strict as $$
  insert into cron.job (schedule, command) values (schedule, command) returning jobid
$$;
comment on function cron.schedule(text, text) is 'schedule a pg_cron job (stand-in: it never runs)';

-- A job of the same name and user is updated, as pg_cron does.
create function cron.schedule(job_name text, schedule text, command text) returns bigint
language sql as $$
  insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
  on conflict (jobname, username) do update set schedule = excluded.schedule, command = excluded.command
  returning jobid
$$;
comment on function cron.schedule(text, text, text) is 'schedule a pg_cron job (stand-in: it never runs)';

create function cron.unschedule(job_id bigint) returns boolean
language plpgsql strict as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id;
  end if;
  return true;
end
$$;
comment on function cron.unschedule(bigint) is 'unschedule a pg_cron job';

create function cron.unschedule(job_name name) returns boolean
language plpgsql strict as $$
begin
  delete from cron.job where jobname = job_name and username = current_user;
  if not found then
    raise exception 'could not find valid entry for job ''%''', job_name;
  end if;
  return true;
end
$$;
comment on function cron.unschedule(name) is 'unschedule a pg_cron job';

create function cron.alter_job(job_id bigint, schedule text default null, command text default null,
                               database text default null, username text default null,
                               active boolean default null) returns void
language plpgsql as $$
begin
  update cron.job j
     set schedule = coalesce(alter_job.schedule, j.schedule), command = coalesce(alter_job.command, j.command),
         database = coalesce(alter_job.database, j.database), username = coalesce(alter_job.username, j.username),
         active = coalesce(alter_job.active, j.active)
   where j.jobid = job_id;
  if not found then
    raise exception 'Job % does not exist or you don''t own it', job_id;
  end if;
end
$$;
comment on function cron.alter_job(bigint, text, text, text, text, boolean) is
  'Alter the job identified by job_id. Any option left as NULL will not be modified.';
-- As pg_cron: an administrator decides whether alter_job is safe by granting execute.
revoke all on function cron.alter_job(bigint, text, text, text, text, boolean) from public;
