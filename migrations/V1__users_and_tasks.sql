-- Accounts and their tasks. Length rules mirror the API contract, so a row the API would refuse
-- cannot exist even if written by hand.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-cased by the API; the unique index below makes the rule hold in the database too.
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name          text CHECK (char_length(name) BETWEEN 1 AND 100),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Case-insensitive uniqueness; signin looks accounts up through it. The API maps a violation of
-- this index (by name) to 409 email_taken.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    -- NULL means no description; the API stores "" as NULL.
    description text CHECK (char_length(description) BETWEEN 1 AND 1000),
    completed   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One index per list sort. Each leads with user_id, so a user's page is a short range scan
-- however many tasks other users have, and ends with id, the keyset tie-breaker, so
-- "(sort_key, id) < (cursor_key, cursor_id)" resumes a page without OFFSET. Descending lists
-- scan the same indexes backwards.
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_title_idx   ON tasks (user_id, title, id);
