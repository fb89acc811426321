-- The write guards: the rules the database enforces on every write, at every isolation
-- level and under concurrent writers (docs/security.md lists each attack and its test).
--
-- id, created_at and updated_at are the database's; a coordinator has at most five chapters
-- (a counter row per user that concurrent assignments serialise on); a duplicate_of points at
-- an activity of the same mentor and chapter; a mentor cannot undo what a coordinator set
-- (deleted_at, duplicate_of): only a coordinator of the chapter (or service_role) may.

-- Counting a coordinator's rows on a snapshot would let two REPEATABLE READ transactions each
-- see four and both add a fifth. So every assignment updates one counter row per
-- coordinator: at READ COMMITTED the second writer waits and then counts
-- on from the first one's committed value; at REPEATABLE READ and SERIALIZABLE it fails with a
-- serialization error (retry, and the count is right).
CREATE TABLE private.coordinator_chapter_counts (
    user_id uuid NOT NULL,
    chapter_count integer NOT NULL
);

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.coordinator_chapter_counts FROM PUBLIC, anon, authenticated, service_role;

ALTER TABLE ONLY private.coordinator_chapter_counts
    ADD CONSTRAINT coordinator_chapter_counts_pkey PRIMARY KEY (user_id);

COMMENT ON TABLE private.coordinator_chapter_counts IS 'How many chapters each user coordinates, kept by a trigger on coordinator_chapters; the row every assignment to that user updates, so concurrent assignments serialise on it.';

CREATE FUNCTION private.enforce_coordinator_chapter_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  assigned integer;
begin
  if tg_op in ('UPDATE', 'DELETE') then
    update private.coordinator_chapter_counts
    set chapter_count = chapter_count - 1
    where user_id = old.user_id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.coordinator_chapter_counts as counts (user_id, chapter_count)
    values (new.user_id, 1)
    on conflict (user_id) do update set chapter_count = counts.chapter_count + 1
    returning counts.chapter_count into assigned;
    if assigned > 5 then
      raise exception 'coordinator % already has 5 chapters; a coordinator may have at most 5', new.user_id
        using errcode = 'check_violation',
              hint = 'Remove one of their chapters from coordinator_chapters first.';
    end if;
  end if;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.enforce_coordinator_chapter_limit() FROM PUBLIC;

-- Invoker's rights, so row_security_active() tells an API user (under row security) from
-- service_role and the owner, who may import rows with their own ids and times.
CREATE FUNCTION private.guard_activity_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  api_user boolean := pg_catalog.row_security_active('public.activities'::regclass);
begin
  if tg_op = 'INSERT' then
    new.updated_at := pg_catalog.now();
    if api_user then
      new.id := pg_catalog.gen_random_uuid();
      new.created_at := pg_catalog.now();
    end if;
  elsif api_user then
    new.id := old.id;
    new.created_at := old.created_at;
    if not (old.chapter_id = any (private.coordinated_chapter_ids())) then
      if old.deleted_at is not null and new.deleted_at is distinct from old.deleted_at then
        raise exception 'activity % is soft-deleted: only a coordinator of its chapter may restore it or change deleted_at', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if old.duplicate_of is not null and new.duplicate_of is distinct from old.duplicate_of then
        raise exception 'activity % is marked a duplicate: only a coordinator of its chapter may clear or change duplicate_of', old.id
          using errcode = 'insufficient_privilege';
      end if;
    end if;
  end if;
  if (tg_op = 'INSERT' or new.recorded_at is distinct from old.recorded_at)
     and new.recorded_at > pg_catalog.now() + interval '1 day'
     and pg_catalog.isfinite(new.recorded_at) then  -- infinity is the check constraint's to name
    raise exception 'recorded_at % is more than one day ahead: an activity is registered after it took place', new.recorded_at
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.guard_activity_write() FROM PUBLIC;

-- The role behind the request: the one PostgREST or SET ROLE switched to, else the login.
CREATE FUNCTION private.requesting_role() RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select case pg_catalog.current_setting('role') when 'none' then session_user::text
              else pg_catalog.current_setting('role') end
$$;

REVOKE ALL ON FUNCTION private.requesting_role() FROM PUBLIC;

-- TRUNCATE fires no row trigger: it empties the counters with the table.
CREATE FUNCTION private.reset_coordinator_chapter_counts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  delete from private.coordinator_chapter_counts;
  return null;
end
$$;

REVOKE ALL ON FUNCTION private.reset_coordinator_chapter_counts() FROM PUBLIC;

-- A membership records who granted it, whatever the client sends.
CREATE FUNCTION private.stamp_membership_grant() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if pg_catalog.row_security_active('public.peer_mentor_chapters'::regclass) then
    new.granted_by := auth.uid();
    new.granted_at := pg_catalog.now();
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.stamp_membership_grant() FROM PUBLIC;

-- updated_at follows every update, so "changed since the last refresh" needs no guessing.
CREATE FUNCTION private.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.touch_updated_at() FROM PUBLIC;

-- duplicate_of names an original of the same mentor and chapter. Definer's rights, to read
-- the original whatever row security shows the caller, and one message whether it is missing
-- or elsewhere, so the refusal never tells which ids exist. It runs before the foreign key's
-- own check for the same reason. The original is locked (FOR SHARE) so it cannot become a
-- duplicate itself before this transaction ends.
CREATE FUNCTION private.validate_duplicate_of() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  original_chapter_id uuid;
  original_mentor_id uuid;
  original_duplicate_of uuid;
  moved boolean := tg_op = 'UPDATE'
                   and (new.chapter_id <> old.chapter_id or new.peer_mentor_id <> old.peer_mentor_id);
begin
  if new.duplicate_of is not null
     and (tg_op = 'INSERT' or moved or new.duplicate_of is distinct from old.duplicate_of) then
    select o.chapter_id, o.peer_mentor_id, o.duplicate_of
      into original_chapter_id, original_mentor_id, original_duplicate_of
    from public.activities o
    where o.id = new.duplicate_of
    for share;
    if not found or original_chapter_id <> new.chapter_id or original_mentor_id <> new.peer_mentor_id then
      raise exception 'duplicate_of must name an activity of the same peer mentor and chapter'
        using errcode = 'check_violation';
    end if;
    if original_duplicate_of is not null then
      raise exception 'duplicate_of must name an original registration: activity % is itself a duplicate', new.duplicate_of
        using errcode = 'check_violation';
    end if;
  end if;
  if tg_op = 'UPDATE' and (moved or (new.duplicate_of is not null and old.duplicate_of is null))
     and exists (select from public.activities d where d.duplicate_of = old.id) then
    raise exception 'activity % has duplicates: it cannot become a duplicate or move to another mentor or chapter while they point at it', old.id
      using errcode = 'check_violation',
            hint = 'Clear or move its duplicates first.';
  end if;
  return new;
end
$$;

REVOKE ALL ON FUNCTION private.validate_duplicate_of() FROM PUBLIC;

CREATE INDEX activities_activity_type ON public.activities USING btree (activity_type);

CREATE INDEX activities_duplicate_flag ON public.activities USING btree ((((duplicate_of IS NOT NULL))::integer));

CREATE TRIGGER activities_guard_write BEFORE INSERT OR UPDATE ON public.activities FOR EACH ROW EXECUTE FUNCTION private.guard_activity_write();

CREATE TRIGGER activities_touch_updated_at BEFORE UPDATE ON public.activities FOR EACH ROW EXECUTE FUNCTION private.touch_updated_at();

CREATE TRIGGER activities_validate_duplicate_insert BEFORE INSERT ON public.activities FOR EACH ROW WHEN ((new.duplicate_of IS NOT NULL)) EXECUTE FUNCTION private.validate_duplicate_of();

CREATE TRIGGER activities_validate_duplicate_update BEFORE UPDATE OF duplicate_of, chapter_id, peer_mentor_id ON public.activities FOR EACH ROW EXECUTE FUNCTION private.validate_duplicate_of();

CREATE TRIGGER activity_types_touch_updated_at BEFORE UPDATE ON public.activity_types FOR EACH ROW EXECUTE FUNCTION private.touch_updated_at();

CREATE TRIGGER coordinator_chapter_counts_truncate AFTER TRUNCATE ON public.coordinator_chapters FOR EACH STATEMENT EXECUTE FUNCTION private.reset_coordinator_chapter_counts();

CREATE TRIGGER coordinator_chapter_limit AFTER INSERT OR DELETE OR UPDATE ON public.coordinator_chapters FOR EACH ROW EXECUTE FUNCTION private.enforce_coordinator_chapter_limit();

CREATE TRIGGER peer_mentor_chapters_stamp_grant BEFORE INSERT ON public.peer_mentor_chapters FOR EACH ROW EXECUTE FUNCTION private.stamp_membership_grant();
