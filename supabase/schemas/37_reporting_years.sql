-- private.reporting_years: the state of each UTC reporting year, kept by
-- private.close_reporting_year() and private.reopen_reporting_year(), read by the closed-years
-- triggers (15_functions_bufdir_and_closed_years.sql).

-- One row per UTC year that has been written to: 'open', 'closed' (submitted to Bufdir: no
-- write at all) or 'reopened' (service_role may correct it, nobody else). Every statement
-- writing activities first makes sure its years have a row here and locks them FOR SHARE;
-- closing updates the row. So a writer and a close never interleave: at READ COMMITTED the
-- later one waits and sees the other's outcome, at REPEATABLE READ and SERIALIZABLE it gets a
-- serialization error.
CREATE TABLE private.reporting_years (
    year integer NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    changed_at timestamp with time zone,
    changed_by text,
    CONSTRAINT reporting_year_status CHECK ((status = ANY (ARRAY['open'::text, 'closed'::text, 'reopened'::text])))
);

ALTER TABLE ONLY private.reporting_years
    ADD CONSTRAINT reporting_years_pkey PRIMARY KEY (year);

COMMENT ON TABLE private.reporting_years IS 'Reporting state per UTC year: open, closed (figures submitted to Bufdir; activities of the year refuse every write) or reopened (service_role only may write).';

GRANT SELECT ON TABLE private.reporting_years TO service_role;
