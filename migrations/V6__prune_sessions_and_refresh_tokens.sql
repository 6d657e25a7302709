-- Ended and expired sessions, and expired refresh tokens, are deleted a few at a time by the
-- statements that open sessions and rotate tokens (shared/src/sessions.rs), so the tables hold
-- what is live, not every signin ever made. These indexes find the oldest such rows at once.
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

GRANT DELETE ON sessions, refresh_tokens TO todo_app;
