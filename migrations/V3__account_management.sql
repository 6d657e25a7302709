-- Accounts people manage themselves: sessions show when they were last used, and an account can
-- be deleted with everything it owns.

-- When the session last served a request: set at signin, at every refresh, and by the statement
-- that binds a request to its session when it is more than a few minutes old (so reading it
-- costs no round trip and most requests write nothing).
ALTER TABLE sessions ADD COLUMN last_used_at timestamptz;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET DEFAULT now(), ALTER COLUMN last_used_at SET NOT NULL;

-- Deleting an account removes its row; ON DELETE CASCADE removes its tasks, sessions and their
-- refresh tokens in the same statement.
GRANT DELETE ON users TO todo_app;
