-- Accounts people can recover: verified addresses, single-use links sent by email (password
-- reset, address verification and change), and per-recipient mail quotas that outlive cold starts.

-- Nothing proved an address before this migration: every existing account starts unverified
-- (REQUIRE_VERIFIED_EMAIL is off by default, so nothing changes for them until it is turned on).
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- A link's token: 256 random bits, only its SHA-256 stored. `email` is the address the link was
-- sent to, which using it proves: the account's own for `reset` and `verify`, the new one for
-- `change`. Used tokens are kept until they expire (a second use is told apart from a wrong
-- token in the logs), then pruned.
CREATE TABLE email_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('reset', 'verify', 'change')),
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_user_id_idx ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires_at_idx ON email_tokens (expires_at);

-- How much mail one recipient (an address, or an account: keyed like the throttle's keys, HMACs,
-- never the address in clear) got lately: at most one a minute and a few an hour.
CREATE TABLE mail_quotas (
    key           text PRIMARY KEY,
    hour_started  timestamptz NOT NULL,
    sent_in_hour  integer NOT NULL,
    last_sent_at  timestamptz NOT NULL
);
CREATE INDEX mail_quotas_last_sent_at_idx ON mail_quotas (last_sent_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON email_tokens, mail_quotas TO todo_app;
