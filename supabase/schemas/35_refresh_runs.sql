-- private.refresh_runs: the log of every refresh, written by public.refresh_stats_views()
-- (13_functions_refresh.sql), read by public.stats_health() (16_functions_health_and_monitoring.sql).

-- Every call of the refresh, kept for private.stats_history_kept(): who asked, how long it waited and took, what came
-- of it. started_at is taken after the refresh lock, which is held until commit, so two
-- runs' [started_at, finished_at] never overlap.
CREATE TABLE private.refresh_runs (
    id bigint NOT NULL,
    requested_by text NOT NULL,
    waited_ms numeric NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    status text NOT NULL
);

ALTER TABLE private.refresh_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME private.refresh_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY private.refresh_runs
    ADD CONSTRAINT refresh_runs_pkey PRIMARY KEY (id);

CREATE INDEX refresh_runs_started_at ON private.refresh_runs USING btree (started_at);

COMMENT ON TABLE private.refresh_runs IS 'Operational log: one row per call of public.refresh_stats_views() kept for private.stats_history_kept() (down scripts write to it too): requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';

GRANT SELECT ON TABLE private.refresh_runs TO service_role;
