#!/usr/bin/env python3
"""Post-deploy smoke test: what a person does first, against a deployed stack's `ApiUrl` (or
`make dev`). Signup, then create, get, toggle and delete a task, then delete the account; any
surprise (a status, a body, a field) fails it with a non-zero exit and says what it saw.

Usage: scripts/smoke.py API_URL  (standard library only; leaves nothing behind)
"""
import json
import sys
import uuid

import jsonhttp

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:9000"
PASSWORD = f"smoke test {uuid.uuid4().hex[:12]} passphrase"


def call(method, path, body=None, token=None):
    status, _, parsed = jsonhttp.call(BASE + path, method, body, token, timeout=30)
    return status, parsed


def expect(step, answer, status, check=lambda body: True):
    got, body = answer
    if got != status or not check(body):
        raise SystemExit(f"smoke: {step}: expected {status}, got {got}: {json.dumps(body)[:300]}")
    print(f"smoke: {step}: {got}")
    return body


def main():
    email = f"smoke-{uuid.uuid4().hex}@example.com"
    session = expect("signup", call("POST", "/api/auth/signup", {"email": email, "password": PASSWORD}), 201,
                     lambda b: b["user"]["email"] == email and b["token_type"] == "Bearer")
    token = session["token"]
    task = expect("create", call("POST", "/api/tasks", {"title": "smoke test"}, token), 201,
                  lambda b: b["title"] == "smoke test" and b["completed"] is False)
    path = f"/api/tasks/{task['id']}"
    expect("get", call("GET", path, token=token), 200, lambda b: b["id"] == task["id"])
    expect("toggle", call("PATCH", f"{path}/complete", token=token), 200, lambda b: b["completed"] is True)
    expect("delete", call("DELETE", path, token=token), 204)
    expect("get, deleted", call("GET", path, token=token), 404, lambda b: b["error"]["code"] == "not_found")
    expect("delete the account", call("DELETE", "/api/auth/me", {"password": PASSWORD}, token), 204)
    expect("me, after", call("GET", "/api/auth/me", token=token), 401)
    print(f"smoke: {BASE} passed")


if __name__ == "__main__":
    main()
