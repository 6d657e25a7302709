#!/usr/bin/env python3
"""End-to-end test: drives the API over HTTP, as the frontend does, through `cargo lambda watch`.

Usage: scripts/e2e.py http://127.0.0.1:9000  (standard library only)
  E2E_SECRETS_FILE=path  writes every password and token it used, for the log scan
  E2E_DB_CTL=scripts/local-db.sh  also restarts the database under the running functions
  E2E_INBOX=http://127.0.0.1:1080  the web inbox (MailDev) of the SMTP server make dev sends to
  E2E_DATABASE_URL=postgres://...   the owner's connection, for the tests that move time forward
  E2E_REQUIRE_VERIFIED_EMAIL=1  the make dev runs with REQUIRE_VERIFIED_EMAIL=true (run the
    RequiredVerification class alone: scripts/e2e.py URL RequiredVerification)
"""
import atexit
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import inbox
import jsonhttp

BASE = sys.argv.pop(1) if len(sys.argv) > 1 else "http://127.0.0.1:9000"
PASSWORD = "correct horse battery"
# Not a phrase the logs use ("wrong password" is a logged reason), so finding it means a leak.
WRONG_PASSWORD = "not-the-e2e-password"
# Every secret this run handled: none may appear in the functions' logs (make test greps).
SECRETS = {PASSWORD, WRONG_PASSWORD}


@atexit.register
def _write_secrets():
    if os.environ.get("E2E_SECRETS_FILE"):
        with open(os.environ["E2E_SECRETS_FILE"], "w") as out:
            out.write("\n".join(sorted(SECRETS)) + "\n")


def request(method, path, body=None, token=None, headers=None, raw=None):
    """Returns (status, headers, parsed JSON or None)."""
    status, resp_headers, parsed = jsonhttp.call(BASE + path, method, body, token, headers, raw)
    if isinstance(parsed, dict):
        SECRETS.update(parsed[k] for k in ("token", "refresh_token") if isinstance(parsed.get(k), str))
    return status, resp_headers, parsed


def wait_until_up(deadline_s=300):
    """The first request to each function waits for `cargo run`; poll until all answer."""
    start = time.time()
    for path, method in [("/api/auth/me", "GET"), ("/api/auth/signup", "POST"), ("/api/auth/signin", "POST"),
                         ("/api/auth/refresh", "POST"), ("/api/auth/signout", "POST"),
                         ("/api/tasks", "GET"), ("/api/tasks", "POST"), ("/api/tasks/1", "GET"),
                         ("/api/tasks/1", "PUT"), ("/api/tasks/1", "DELETE"), ("/api/tasks/1/complete", "PATCH"),
                         ("/api/auth/password", "POST"), ("/api/auth/sessions", "GET"),
                         ("/api/auth/sessions", "DELETE"), ("/api/auth/me", "DELETE"), ("/", "GET"),
                         ("/api/auth/password/forgot", "POST"), ("/api/auth/password/reset", "POST"),
                         ("/api/auth/email/verify", "POST"), ("/api/auth/email/verify/resend", "POST"),
                         ("/api/auth/email", "POST")]:
        while True:
            try:
                status, _, body = request(method, path)
                if body and "error" in body:
                    break
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                pass
            if time.time() - start > deadline_s:
                raise SystemExit(f"e2e: {method} {path} did not answer within {deadline_s}s")
            time.sleep(0.5)


def signup(name=None, full=False):
    email = f"e2e-{uuid.uuid4().hex}@example.com"
    status, _, body = request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": name})
    assert status == 201, body
    return body if full else (email, body["user"]["id"], body["token"])


class FastApiEraFrontend:
    """The task client of a Next.js frontend written for the FastAPI backend this one replaces:
    `Content-Type: application/json` on every request, GET and DELETE included; the user's id in
    every path; `detail` read from errors; `json()` never called on a 204."""

    def __init__(self, email, password):
        self.email, self.password = email, password

    def fetch(self, method, path, body=None, token=None):
        req = urllib.request.Request(BASE + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if token or getattr(self, "token", None):
            req.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, None if resp.status == 204 else json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())["detail"]

    # The one page the frontend adds.
    def sign_up(self):
        status, session = self.fetch("POST", "/api/auth/signup", {"email": self.email, "password": self.password})
        assert status == 201, session
        self.token, self.user_id = session["token"], session["user"]["id"]

    # The five task features, unchanged but for the user id in the path.
    def get_tasks(self):
        return self.fetch("GET", f"/api/{self.user_id}/tasks")

    def add_task(self, title, description=None):
        return self.fetch("POST", f"/api/{self.user_id}/tasks", {"title": title, "description": description})

    def update_task(self, task_id, **fields):
        return self.fetch("PUT", f"/api/{self.user_id}/tasks/{task_id}", fields)

    def delete_task(self, task_id):
        return self.fetch("DELETE", f"/api/{self.user_id}/tasks/{task_id}")

    def toggle_complete(self, task_id):
        return self.fetch("PATCH", f"/api/{self.user_id}/tasks/{task_id}/complete")


class Api(unittest.TestCase):
    def assertError(self, result, status, code):
        got, headers, body = result
        self.assertEqual(got, status, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"])
        self.assertEqual(body["detail"], body["error"]["message"], "FastAPI's place for the message")
        self.assertEqual(headers["Content-Type"], "application/json")
        return headers, body

    def test_a_new_user_signs_up_signs_in_and_restores_the_session(self):
        email, user_id, token = signup("Ada")
        status, _, body = request("POST", "/api/auth/signin", {"email": email.upper(), "password": PASSWORD})
        self.assertEqual(status, 200)
        self.assertEqual(body["user"]["id"], user_id)
        self.assertEqual(body["token_type"], "Bearer")
        status, _, me = request("GET", "/api/auth/me", token=body["token"])
        self.assertEqual((status, me["user"]["name"]), (200, "Ada"))
        self.assertNotIn("password_hash", json.dumps(me))

    def test_auth_errors_follow_the_contract(self):
        email, _, _ = signup()
        self.assertError(request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD}), 409, "email_taken")
        headers, _ = self.assertError(request("POST", "/api/auth/signin", {"email": email, "password": WRONG_PASSWORD}), 401, "invalid_credentials")
        self.assertEqual(headers["WWW-Authenticate"], "Bearer")
        self.assertError(request("POST", "/api/auth/signin", {"email": "nobody-" + email, "password": PASSWORD}), 401, "invalid_credentials")
        _, body = self.assertError(request("POST", "/api/auth/signup", {"email": "nope", "password": "short"}), 422, "validation_failed")
        self.assertEqual(sorted(body["error"]["details"]), ["email", "password"])
        headers, _ = self.assertError(request("GET", "/api/auth/me"), 401, "unauthorized")
        self.assertEqual(headers["WWW-Authenticate"], "Bearer")
        headers, _ = self.assertError(request("GET", "/api/auth/me", token="not.a.token"), 401, "unauthorized")
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer error="invalid_token"')

    def test_sessions_refresh_rotate_and_end_at_signout(self):
        session = signup(full=True)
        status, _, renewed = request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]})
        self.assertEqual(status, 200, renewed)
        self.assertNotEqual(renewed["refresh_token"], session["refresh_token"])
        status, _, _ = request("GET", "/api/tasks", token=renewed["token"])
        self.assertEqual(status, 200)
        status, _, body = request("POST", "/api/auth/signout", token=renewed["token"])
        self.assertEqual((status, body), (204, None))
        for token in (renewed["token"], session["token"]):
            headers, _ = self.assertError(request("GET", "/api/tasks", token=token), 401, "unauthorized")
            self.assertEqual(headers["WWW-Authenticate"], 'Bearer error="invalid_token"')
        self.assertError(request("POST", "/api/auth/refresh", {"refresh_token": renewed["refresh_token"]}), 401, "unauthorized")

    def test_a_refresh_retried_moments_later_gets_the_same_successor(self):
        session = signup(full=True)
        _, _, renewed = request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]})
        status, _, retried = request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]})
        self.assertEqual(status, 200, retried)
        self.assertEqual(retried["refresh_token"], renewed["refresh_token"])
        for token in (renewed["token"], retried["token"]):
            self.assertEqual(request("GET", "/api/auth/me", token=token)[0], 200)

    def test_an_older_spent_refresh_token_ends_the_session(self):
        session = signup(full=True)
        _, _, first = request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]})
        _, _, second = request("POST", "/api/auth/refresh", {"refresh_token": first["refresh_token"]})
        self.assertError(request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]}), 401, "unauthorized")
        self.assertError(request("GET", "/api/auth/me", token=second["token"]), 401, "unauthorized")
        self.assertError(request("POST", "/api/auth/refresh", {"refresh_token": second["refresh_token"]}), 401, "unauthorized")

    def test_repeated_wrong_passwords_are_throttled_with_retry_after(self):
        email, _, _ = signup()
        for _ in range(5):
            self.assertError(request("POST", "/api/auth/signin", {"email": email, "password": WRONG_PASSWORD}), 401, "invalid_credentials")
        headers, _ = self.assertError(request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD}), 429, "rate_limited")
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)

    @unittest.skipUnless(os.environ.get("E2E_DB_CTL"), "needs a database this run may restart")
    def test_zz_every_function_reconnects_after_a_database_restart(self):
        session = signup(full=True)
        token = session["token"]
        _, _, task = request("POST", "/api/tasks", {"title": "survives"}, token)
        path = f"/api/tasks/{task['id']}"
        calls = [("GET", "/api/auth/me", None), ("GET", "/api/tasks", None), ("GET", path, None),
                 ("PUT", path, {"title": "still here"}), ("PATCH", path + "/complete", None)]
        for method, p, body in calls:  # every function holds a connection now
            self.assertLess(request(method, p, body, token)[0], 300)
        ctl = os.environ["E2E_DB_CTL"]
        subprocess.run([ctl, "stop"], check=True)
        try:
            started = time.time()
            self.assertError(request("GET", "/api/tasks", token=token), 503, "unavailable")
            self.assertLess(time.time() - started, 8, "503 within seconds while the database is down")
        finally:
            subprocess.run([ctl, "start"], check=True, stdout=subprocess.DEVNULL)
        # Each function has seen the server end its connection, and reconnects: no request fails.
        for method, p, body in calls:
            status, _, answer = request(method, p, body, token)
            self.assertLess(status, 300, f"{method} {p}: {answer}")
        status, _, _ = request("POST", "/api/auth/refresh", {"refresh_token": session["refresh_token"]})
        self.assertEqual(status, 200)

    def test_the_five_task_features_work_on_both_path_forms(self):
        _, user_id, token = signup()
        for base in ["/api/tasks", f"/api/{user_id}/tasks"]:
            status, _, task = request("POST", base, {"title": "Buy milk", "description": "2 litres"}, token)
            self.assertEqual(status, 201, task)
            tid = task["id"]
            status, _, listed = request("GET", base, token=token)
            self.assertEqual(status, 200)
            self.assertIn(tid, [t["id"] for t in listed])
            status, _, got = request("GET", f"{base}/{tid}", token=token)
            self.assertEqual((status, got), (200, task))
            status, _, updated = request("PUT", f"{base}/{tid}", {"title": "Buy oat milk", "description": None}, token)
            self.assertEqual((status, updated["title"], updated["description"]), (200, "Buy oat milk", None))
            status, _, patched = request("PATCH", f"{base}/{tid}", {"description": "1 litre"}, token)
            self.assertEqual((status, patched["description"]), (200, "1 litre"))
            status, _, toggled = request("PATCH", f"{base}/{tid}/complete", token=token)
            self.assertEqual((status, toggled["completed"]), (200, True))
            status, _, toggled = request("PATCH", f"{base}/{tid}/complete", {"completed": True}, token)
            self.assertEqual((status, toggled["completed"]), (200, True))
            status, _, body = request("DELETE", f"{base}/{tid}", token=token)
            self.assertEqual((status, body), (204, None))
            self.assertError(request("GET", f"{base}/{tid}", token=token), 404, "not_found")

    def test_a_fastapi_era_frontend_keeps_its_five_task_features(self):
        app = FastApiEraFrontend(f"e2e-{uuid.uuid4().hex}@example.com", PASSWORD)
        app.sign_up()
        self.assertEqual(app.get_tasks(), (200, []))
        created = []
        for i in range(55):  # more than a page of 50 would have shown
            status, task = app.add_task(f"task {i}", "details" if i == 0 else None)
            self.assertEqual(status, 201, task)
            created.append(task["id"])
        status, tasks = app.get_tasks()
        self.assertEqual(status, 200)
        self.assertIsInstance(tasks, list, "tasks.map must work")
        self.assertEqual(sorted(t["id"] for t in tasks), sorted(created))
        first = created[0]
        status, task = app.update_task(first, title="renamed")
        self.assertEqual((status, task["title"], task["description"]), (200, "renamed", "details"))
        status, task = app.update_task(first, completed=True)
        self.assertEqual((status, task["title"], task["completed"]), (200, "renamed", True))
        status, task = app.toggle_complete(first)
        self.assertEqual((status, task["completed"]), (200, False))
        self.assertEqual(app.delete_task(first), (204, None))
        self.assertEqual(len(app.get_tasks()[1]), 54)
        # What the frontend shows when something is refused: `detail`, a sentence.
        self.assertEqual(app.add_task(""), (422, "title must be 1 to 200 characters"))
        self.assertEqual(app.delete_task(first), (404, "not found"))
        app.token = "expired-or-garbage"
        self.assertEqual(app.get_tasks(), (401, "the access token is invalid or has expired"))

    def test_people_manage_their_sessions_password_and_account(self):
        NEW = "a different passphrase"
        SECRETS.add(NEW)
        email, _, laptop = signup()
        _, _, phone = request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD})
        _, _, tablet = request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD})
        status, _, listed = request("GET", "/api/auth/sessions", token=laptop)
        self.assertEqual((status, len(listed), [s["current"] for s in listed].count(True)), (200, 3, 1))
        # One device signed out from another, then "sign out my other devices".
        _, _, from_tablet = request("GET", "/api/auth/sessions", token=tablet["token"])
        tablets = next(s["id"] for s in from_tablet if s["current"])
        status, _, body = request("DELETE", f"/api/auth/sessions/{tablets}", token=laptop)
        self.assertEqual((status, body), (204, None))
        self.assertError(request("GET", "/api/auth/me", token=tablet["token"]), 401, "unauthorized")
        self.assertError(request("DELETE", f"/api/auth/sessions/{tablets}", token=laptop), 404, "not_found")
        status, _, body = request("DELETE", "/api/auth/sessions", token=laptop)
        self.assertEqual((status, body), (204, None))
        self.assertError(request("GET", "/api/auth/me", token=phone["token"]), 401, "unauthorized")
        self.assertError(request("POST", "/api/auth/refresh", {"refresh_token": phone["refresh_token"]}), 401, "unauthorized")
        # A new password: the old one no longer signs in; the caller's session goes on.
        self.assertError(request("POST", "/api/auth/password", {"current_password": WRONG_PASSWORD, "new_password": NEW},
                                 laptop), 401, "invalid_credentials")
        _, body = self.assertError(request("POST", "/api/auth/password", {"current_password": PASSWORD, "new_password": PASSWORD},
                                           laptop), 422, "validation_failed")
        self.assertIn("new_password", body["error"]["details"])
        status, _, body = request("POST", "/api/auth/password", {"current_password": PASSWORD, "new_password": NEW}, laptop)
        self.assertEqual((status, body), (204, None))
        self.assertError(request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD}), 401, "invalid_credentials")
        self.assertEqual(request("GET", "/api/auth/me", token=laptop)[0], 200)
        # Deleting the account: everything goes, the token is refused, the email is free again.
        request("POST", "/api/tasks", {"title": "goes with the account"}, laptop)
        self.assertError(request("DELETE", "/api/auth/me", {"password": PASSWORD}, laptop), 401, "invalid_credentials")
        status, _, body = request("DELETE", "/api/auth/me", {"password": NEW}, laptop)
        self.assertEqual((status, body), (204, None))
        self.assertError(request("GET", "/api/tasks", token=laptop), 401, "unauthorized")
        status, _, _ = request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD})
        self.assertEqual(status, 201)

    def test_another_users_tasks_are_invisible_and_untouchable(self):
        _, owner_id, owner = signup()
        _, _, intruder = signup()
        _, _, task = request("POST", "/api/tasks", {"title": "Private"}, owner)
        tid = task["id"]
        self.assertError(request("GET", f"/api/tasks/{tid}", token=intruder), 404, "not_found")
        self.assertError(request("PUT", f"/api/tasks/{tid}", {"title": "Mine now"}, intruder), 404, "not_found")
        self.assertError(request("PATCH", f"/api/tasks/{tid}/complete", token=intruder), 404, "not_found")
        self.assertError(request("DELETE", f"/api/tasks/{tid}", token=intruder), 404, "not_found")
        self.assertError(request("GET", f"/api/{owner_id}/tasks", token=intruder), 403, "forbidden")
        self.assertError(request("DELETE", f"/api/{owner_id}/tasks/{tid}", token=intruder), 403, "forbidden")
        _, _, listed = request("GET", "/api/tasks", token=intruder)
        self.assertEqual(listed, [])
        status, _, still = request("GET", f"/api/tasks/{tid}", token=owner)
        self.assertEqual((status, still), (200, task))

    def test_bad_input_gets_the_contract_errors(self):
        _, _, token = signup()
        self.assertError(request("POST", "/api/tasks", token=token, raw=b"{oops", headers={"Content-Type": "application/json"}), 400, "invalid_json")
        self.assertError(request("POST", "/api/tasks", token=token, raw=b"[1,2]", headers={"Content-Type": "application/json"}), 400, "invalid_json")
        self.assertError(request("POST", "/api/tasks", token=token, raw=b"title=x", headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        self.assertError(request("POST", "/api/tasks", {"title": "x", "pad": "x" * 17000}, token), 413, "payload_too_large")
        self.assertError(request("POST", "/api/tasks", {"title": " "}, token), 422, "validation_failed")
        self.assertError(request("GET", "/api/tasks?limit=0", token=token), 422, "validation_failed")
        self.assertError(request("GET", "/api/tasks?cursor=bogus", token=token), 422, "validation_failed")
        self.assertError(request("GET", "/api/tasks/not-a-number", token=token), 404, "not_found")
        self.assertError(request("PUT", "/api/tasks/1", {}, token), 422, "validation_failed")

    def test_pages_follow_the_link_header_to_the_end(self):
        _, user_id, token = signup()
        for i in range(5):
            request("POST", "/api/tasks", {"title": f"task {i}", "completed": i % 2 == 0}, token)
        seen, path, pages = [], f"/api/{user_id}/tasks?limit=2&sort=title&order=asc", 0
        while path:
            status, headers, page = request("GET", path, token=token)
            self.assertEqual(status, 200, page)
            seen += [t["title"] for t in page]
            pages += 1
            link = headers.get("Link")
            # RFC 8288: `<URL>; rel="next"`, the URL relative to the API's origin.
            path = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
            if path:
                self.assertTrue(path.startswith(f"/api/{user_id}/tasks?"), path)
        self.assertEqual((seen, pages), ([f"task {i}" for i in range(5)], 3))
        _, _, pending = request("GET", "/api/tasks?status=pending", token=token)
        self.assertEqual(sorted(t["title"] for t in pending), ["task 1", "task 3"])

    def test_every_unrouted_request_gets_the_contracts_json(self):
        for method, path, allow in [("DELETE", "/api/tasks", "GET, POST"), ("POST", "/api/tasks/1", "GET, PUT, PATCH, DELETE"),
                                    ("GET", "/api/auth/signin", "POST"), ("TRACE", "/api/some-user/tasks", "GET, POST"),
                                    ("GET", "/", None), ("GET", "/docs", None), ("POST", "/api/auth/nothing", None),
                                    ("GET", "/api/tasks/1/complete/now", None), ("PROPFIND", "/docs/v2", None)]:
            with self.subTest(f"{method} {path}"):
                if allow:
                    headers, _ = self.assertError(request(method, path), 405, "method_not_allowed")
                    self.assertEqual(headers["Allow"], allow)
                else:
                    _, body = self.assertError(request(method, path), 404, "not_found")
                    self.assertNotIn("bench", json.dumps(body), "never the emulator's list of binaries")

    def test_concurrent_toggles_are_never_lost(self):
        _, _, token = signup()
        _, _, task = request("POST", "/api/tasks", {"title": "Race"}, token)
        statuses = []

        def flip():
            for _ in range(5):
                statuses.append(request("PATCH", f"/api/tasks/{task['id']}/complete", token=token)[0])

        threads = [threading.Thread(target=flip) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [200] * 20)
        _, _, after = request("GET", f"/api/tasks/{task['id']}", token=token)
        self.assertFalse(after["completed"], "20 flips leave it as it was")


INBOX = os.environ.get("E2E_INBOX", "http://127.0.0.1:1080")


def mails_to(address):
    """The messages MailDev holds for `address`, oldest first."""
    return inbox.mails_to(INBOX, address)


def mail(address, subject, deadline_s=20):
    """Waits for a message to `address` with `subject`, and returns it with its link's token."""
    message, token = inbox.mail(INBOX, address, subject, deadline_s)
    if token:
        SECRETS.add(token)
    return message, token


def sql(statement):
    """Runs `statement` as the database's owner: for what only time would do (expiry, limits)."""
    url = os.environ["E2E_DATABASE_URL"]
    subprocess.run(["psql", "-q", "-X", url, "-c", statement], check=True, stdout=subprocess.DEVNULL)


def a_minute_passes(user_id):
    """The per-minute mail limit of this account's recipients, as if a minute had passed: the
    account's key, and its address's (an HMAC this test cannot name, written just now)."""
    sql("UPDATE mail_quotas SET last_sent_at = last_sent_at - interval '61 seconds' "
        f"WHERE key LIKE '%-account:{user_id}' OR last_sent_at > now() - interval '3 seconds'")


def quiet(address, subject, seconds=1.5):
    """No (further) mail `subject` to `address` arrives for a while: its count now."""
    time.sleep(seconds)
    return len([m for m in mails_to(address) if m["subject"] == subject])


class AccountRecovery(unittest.TestCase):
    """Through make dev and its real SMTP server (MailDev), as a frontend and a person do."""

    def assertLinkRefused(self, path, body):
        status, _, answer = request("POST", path, body)
        self.assertEqual((status, answer["error"]["code"]), (422, "validation_failed"), answer)
        self.assertIn("token", answer["error"]["details"])

    @unittest.skipUnless(os.environ.get("E2E_DATABASE_URL"), "needs the owner's connection")
    def test_one_reset_mail_a_minute_and_a_newer_link_replaces_the_older(self):
        email, user_id, _ = signup()
        for _ in range(3):
            self.assertEqual(request("POST", "/api/auth/password/forgot", {"email": email})[0], 202)
        _, first = mail(email, "Reset your password")
        self.assertEqual(quiet(email, "Reset your password"), 1, "one a minute")
        a_minute_passes(user_id)
        request("POST", "/api/auth/password/forgot", {"email": email})
        deadline = time.time() + 20
        while len([m for m in mails_to(email) if m["subject"] == "Reset your password"]) < 2:
            self.assertLess(time.time(), deadline, "the second link never came")
            time.sleep(0.2)
        _, second = mail(email, "Reset your password")
        self.assertNotEqual(first, second)
        self.assertLinkRefused("/api/auth/password/reset", {"token": first, "new_password": "replaced link passphrase"})
        self.assertEqual(request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD})[0], 200)
        SECRETS.add("second link passphrase")
        status, _, _ = request("POST", "/api/auth/password/reset", {"token": second, "new_password": "second link passphrase"})
        self.assertEqual(status, 204)

    @unittest.skipUnless(os.environ.get("E2E_DATABASE_URL"), "needs the owner's connection")
    def test_an_expired_reset_link_is_refused_and_changes_nothing(self):
        email, user_id, token = signup()
        request("POST", "/api/auth/password/forgot", {"email": email})
        _, link_token = mail(email, "Reset your password")
        sql(f"UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE user_id = '{user_id}'")
        self.assertLinkRefused("/api/auth/password/reset", {"token": link_token, "new_password": "too late passphrase"})
        self.assertEqual(request("GET", "/api/auth/me", token=token)[0], 200)
        self.assertEqual(request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD})[0], 200)

    @unittest.skipUnless(os.environ.get("E2E_DATABASE_URL"), "needs the owner's connection")
    def test_resend_mails_a_new_verification_link_within_the_limits(self):
        email, user_id, token = signup()
        _, first = mail(email, "Confirm your email address")
        status, _, body = request("POST", "/api/auth/email/verify/resend", token=token)
        self.assertEqual(status, 202, body)
        self.assertEqual(quiet(email, "Confirm your email address"), 1, "within the minute: nothing more")
        a_minute_passes(user_id)
        request("POST", "/api/auth/email/verify/resend", token=token)
        deadline = time.time() + 20
        while len([m for m in mails_to(email) if m["subject"] == "Confirm your email address"]) < 2:
            self.assertLess(time.time(), deadline, "the second link never came")
            time.sleep(0.2)
        _, second = mail(email, "Confirm your email address")
        self.assertLinkRefused("/api/auth/email/verify", {"token": first})
        self.assertEqual(request("POST", "/api/auth/email/verify", {"token": second})[0], 204)
        self.assertEqual(request("POST", "/api/auth/email/verify/resend", token=token)[0], 202)
        self.assertEqual(quiet(email, "Confirm your email address"), 2, "verified: nothing more")

    def test_an_address_taken_meanwhile_is_refused_when_the_change_link_is_used(self):
        email, _, token = signup()
        wanted = f"e2e-wanted-{uuid.uuid4().hex}@example.com"
        request("POST", "/api/auth/email", {"new_email": wanted, "password": PASSWORD}, token)
        _, link_token = mail(wanted, "Confirm your new email address")
        status, _, _ = request("POST", "/api/auth/signup", {"email": wanted, "password": PASSWORD})
        self.assertEqual(status, 201)
        status, _, body = request("POST", "/api/auth/email/verify", {"token": link_token})
        self.assertEqual((status, body["error"]["code"]), (409, "email_taken"))
        self.assertEqual(request("GET", "/api/auth/me", token=token)[2]["user"]["email"], email)

    def test_the_owner_of_an_address_takes_back_an_account_someone_registered_with_it(self):
        # The squatter signs up first with the owner's address, and stays signed in.
        victim, _, squatter_token = signup()
        request("POST", "/api/auth/password/forgot", {"email": victim})
        _, link_token = mail(victim, "Reset your password")
        SECRETS.add("the owner's own passphrase")
        request("POST", "/api/auth/password/reset", {"token": link_token, "new_password": "the owner's own passphrase"})
        self.assertEqual(request("GET", "/api/auth/me", token=squatter_token)[0], 401)
        self.assertEqual(request("POST", "/api/auth/signin", {"email": victim, "password": PASSWORD})[0], 401)
        status, _, session = request("POST", "/api/auth/signin", {"email": victim, "password": "the owner's own passphrase"})
        self.assertEqual((status, session["user"]["email_verified"]), (200, True))

    def test_a_forgotten_password_is_reset_by_mail_and_every_old_session_ends(self):
        email, _, token = signup()
        status, _, body = request("POST", "/api/auth/password/forgot", {"email": email})
        self.assertEqual((status, body["detail"].startswith("if an account")), (202, True))
        message, link_token = mail(email, "Reset your password")
        self.assertIn(f"/reset-password?token={link_token}", message["text"])
        self.assertIn(link_token, message["html"])
        self.assertTrue(message["headers"].get("message-id"), message["headers"])
        new_password = "an entirely new passphrase"
        SECRETS.add(new_password)
        status, _, _ = request("POST", "/api/auth/password/reset", {"token": link_token, "new_password": new_password})
        self.assertEqual(status, 204)
        self.assertEqual(request("GET", "/api/auth/me", token=token)[0], 401)
        self.assertEqual(request("POST", "/api/auth/signin", {"email": email, "password": PASSWORD})[0], 401)
        status, _, session = request("POST", "/api/auth/signin", {"email": email, "password": new_password})
        self.assertEqual((status, session["user"]["email_verified"]), (200, True))
        mail(email, "Your password was changed")
        status, _, body = request("POST", "/api/auth/password/reset", {"token": link_token, "new_password": new_password})
        self.assertEqual((status, body["error"]["code"]), (422, "validation_failed"))

    def test_an_unknown_address_gets_the_same_answer_and_no_mail(self):
        unknown = f"nobody-{uuid.uuid4().hex}@example.com"
        email, _, _ = signup()
        answers = [request("POST", "/api/auth/password/forgot", {"email": e}) for e in (email, unknown)]
        self.assertEqual([(s, b) for s, _, b in answers][0], [(s, b) for s, _, b in answers][1])
        mail(email, "Reset your password")
        self.assertEqual(mails_to(unknown), [])

    def test_signup_mails_a_link_that_verifies_the_address(self):
        email, _, token = signup()
        _, link_token = mail(email, "Confirm your email address")
        self.assertEqual(request("GET", "/api/auth/me", token=token)[2]["user"]["email_verified"], False)
        self.assertEqual(request("POST", "/api/auth/email/verify", {"token": link_token})[0], 204)
        self.assertEqual(request("GET", "/api/auth/me", token=token)[2]["user"]["email_verified"], True)

    def test_an_address_change_waits_for_the_link_to_the_new_address(self):
        email, _, token = signup()
        new = f"e2e-new-{uuid.uuid4().hex}@example.com"
        status, _, _ = request("POST", "/api/auth/email", {"new_email": new, "password": PASSWORD}, token)
        self.assertEqual(status, 202)
        notice, _ = mail(email, "Your email address is about to change")
        self.assertIn(new, notice["text"])
        _, link_token = mail(new, "Confirm your new email address")
        self.assertEqual(request("GET", "/api/auth/me", token=token)[2]["user"]["email"], email)
        self.assertEqual(request("POST", "/api/auth/email/verify", {"token": link_token})[0], 204)
        user = request("GET", "/api/auth/me", token=token)[2]["user"]
        self.assertEqual((user["email"], user["email_verified"]), (new, True))


@unittest.skipUnless(os.environ.get("E2E_REQUIRE_VERIFIED_EMAIL"), "needs make dev with REQUIRE_VERIFIED_EMAIL=true")
class RequiredVerification(unittest.TestCase):
    """Against a make dev with REQUIRE_VERIFIED_EMAIL=true (make test starts one for this)."""

    def test_an_unverified_account_gets_403_until_its_link_is_used(self):
        email, _, token = signup()
        status, _, body = request("POST", "/api/tasks", {"title": "too soon"}, token)
        self.assertEqual((status, body["error"]["code"]), (403, "email_unverified"), body)
        self.assertEqual(request("GET", "/api/tasks", token=token)[0], 403)
        self.assertEqual(request("GET", "/api/auth/me", token=token)[0], 200)
        self.assertEqual(request("POST", "/api/auth/email/verify/resend", token=token)[0], 202)
        _, link_token = mail(email, "Confirm your email address")
        self.assertEqual(request("POST", "/api/auth/email/verify", {"token": link_token})[0], 204)
        self.assertEqual(request("POST", "/api/tasks", {"title": "now"}, token)[0], 201)
        self.assertEqual(request("POST", "/api/auth/signout", token=token)[0], 204)


if __name__ == "__main__":
    wait_until_up()
    unittest.main(verbosity=2)
