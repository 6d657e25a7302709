"""Taking over the FastAPI-era database, as a team moving onto this backend does it.

The old tables are made by SQLModel itself (the version the Phase II backends pinned), Better
Auth's by Better Auth on PostgreSQL (its own migrations, the jwt() plugin), in one database owned
by a role that is not a superuser (as Neon's owner is not). Then `migrate` runs as that owner, and
the old tasks are checked over HTTP through `make dev`, as the frontends see them.

Run by `make test` with the takeover venv's Python (.local/takeover): TAKEOVER_ADMIN_URL is a
superuser's URL on the cluster (to make the role and the databases), MIGRATE the built binary.
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from sqlalchemy import BigInteger, Column, DateTime, Identity, text
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, create_engine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import inbox  # noqa: E402 (the scripts' inbox reader and client, found through the path just set)
import jsonhttp  # noqa: E402

ADMIN_URL = os.environ["TAKEOVER_ADMIN_URL"]
MIGRATE = os.environ.get("MIGRATE", str(ROOT / "target/debug/migrate"))
API_PORT = int(os.environ.get("TAKEOVER_API_PORT", "9126"))
BETTER_AUTH_PORT = int(os.environ.get("TAKEOVER_BETTER_AUTH_PORT", "9127"))
API = f"http://127.0.0.1:{API_PORT}"
# The mail inbox (MailDev) make dev starts beside an API on another port than 9000.
INBOX = f"http://127.0.0.1:{API_PORT + 20000}"
BETTER_AUTH = f"http://127.0.0.1:{BETTER_AUTH_PORT}"
LOGS = ROOT / "target"
OWNER = "takeover_owner"
PASSWORD = "correct horse battery staple"
JWT_SECRET = "takeover-tests-secret-of-at-least-32-bytes"


# --- the old backend's models, each shape on a registry of its own -----------------------------


class PhaseTwo(SQLModel, registry=registry()):
    pass


class PhaseTwoTask(PhaseTwo, table=True):
    """The Phase II backends' model: the user id a Better Auth id (or an email)."""

    __tablename__ = "tasks"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: str = Field(index=True)
    title: str = Field(max_length=200)
    description: Optional[str] = Field(default=None, max_length=1000)
    completed: bool = Field(default=False)
    created_at: datetime = Field(default_factory=datetime.utcnow)
    updated_at: datetime = Field(default_factory=datetime.utcnow)


class Variant(SQLModel, registry=registry()):
    pass


class VariantTask(Variant, table=True):
    """Another backend's: bigint identity ids, `str = ""` descriptions, aware times, two
    columns of its own."""

    __tablename__ = "tasks"
    id: Optional[int] = Field(
        default=None, sa_column=Column(BigInteger, Identity(), primary_key=True)
    )
    user_id: str = Field(index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000, sa_column_kwargs={"server_default": ""})
    completed: bool = Field(default=False)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    priority: str = Field(default="normal", sa_column_kwargs={"server_default": "normal"})
    due: Optional[date] = None


class SingleUser(SQLModel, registry=registry()):
    pass


class Task(SingleUser, table=True):
    """The brief's starting point: one user, no user_id, SQLModel's default table name `task`."""

    id: Optional[int] = Field(default=None, primary_key=True)
    title: str
    description: Optional[str] = None
    completed: bool = False
    created_at: datetime = Field(default_factory=datetime.utcnow)
    updated_at: datetime = Field(default_factory=datetime.utcnow)


class Unknown(SQLModel, registry=registry()):
    pass


class StatusTask(Unknown, table=True):
    """Not a shape the take-over knows: a status text where `completed` should be a boolean."""

    __tablename__ = "tasks"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: str
    title: str
    completed: str = "todo"


# --- databases, processes, HTTP ---------------------------------------------------------------


def database_url(name: str, role: str) -> str:
    parts = urlsplit(ADMIN_URL)
    netloc = f"{role}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, ""))


def admin(sql: str, *args, database: Optional[str] = None):
    url = database_url(database, urlsplit(ADMIN_URL).username) if database else ADMIN_URL
    # Not `with conn`, which opens a transaction even in autocommit (and DROP DATABASE cannot).
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def new_database(name: str) -> str:
    """A new database owned by a LOGIN CREATEDB CREATEROLE role that is no superuser: Neon's
    owner. Returns the owner's URL."""
    admin(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') THEN "
        f"CREATE ROLE {OWNER} LOGIN CREATEDB CREATEROLE NOSUPERUSER NOBYPASSRLS; END IF; END $$"
    )
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}" OWNER {OWNER}')
    return database_url(name, OWNER)


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def old_database(name: str, base, rows) -> str:
    """A new database with `base`'s tables made by SQLModel and `rows` in them, as the old
    backend left it. Returns the owner's URL."""
    url = new_database(name)
    engine = create_engine(sqlalchemy_url(url))
    base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()
    return url


def make(url: str, *args: str) -> subprocess.CompletedProcess:
    """`make ARGS` with MIGRATION_DATABASE_URL=url, as an operator runs the short forms."""
    return subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MIGRATION_DATABASE_URL": url}, timeout=300)


def query(url: str, sql: str, *args):
    """One statement in a transaction of its own, committed."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def migrate(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MIGRATE, *args],
        env={**os.environ, "MIGRATION_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def documented_sql(heading: str) -> str:
    """The first SQL block under `heading` in docs/database.md: the runbook, run as written."""
    doc = (ROOT / "docs" / "database.md").read_text()
    section = doc[doc.index(f"### {heading}\n"):]
    start = section.index("```sql\n") + len("```sql\n")
    return section[start:section.index("```", start)]


def run_sql(url: str, sql: str):
    """A script with its own BEGIN and COMMIT, as psql would run it."""
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def fingerprint(url: str, table: str) -> str:
    """Every row of `table`, hashed: equal before and after means untouched."""
    [(digest,)] = query(
        url, f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t'
    )
    return digest


def call(method: str, url: str, body=None, token=None, cookie=None, origin=None):
    headers = {name: value for name, value in (("Cookie", cookie), ("Origin", origin)) if value}
    status, answer_headers, parsed = jsonhttp.call(url, method, body, token, headers, timeout=120)
    return status, parsed, answer_headers


def wait_for(url: str, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def start(args, log_name: str, **env) -> subprocess.Popen:
    """A server in a process group of its own (make dev's cargo lambda watch has children)."""
    with open(LOGS / log_name, "w") as log:
        return subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


class BetterAuthUser:
    """Signs up on the Better Auth server as its client does; `token()` is a fresh JWT."""

    def __init__(self, name: str):
        self.email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        status, body, headers = call(
            "POST", f"{BETTER_AUTH}/api/auth/sign-up/email",
            {"email": self.email, "password": PASSWORD, "name": name}, origin=BETTER_AUTH,
        )
        assert status == 200, body
        self.id = body["user"]["id"]
        self.cookie = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie"))

    def token(self) -> str:
        status, body, _ = call("GET", f"{BETTER_AUTH}/api/auth/token", cookie=self.cookie)
        assert status == 200, body
        return body["token"]


def at(year, month, day, hour, minute, second, micro=0) -> datetime:
    """A naive UTC time, as `datetime.utcnow` gave the old backend."""
    return datetime(year, month, day, hour, minute, second, micro)


def parse(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))


# --- the database of a Phase II app on Better Auth, taken over and served by make dev -----------


class ABetterAuthAppsDatabase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url = new_database("takeover_app")
        cls.better_auth = start(
            ["node", "tests/better-auth/server.mjs"], "takeover-better-auth.log",
            BETTER_AUTH_PORT=str(BETTER_AUTH_PORT), BETTER_AUTH_URL=BETTER_AUTH,
            BETTER_AUTH_DATABASE_URL=cls.url.split("?")[0],
            BETTER_AUTH_SECRET="takeover-tests-better-auth-secret-0123456789",
        )
        cls.addClassCleanup(stop, cls.better_auth)
        wait_for(f"{BETTER_AUTH}/api/auth/jwks", 60)
        cls.ada, cls.bo, cls.cy, cls.eve = (BetterAuthUser(n) for n in ("Ada", "Bo", "Cy", "Eve"))
        # An apostrophe, as in many real addresses: it reaches `make adopt` unharmed.
        cls.dee_email = f"dee.o'neil-{uuid.uuid4().hex[:8]}@example.com"

        PhaseTwo.metadata.create_all(create_engine(sqlalchemy_url(cls.url)))
        rows = [
            PhaseTwoTask(id=1, user_id=cls.ada.id, title="Buy milk", description="2 litres",
                         completed=False, created_at=at(2026, 1, 15, 9, 30, 12, 345678),
                         updated_at=at(2026, 1, 16, 8, 0, 0)),
            PhaseTwoTask(id=2, user_id=cls.bo.id, title="Call mum", completed=True,
                         created_at=at(2026, 2, 1, 18, 5, 0), updated_at=at(2026, 2, 2, 7, 45, 30, 5)),
            PhaseTwoTask(id=5, user_id=cls.ada.id, title="Pay rent", description="",
                         completed=True, created_at=at(2026, 3, 1, 0, 0, 0),
                         updated_at=at(2026, 3, 2, 0, 0, 0)),
            PhaseTwoTask(id=7, user_id=cls.cy.id, title="Water plants", completed=False),
            PhaseTwoTask(id=8, user_id=cls.cy.id, title="Fix bike", description="back brake",
                         completed=False),
            PhaseTwoTask(id=9, user_id=cls.dee_email, title="Email-keyed one", completed=False),
            PhaseTwoTask(id=11, user_id=cls.dee_email, title="Email-keyed two", completed=True),
            PhaseTwoTask(id=12, user_id=cls.eve.id, title="Never seen here", completed=False),
        ]
        with Session(create_engine(sqlalchemy_url(cls.url))) as session:
            session.add_all(rows)
            session.commit()
        cls.old = {
            row[0]: row
            for row in query(cls.url, "SELECT id, user_id, title, description, completed, "
                             "created_at, updated_at FROM tasks")
        }
        cls.better_auth_tables = ("user", "session", "account", "verification", "jwks")
        cls.before = {t: fingerprint(cls.url, t) for t in cls.better_auth_tables}

        cls.migrated = migrate(cls.url)
        assert cls.migrated.returncode == 0, cls.migrated.stderr
        cls.api = start(
            ["scripts/dev.sh"], "takeover-watch.log",
            DATABASE_URL=database_url("takeover_app", "todo_fn"),
            MIGRATION_DATABASE_URL=cls.url, BETTER_AUTH_URL=BETTER_AUTH, PORT=str(API_PORT),
            JWT_SECRET=JWT_SECRET, BCRYPT_COST="4", WATCH_ARGS="--ignore-changes",
        )
        cls.addClassCleanup(stop, cls.api)
        wait_for(f"{API}/api/auth/me")

    def tasks_of(self, token: str):
        status, body, _ = call("GET", f"{API}/api/tasks?sort=created&order=asc&limit=100", token=token)
        self.assertEqual(status, 200, body)
        return body

    def assert_old(self, task: dict):
        """A task as the API shows it is the old row: same id, text, state and (UTC) times."""
        _, _, title, description, completed, created, updated = self.old[task["id"]]
        self.assertEqual(task["title"], title)
        self.assertEqual(task["description"], description or None)
        self.assertEqual(task["completed"], completed)
        self.assertEqual(parse(task["created_at"]), created.replace(tzinfo=timezone.utc))
        self.assertEqual(parse(task["updated_at"]), updated.replace(tzinfo=timezone.utc))

    def test_migrate_says_it_took_the_old_table_over_with_every_row(self):
        self.assertIn('took over the old table "tasks": 8 tasks kept', self.migrated.stderr)
        # As a superuser: the owner itself sees only the rows awaiting an owner (FORCE RLS).
        [(count,)] = admin("SELECT count(*) FROM tasks", database="takeover_app")
        self.assertEqual(count, 8)

    def test_each_better_auth_user_sees_exactly_their_old_tasks_in_their_first_answer(self):
        ada = self.tasks_of(self.ada.token())
        self.assertEqual([t["id"] for t in ada], [1, 5])
        for task in ada:
            self.assert_old(task)
            self.assertEqual(task["user_id"], self.ada.id)
        self.assertEqual(ada[1]["description"], None, "an empty description is none, as stored")
        bo = self.tasks_of(self.bo.token())
        self.assertEqual([t["id"] for t in bo], [2])
        self.assert_old(bo[0])
        status, body, _ = call("GET", f"{API}/api/{self.bo.id}/tasks/1", token=self.bo.token())
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        listed = migrate(self.url, "legacy")
        self.assertNotIn(self.ada.id, listed.stdout, "Ada's rows were adopted at her first request")
        self.assertNotIn(self.bo.id, listed.stdout)

    def test_old_tasks_toggle_and_edit_and_new_ones_continue_after_the_highest_id(self):
        token = self.cy.token()
        self.assertEqual([t["id"] for t in self.tasks_of(token)], [7, 8])
        status, body, _ = call("PATCH", f"{API}/api/{self.cy.id}/tasks/7/complete", token=token)
        self.assertEqual((status, body["completed"]), (200, True))
        status, body, _ = call("PUT", f"{API}/api/tasks/8", {"title": "Fix bike brake"}, token=token)
        self.assertEqual((status, body["title"], body["description"]), (200, "Fix bike brake", "back brake"))
        status, body, _ = call("POST", f"{API}/api/tasks", {"title": "New here"}, token=token)
        self.assertEqual(status, 201, body)
        self.assertGreater(body["id"], 12)
        self.assertEqual([t["id"] for t in self.tasks_of(token)], [7, 8, body["id"]])

    def test_better_auth_tables_are_untouched_and_its_server_keeps_working(self):
        after = {t: fingerprint(self.url, t) for t in self.better_auth_tables}
        self.assertEqual(after, self.before)
        newcomer = BetterAuthUser("Newcomer")
        self.assertEqual(self.tasks_of(newcomer.token()), [])
        status, body, _ = call(
            "POST", f"{BETTER_AUTH}/api/auth/sign-in/email",
            {"email": self.ada.email, "password": PASSWORD}, origin=BETTER_AUTH,
        )
        self.assertEqual(status, 200, body)

    def test_an_email_keyed_owner_gets_nothing_by_signing_up_and_everything_once_adopted(self):
        status, session, _ = call("POST", f"{API}/api/auth/signup",
                                  {"email": self.dee_email, "password": PASSWORD})
        self.assertEqual(status, 201, session)
        self.assertEqual(self.tasks_of(session["token"]), [], "an unverified signup is not the owner")

        listed = migrate(self.url, "legacy")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(f"2\t{self.dee_email}\n", listed.stdout)
        self.assertIn(f"1\t{self.eve.id}\t(a Better Auth user's id", listed.stdout)

        adopt = ("adopt", f"FROM={self.dee_email}", f"TO={self.dee_email.upper()}")
        refused = make(self.url, *adopt)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("has not verified it", refused.stderr)
        self.assertEqual(self.tasks_of(session["token"]), [], "nothing moved")
        # Dee opens the link mailed at signup: the address is hers.
        _, token = inbox.mail(INBOX, self.dee_email, "Confirm your email address")
        status, body, _ = call("POST", f"{API}/api/auth/email/verify", {"token": token})
        self.assertEqual(status, 204, body)
        adopted = make(self.url, *adopt)
        self.assertEqual(adopted.returncode, 0, adopted.stderr)
        self.assertIn("moved 2 tasks", adopted.stdout)
        dee = self.tasks_of(session["token"])
        self.assertEqual([t["id"] for t in dee], [9, 11])
        for task in dee:
            self.assert_old(task)

        again = migrate(self.url, "adopt", "--from", self.dee_email, "--to", self.dee_email)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("no task awaits an owner", again.stderr)
        nobody = migrate(self.url, "adopt", "--from", self.eve.id, "--to", "nobody@example.com")
        self.assertNotEqual(nobody.returncode, 0)
        self.assertIn("no account has the email nobody@example.com", nobody.stderr)
        self.assertEqual(len(self.tasks_of(session["token"])), 2)

    def test_rows_awaiting_an_owner_are_invisible_to_the_functions_role(self):
        fn = database_url("takeover_app", "todo_fn")
        [(seen,)] = query(fn, "SELECT count(*) FROM tasks WHERE id = 12")
        self.assertEqual(seen, 0)
        [(waiting,)] = admin("SELECT count(*) FROM tasks WHERE id = 12 AND user_id IS NULL",
                             database="takeover_app")
        self.assertEqual(waiting, 1, "Eve's row is there, awaiting her first request")


# --- other shapes, refusals and locks: migrate alone -------------------------------------------


class OtherShapes(unittest.TestCase):
    def test_identity_bigint_str_default_aware_times_and_extra_columns_are_all_kept(self):
        when = datetime(2026, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        url = old_database("takeover_variant", Variant, [
            VariantTask(user_id="u1", title="Plain", created_at=when, updated_at=when),
            VariantTask(user_id="u1", title="Urgent", description="now", priority="high",
                        due=date(2026, 5, 1), created_at=when, updated_at=when),
        ])
        result = migrate(url)
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = query(url, "SELECT id, legacy_owner, title, description, created_at, priority, due "
                          "FROM tasks ORDER BY id")
        self.assertEqual([r[:4] for r in rows], [(1, "u1", "Plain", None), (2, "u1", "Urgent", "now")])
        self.assertEqual(rows[0][4], when)
        self.assertEqual([r[5:] for r in rows], [("normal", None), ("high", date(2026, 5, 1))])
        [(next_id,)] = query(url, "SELECT nextval(pg_get_serial_sequence('tasks', 'id'))")
        self.assertEqual(next_id, 3)

    def test_a_single_user_table_named_task_is_taken_over_and_adopted_with_make_adopt(self):
        url = old_database("takeover_single", SingleUser,
                           [Task(title="Mine"), Task(title="Also mine", completed=True)])
        result = migrate(url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIsNone(query(url, "SELECT to_regclass('task')")[0][0])
        listed = make(url, "legacy")
        self.assertEqual(listed.stdout, "2\t(unowned)\n", listed.stderr)
        query(url, "INSERT INTO users (email, password_hash) VALUES ('solo@example.com', '-')")
        refused = make(url, "adopt", "UNOWNED=1", "TO=solo@example.com")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("has not verified it", refused.stderr)
        self.assertEqual(make(url, "legacy").stdout, "2\t(unowned)\n", "nothing moved")
        adopted = make(url, "adopt", "UNOWNED=1", "TO=solo@example.com", "UNVERIFIED=1")
        self.assertEqual(adopted.returncode, 0, adopted.stderr)
        [(owned,)] = admin("SELECT count(*) FROM tasks t JOIN users u ON u.id = t.user_id "
                           "WHERE u.email = 'solo@example.com'", database="takeover_single")
        self.assertEqual(owned, 2)

    def test_a_task_table_left_beside_ours_is_reported_and_moved_in_as_the_documentation_says(self):
        # What a migrate from before the take-over left: ours, and the single-user table beside it.
        url = new_database("takeover_stranded")
        self.assertEqual(migrate(url).returncode, 0)
        engine = create_engine(sqlalchemy_url(url))
        SingleUser.metadata.create_all(engine)
        with Session(engine) as session:
            session.add_all([Task(title="Left behind", description=""),
                             Task(title="Also left", description="still here", completed=True)])
            session.commit()

        again = migrate(url)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn('warning: table "task" (2 rows) is beside ours and was not taken over',
                      again.stderr)
        self.assertIn('table "task" (2 rows)', make(url, "legacy").stderr)

        run_sql(url, documented_sql("A task table left beside ours"))
        listed = make(url, "legacy")
        self.assertEqual(listed.stdout, "2\t(unowned)\n", listed.stderr)
        self.assertNotIn("warning", listed.stderr)
        query(url, "INSERT INTO users (email, password_hash, email_verified) "
                   "VALUES ('left@example.com', '-', true)")
        adopted = make(url, "adopt", "UNOWNED=1", "TO=left@example.com")
        self.assertEqual(adopted.returncode, 0, adopted.stderr)
        rows = admin("SELECT t.title, t.description, t.completed FROM tasks t "
                     "JOIN users u ON u.id = t.user_id WHERE u.email = 'left@example.com' ORDER BY t.id",
                     database="takeover_stranded")
        self.assertEqual(rows, [("Left behind", None, False), ("Also left", "still here", True)])

    def test_an_unrecognised_table_is_refused_by_name_and_column_and_left_untouched(self):
        url = old_database("takeover_unknown", Unknown,
                           [StatusTask(user_id="u1", title="Status", completed="done")])
        schema = "SELECT table_name, column_name, data_type FROM information_schema.columns " \
                 "WHERE table_schema = 'public' ORDER BY 1, 2"
        before = (query(url, schema), fingerprint(url, "tasks"))
        result = migrate(url)
        self.assertEqual(result.returncode, 1)
        self.assertIn('cannot take over table "tasks": column "completed" is character varying, '
                      "where boolean was expected", result.stderr)
        self.assertIn("ALTER TABLE", result.stderr, "it says what to do")
        self.assertEqual((query(url, schema), fingerprint(url, "tasks")), before)
        self.assertIsNone(query(url, "SELECT to_regclass('refinery_schema_history')")[0][0])

    def test_a_migration_blocked_by_a_held_lock_fails_within_the_timeout_and_succeeds_when_run_again(self):
        url = old_database("takeover_locked", PhaseTwo, [PhaseTwoTask(user_id="u1", title="Held")])
        # The old backend, mid-request: a transaction that has read the table and not ended.
        holder = psycopg2.connect(url)
        holder.cursor().execute("SELECT * FROM tasks")
        started = time.monotonic()
        blocked = migrate(url, MIGRATION_LOCK_TIMEOUT_MS="1000")
        elapsed = time.monotonic() - started
        self.assertEqual(blocked.returncode, 75, blocked.stderr)
        self.assertLess(elapsed, 10)
        self.assertIn("lock timeout", blocked.stderr)
        self.assertIn("Run it again", blocked.stderr)
        self.assertIsNone(query(url, "SELECT to_regclass('users')")[0][0], "nothing was changed")
        holder.rollback()
        holder.close()
        again = migrate(url, MIGRATION_LOCK_TIMEOUT_MS="1000")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn('took over the old table "tasks": 1 tasks kept', again.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
