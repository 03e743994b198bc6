"""The request log: what tests and benchmarks assert on (billing, faults, request order).

One entry per HTTP request, committed just before the reply's bytes go out, so a client
that has its answer can read the log and find the entry. Entries hold the parsed body
and outcome but never headers, so the API key can never leak through it.
"""

from __future__ import annotations

import copy
import threading
import time

LOG_FIELDS = (
    "seq",
    "time",
    "method",
    "path",
    "body",
    "http_status",
    "status_code",
    "fault",
    "billed_characters",
    "trace_id",
)


def new_entry(seq: int, method: str, path: str, body: object, trace_id: str) -> dict:
    return {
        "seq": seq,
        "time": time.time(),
        "method": method,
        "path": path,
        "body": body,
        "http_status": None,
        "status_code": None,
        "fault": None,
        "billed_characters": 0,
        "trace_id": trace_id,
    }


class RequestLog:
    """Thread-safe append-only list; ``snapshot`` hands out deep copies in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict] = []
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def commit(self, entry: dict) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[dict]:
        with self._lock:
            entries = sorted(self._entries, key=lambda e: e["seq"])
            return copy.deepcopy(entries)

    def reset(self) -> None:
        """Clears the entries; ``seq`` keeps counting so entries stay unique across resets."""
        with self._lock:
            self._entries.clear()
