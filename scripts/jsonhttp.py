"""One JSON request over HTTP, as a frontend makes it: the client the scripts and the Python tests
share (standard library only, so the deploy workflow's smoke test needs nothing installed)."""

import json
import urllib.error
import urllib.request


def call(url, method="GET", body=None, token=None, headers=None, raw=None, timeout=60):
    """Sends `body` as JSON (or `raw` bytes as they are) with a bearer `token` and `headers`.
    Returns (status, response headers, parsed JSON or None): an error status is an answer to
    check, not an exception."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, text = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, text = error.code, error.headers, error.read()
    return status, answer_headers, (json.loads(text) if text else None)
