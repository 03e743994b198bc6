"""Issue 12, item 5: the key echoed by the service appears in no output, and what the service
says reaches a report cut to a sane length, on one line, with no terminal escapes.

A hostile server echoes the key in every form a gateway might (raw, ``Bearer``, URL-encoded,
base64 of the key and of ``key:``), inside a ``status_msg`` and inside an HTTP 400 body, padded
to 5 MB and laced with ANSI and OSC escapes. The real CLI runs as a child process with every
report format; stdout, stderr and every file in the output folder (reports and the ledger
included) are searched for each form.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from urllib.parse import quote

import pytest
from conftest import API_KEY, write_jsonl
from hostile_server import HostileServer, Reply, json_reply, native
from test_hostile_replies import run_child

from ttsbatch.minimax import scrub
from ttsbatch.minimax.config import Secret

FORMS = {
    "raw": API_KEY,
    "url-encoded": quote(API_KEY + "/+", safe="")[: -len(quote("/+", safe=""))],
    "base64": base64.b64encode(API_KEY.encode()).decode(),
    "base64 of key:": base64.b64encode(API_KEY.encode() + b":").decode(),
    "urlsafe base64 unpadded": base64.urlsafe_b64encode(API_KEY.encode()).decode().rstrip("="),
    "hex": API_KEY.encode().hex(),
}
ESCAPES = "\x1b[2J\x1b[31m\x1b]0;pwned\x07\r\b"


def echo(padding: int = 5_000_000) -> str:
    """A message that echoes the key in every form, escapes included, then 5 MB of filler."""
    forms = " | ".join(f"{name}={value}" for name, value in FORMS.items())
    return f"{ESCAPES}invalid request with Authorization: Bearer {API_KEY} ({forms}) " + "x" * padding


REPLIES = {
    # MiniMax's own way: HTTP 200, a line-level error code, the message in status_msg
    "status_msg": json_reply(native(None, status_code=2013, status_msg=echo())),
    # a gateway's way: HTTP 400 with the request (and so the key) echoed in its body
    "http-400-body": Reply(json.dumps({"error": {"message": echo(), "type": "bad_request"}}).encode(), status=400),
    "http-400-html": Reply(f"<html><body><pre>{echo(200_000)}</pre></body></html>".encode(), status=400, content_type="text/html"),
}  # fmt: skip


def assert_key_nowhere(*texts: str, folder) -> None:
    """No form of the key in any byte of any file; no escape in any text (the ledger's rows
    are dumped as SQL for that: its pages are binary)."""
    blobs = [("output", t.encode(), True) for t in texts]
    for f in folder.rglob("*"):
        if f.is_file():
            blobs.append((str(f), f.read_bytes(), f.suffix not in (".sqlite", ".sqlite-wal", ".sqlite-shm")))
    with sqlite3.connect(folder / ".ttsbatch" / "ledger.sqlite") as db:
        blobs.append(("the ledger's rows", "\n".join(db.iterdump()).encode(), True))
    for where, blob, is_text in blobs:
        for name, form in FORMS.items():
            assert form.encode() not in blob, f"the key ({name}) leaked into {where}"
        if is_text:
            assert b"\x1b" not in blob, f"an escape sequence reached {where}"


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REPLIES))
def test_the_key_echoed_by_the_service_appears_in_no_output(case, tmp_path):
    manifest = write_jsonl(
        tmp_path / "lines.jsonl", [{"id": "a", "text": "Hello there.", "voice": "Wise_Woman"}]
    )
    hostile = HostileServer([REPLIES[case]]).start()
    out = tmp_path / "out"
    try:
        got = run_child(
            manifest, out, hostile.base_url, "--max-retries", "0",
            "--report-format", "junit", "--report-format", "markdown",
        )  # fmt: skip
    finally:
        hostile.stop()
    assert got["rc"] == 1, got["stderr"]
    assert {p.name for p in out.iterdir()} >= {
        "report.json",
        "report.csv",
        "report.html",
        "report.junit.xml",
        "report.md",
    }
    assert (out / ".ttsbatch" / "ledger.sqlite").exists()
    assert_key_nowhere(got["stdout"], got["stderr"], folder=out)
    message = json.loads((out / "report.json").read_text())["items"][0]["error"]["message"]
    assert len(message) <= scrub.MESSAGE_LIMIT
    assert "***" in message and "invalid request" in message
    assert len(got["stderr"]) < 20_000  # the 5 MB message is not printed whole


def test_service_text_cleans_every_form_then_cuts():
    Secret("k3y-for-the-unit-test")
    raw = "k3y-for-the-unit-test"
    b64 = base64.b64encode(b"k3y-for-the-unit-test:").decode()
    cleaned = scrub.service_text(f"a\x1b[1mb\nc {raw} Basic {b64} k3y-for-\x1b[0mthe-unit-test " + "y" * 900)
    assert raw not in cleaned and b64 not in cleaned and "k3y-for-" not in cleaned
    assert cleaned.startswith("ab c *** Basic *** ***")
    assert len(cleaned) == scrub.MESSAGE_LIMIT and cleaned.endswith("…")
    assert scrub.trace_text("\x1b[31mtrace-1\x1b[0m") == "trace-1"
