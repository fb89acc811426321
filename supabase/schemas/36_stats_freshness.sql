-- public.stats_freshness: when each materialized view was last refreshed, written by
-- public.refresh_stats_views() (13_functions_refresh.sql), readable through the API.

-- When each view was last refreshed, for the dashboard's "last updated".
CREATE TABLE public.stats_freshness (
    view_name text NOT NULL,
    refreshed_at timestamp with time zone NOT NULL,
    refresh_ms numeric NOT NULL
);

ALTER TABLE ONLY public.stats_freshness
    ADD CONSTRAINT stats_freshness_pkey PRIMARY KEY (view_name);

COMMENT ON TABLE public.stats_freshness IS 'One row per materialized statistics view: refreshed_at is the moment its data is as of (the start of its last refresh), refresh_ms how long that refresh took.';

COMMENT ON COLUMN public.stats_freshness.refreshed_at IS 'The view holds every change to activities committed before this moment.';

ALTER TABLE public.stats_freshness ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.stats_freshness FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.stats_freshness TO authenticated;

GRANT SELECT ON TABLE public.stats_freshness TO service_role;

CREATE POLICY stats_freshness_readable ON public.stats_freshness FOR SELECT TO authenticated USING (true);
