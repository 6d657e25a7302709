-- Users whom a Better Auth server signs in. They get a local row (tasks reference it, row-level
-- security binds to it) the first time one of their tokens is seen, keyed by the token's issuer
-- and subject. They have no password here, so signin cannot reach them, and their email (from
-- the token, when it has one) takes no address from people who sign up with a password.

ALTER TABLE users
    ADD COLUMN issuer  text CHECK (char_length(issuer) BETWEEN 1 AND 2048),
    ADD COLUMN subject text CHECK (char_length(subject) BETWEEN 1 AND 128),
    -- Many NULL pairs (our own users), at most one row per Better Auth user. Creating on first
    -- sight relies on it: concurrent first requests insert ON CONFLICT DO NOTHING.
    ADD CONSTRAINT users_issuer_subject_key UNIQUE (issuer, subject),
    ALTER COLUMN password_hash DROP NOT NULL,
    ALTER COLUMN email DROP NOT NULL,
    -- Either our own account (an email to sign in with and a password) or a Better Auth one.
    ADD CONSTRAINT users_one_kind CHECK (
        (issuer IS NULL AND subject IS NULL AND email IS NOT NULL AND password_hash IS NOT NULL)
        OR (issuer IS NOT NULL AND subject IS NOT NULL AND password_hash IS NULL)
    );

-- The address is unique among the accounts signin looks up, and only those. Same name: signup
-- maps a violation of it to 409 email_taken.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE password_hash IS NOT NULL;
