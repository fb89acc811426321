-- public.activity_types: the kinds of activity and whether each counts in the statistics.
-- Triggers in firing order (before statement, before row, after row, after statement; by name
-- within each, as PostgreSQL fires them; docs/write-path.md says what each guarantees). Functions they call:
-- private.lock_activities_for_type_changes(), private.touch_updated_at()
-- (11_functions_write_guards.sql); private.refuse_type_changes_in_closed_years()
-- (15_functions_bufdir_and_closed_years.sql); private.log_retyped_activities()
-- (14_functions_dirty_key_log_and_exact_api.sql).

CREATE TABLE public.activity_types (
    code text NOT NULL,
    label text NOT NULL,
    counts_in_stats boolean NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT activity_type_code_format CHECK ((code ~ '^[a-z][a-z0-9_]*$'::text))
);

ALTER TABLE ONLY public.activity_types
    ADD CONSTRAINT activity_types_pkey PRIMARY KEY (code);

ALTER TABLE public.activity_types ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.activity_types FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.activity_types TO service_role;

GRANT SELECT ON TABLE public.activity_types TO authenticated;

CREATE POLICY activity_types_readable ON public.activity_types FOR SELECT TO authenticated USING (true);

CREATE TRIGGER activity_types_lock_activities BEFORE DELETE OR UPDATE ON public.activity_types FOR EACH STATEMENT EXECUTE FUNCTION private.lock_activities_for_type_changes();

CREATE TRIGGER activity_types_touch_updated_at BEFORE UPDATE ON public.activity_types FOR EACH ROW EXECUTE FUNCTION private.touch_updated_at();

CREATE TRIGGER activity_types_closed_years AFTER DELETE OR UPDATE ON public.activity_types FOR EACH ROW EXECUTE FUNCTION private.refuse_type_changes_in_closed_years();

CREATE TRIGGER activity_types_log_retyped_keys AFTER UPDATE ON public.activity_types REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.log_retyped_activities();
