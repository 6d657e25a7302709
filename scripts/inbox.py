"""MailDev's inbox (the SMTP server make dev starts), read as a person reads their mail: the one
reader the end-to-end script and the Python tests share (standard library only)."""

import re
import time

import jsonhttp


def mails_to(inbox, address):
    """The messages the inbox at `inbox` holds for `address`, oldest first."""
    _, _, mails = jsonhttp.call(f"{inbox}/api/email", timeout=10)
    return [m for m in mails or [] if any(to["address"] == address for to in m["to"])]


def mail(inbox, address, subject, deadline_s=20):
    """Waits for a message to `address` with `subject`; returns the newest and its link's token
    (None when it has no link)."""
    start = time.time()
    while time.time() - start < deadline_s:
        found = [m for m in mails_to(inbox, address) if m["subject"] == subject]
        if found:
            message = found[-1]
            tokens = re.findall(r"\?token=([A-Za-z0-9_-]+)", message["text"])
            return message, (tokens[0] if tokens else None)
        time.sleep(0.2)
    raise AssertionError(
        f"no mail {subject!r} to {address} within {deadline_s}s: {mails_to(inbox, address)}")
