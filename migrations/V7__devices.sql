-- Devices that signed in successfully (OWASP's "device cookies"): a signin that presents one of
-- its account's device tokens is exempt from the account-wide throttle, so an attacker who knows
-- only the email, failing from ever new addresses, cannot keep the owner out. Only the token's
-- SHA-256 is stored, as for refresh tokens.
CREATE TABLE devices (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX devices_user_id_idx ON devices (user_id);
CREATE INDEX devices_expires_at_idx ON devices (expires_at);

-- UPDATE only for the row locks the prune takes (`FOR UPDATE SKIP LOCKED`); nothing updates a device.
GRANT SELECT, INSERT, UPDATE, DELETE ON devices TO todo_app;
