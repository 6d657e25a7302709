-- Sessions with rotating refresh tokens, signin/signup throttling, and row-level security on
-- tasks for the functions' own, non-owning role.

-- One row per signin. An access token names its session (`sid`); every authenticated statement
-- checks it is live, so ending it refuses the access token at once, not at its expiry.
CREATE TABLE sessions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Absolute lifetime: refreshing never extends a session past it.
    expires_at timestamptz NOT NULL,
    -- Set by signout, or when a spent refresh token is presented again (a stolen token).
    ended_at   timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Refresh tokens are opaque random strings; only their SHA-256 is stored. Each is single use:
-- refreshing spends it and issues the next one of the same session (its "family").
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Failed signins per account and per source address, and signups per address. `key` is
-- "signin-account:<email>", "signin-ip:<address>" or "signup-ip:<address>". `hits` counts
-- within a window that restarts after a quiet period; past a free allowance each hit blocks the
-- key for a doubling, capped delay.
CREATE TABLE throttles (
    key           text PRIMARY KEY,
    hits          integer NOT NULL CHECK (hits > 0),
    last_hit_at   timestamptz NOT NULL,
    blocked_until timestamptz
);

-- The privileges the functions need, on a role that owns nothing. Deployments log in as a role
-- that is a member of it (README, "Database roles"). Creating it needs CREATEROLE, which the
-- owner role of a Neon project and a local superuser have.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_app') THEN
        CREATE ROLE todo_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO todo_app;
GRANT SELECT, INSERT, UPDATE ON users TO todo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks TO todo_app;
GRANT SELECT, INSERT, UPDATE ON sessions TO todo_app;
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO todo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON throttles TO todo_app;

-- Tasks are visible only to the user the transaction is bound to: the functions set
-- `app.user_id` (transaction-local) from a live session before every task statement. Unbound,
-- a query sees no task and can write none, even one that forgot its `user_id` filter. FORCE
-- applies the policy to the table owner too; only superusers and BYPASSRLS roles skip it.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tasks_of_bound_user ON tasks
    USING (user_id = nullif(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('app.user_id', true), '')::uuid);
