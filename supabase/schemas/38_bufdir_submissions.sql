-- private.bufdir_submissions: the figures of each closed year as submitted, stored by
-- private.close_reporting_year() (15_functions_bufdir_and_closed_years.sql).

CREATE TABLE private.bufdir_submissions (
    id bigint NOT NULL,
    year integer NOT NULL,
    submitted_at timestamp with time zone DEFAULT now() NOT NULL,
    submitted_by text NOT NULL,
    operator text,
    figures jsonb NOT NULL
);

ALTER TABLE private.bufdir_submissions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME private.bufdir_submissions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY private.bufdir_submissions
    ADD CONSTRAINT bufdir_submissions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY private.bufdir_submissions
    ADD CONSTRAINT bufdir_submissions_year_fkey FOREIGN KEY (year) REFERENCES private.reporting_years(year);

CREATE INDEX bufdir_submissions_year ON private.bufdir_submissions USING btree (year);

COMMENT ON TABLE private.bufdir_submissions IS 'The figures as submitted to Bufdir when a year was closed: the rows of private.bufdir_export(year) at that moment, with when, the database role and the operator named by the client.';

GRANT SELECT ON TABLE private.bufdir_submissions TO service_role;
