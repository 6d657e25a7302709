#!/usr/bin/env python3
"""Signing-key rotation through `make dev`, as the runbook does it (docs/operations.md, "Rotating the JWT
secret"): the API runs under secret A; then under B with A as JWT_PREVIOUS_SECRET, where A's
tokens still work and new ones are signed with B; then under B alone, where A's are refused.

Usage: scripts/rotation.py PORT (standard library only; DATABASE_URL and friends from the
environment, as make test sets them). Each stage is a `make dev` of its own.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import uuid

import jsonhttp

PORT = int(sys.argv.pop(1)) if len(sys.argv) > 1 else 9129
BASE = f"http://127.0.0.1:{PORT}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_A = "rotation-test-secret-A-at-least-32-bytes"
SECRET_B = "rotation-test-secret-B-at-least-32-bytes"
PASSWORD = "correct horse battery"


def request(method, path, body=None, token=None):
    status, _, parsed = jsonhttp.call(BASE + path, method, body, token, timeout=120)
    return status, parsed


def kid(token):
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


class Api:
    """`make dev` with these secrets, for the length of a `with` block."""

    def __init__(self, **secrets):
        inherited = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "JWT_PREVIOUS_SECRET")}
        self.env = {**inherited, "PORT": str(PORT), "BCRYPT_COST": "4",
                    "WATCH_ARGS": "--ignore-changes", **secrets}

    def __enter__(self):
        self.log = open(os.path.join(ROOT, "target", "rotation-watch.log"), "a")
        self.process = subprocess.Popen([os.path.join(ROOT, "scripts", "dev.sh")], cwd=ROOT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if request("GET", "/api/auth/me")[0] == 401:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError("make dev did not come up")

    def __exit__(self, *_):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class KeyRotation(unittest.TestCase):
    def test_a_rotation_signs_nobody_out_and_removing_the_previous_secret_ends_its_tokens(self):
        with Api(JWT_SECRET=SECRET_A):
            status, before = request("POST", "/api/auth/signup",
                                     {"email": f"rotation-{uuid.uuid4().hex}@example.com", "password": PASSWORD})
            self.assertEqual(status, 201, before)

        with Api(JWT_SECRET=SECRET_B, JWT_PREVIOUS_SECRET=SECRET_A):
            self.assertEqual(request("GET", "/api/auth/me", token=before["token"])[0], 200)
            status, after = request("POST", "/api/auth/refresh", {"refresh_token": before["refresh_token"]})
            self.assertEqual(status, 200, after)
            self.assertNotEqual(kid(after["token"]), kid(before["token"]), "signed with the new secret")
            self.assertEqual(request("GET", "/api/auth/me", token=after["token"])[0], 200)

        with Api(JWT_SECRET=SECRET_B):
            status, body = request("GET", "/api/auth/me", token=before["token"])
            self.assertEqual((status, body["error"]["code"]), (401, "unauthorized"))
            self.assertEqual(request("GET", "/api/auth/me", token=after["token"])[0], 200)
            # The session itself never ended: its refresh token goes on under the new secret.
            status, _ = request("POST", "/api/auth/refresh", {"refresh_token": after["refresh_token"]})
            self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
