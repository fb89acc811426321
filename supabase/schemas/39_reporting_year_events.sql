-- private.reporting_year_events: every close and reopen of a year, logged by
-- private.close_reporting_year() and private.reopen_reporting_year()
-- (15_functions_bufdir_and_closed_years.sql).

CREATE TABLE private.reporting_year_events (
    id bigint NOT NULL,
    year integer NOT NULL,
    event text NOT NULL,
    happened_at timestamp with time zone DEFAULT now() NOT NULL,
    by_role text NOT NULL,
    operator text,
    reason text,
    submission_id bigint,
    CONSTRAINT reopening_needs_a_reason CHECK (((event <> 'reopened'::text) OR (COALESCE(btrim(reason), ''::text) <> ''::text))),
    CONSTRAINT reporting_year_event_kind CHECK ((event = ANY (ARRAY['closed'::text, 'reopened'::text])))
);

ALTER TABLE private.reporting_year_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME private.reporting_year_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY private.reporting_year_events
    ADD CONSTRAINT reporting_year_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY private.reporting_year_events
    ADD CONSTRAINT reporting_year_events_submission_id_fkey FOREIGN KEY (submission_id) REFERENCES private.bufdir_submissions(id);

ALTER TABLE ONLY private.reporting_year_events
    ADD CONSTRAINT reporting_year_events_year_fkey FOREIGN KEY (year) REFERENCES private.reporting_years(year);

CREATE INDEX reporting_year_events_submission_id ON private.reporting_year_events USING btree (submission_id);

CREATE INDEX reporting_year_events_year ON private.reporting_year_events USING btree (year);

COMMENT ON TABLE private.reporting_year_events IS 'Every close and reopen of a reporting year, with who, when and (for a reopen) why.';

GRANT SELECT ON TABLE private.reporting_year_events TO service_role;
