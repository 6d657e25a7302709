-- Tasks taken over from the FastAPI-era table (shared/src/migrate/takeover.rs) keep their rows
-- but have no account yet: `user_id` is NULL and `legacy_owner` holds the old table's owner key
-- (a Better Auth user id, an email, a home-made id; NULL for a single-user table). Row-level
-- security shows such a row to no caller: `user_id = <bound user>` is never true for NULL. A
-- row gets its owner from `migrate adopt` (the operator's decision), or, when its key is a
-- Better Auth user's id, the moment that user is first seen (the trigger below).

ALTER TABLE tasks
    ALTER COLUMN user_id DROP NOT NULL,
    ADD COLUMN legacy_owner text,
    -- An owner, or an old key awaiting one; never both.
    ADD CONSTRAINT tasks_owner_or_legacy CHECK (user_id IS NULL OR legacy_owner IS NULL);

-- What `migrate legacy` lists and adoption looks up; empty on a database that took nothing over.
CREATE INDEX tasks_awaiting_owner_idx ON tasks (legacy_owner) WHERE user_id IS NULL;

-- The role that migrates (the owner) sees the rows awaiting an owner, and may write them only
-- unowned or to the user the transaction is bound to: `migrate legacy`, `migrate adopt` and the
-- trigger below run as it. The functions' role is not this one: nothing changes for them.
CREATE POLICY tasks_awaiting_owner ON tasks TO CURRENT_USER
    USING (user_id IS NULL)
    WITH CHECK (user_id IS NULL OR user_id = nullif(current_setting('app.user_id', true), '')::uuid);

-- A Better Auth user's old tasks are theirs from their first request: the statement that
-- creates their row on first sight fires this, within the same transaction, before the request's
-- own statement runs. It runs as the owner (SECURITY DEFINER) because the functions' role cannot
-- see rows awaiting an owner, and binds itself to the new user so the policy above lets it write.
CREATE FUNCTION adopt_legacy_tasks_of_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    bound text := current_setting('app.user_id', true);
BEGIN
    PERFORM set_config('app.user_id', NEW.id::text, true);
    UPDATE tasks SET user_id = NEW.id, legacy_owner = NULL
        WHERE user_id IS NULL AND legacy_owner = NEW.subject;
    PERFORM set_config('app.user_id', coalesce(bound, ''), true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION adopt_legacy_tasks_of_new_user() FROM PUBLIC;

CREATE TRIGGER users_adopt_legacy_tasks AFTER INSERT ON users
    FOR EACH ROW WHEN (NEW.subject IS NOT NULL)
    EXECUTE FUNCTION adopt_legacy_tasks_of_new_user();
