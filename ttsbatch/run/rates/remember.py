"""The limit ``--rpm auto`` found, kept per account so the next run starts at it.

An account is named by ``account_fingerprint``: a short SHA-256 of the API host and the key.
The key itself is never written anywhere (the digest cannot be turned back into it), yet two
keys, or one key on the global and the mainland host, are two accounts, as MiniMax counts
them. The same fingerprint names the account in the shared stores, the ledger and the report.

One small JSON file per account in the user's cache directory, written atomically: two runs
finishing together each replace a whole file, none can tear another's, and losing the
directory only costs the next run its search.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ttsbatch.files import write_atomic
from ttsbatch.run.rates.cachedir import user_cache_dir
from ttsbatch.run.rates.file_store import state_file_name

#: hex digits kept of the digest: 64 bits tell accounts apart and reveal nothing of the key
FINGERPRINT_HEX = 16


def account_fingerprint(host: str, key: str) -> str:
    """The account's name wherever ttsbatch records it; ``host`` is the API's host name."""
    if not key:
        raise ValueError("an account needs an API key")
    normal_host = host.strip().lower().rstrip("/")
    return hashlib.sha256(f"{normal_host}\n{key}".encode()).hexdigest()[:FINGERPRINT_HEX]


def found_path(account: str, directory: Path | str | None = None) -> Path:
    base = Path(directory) if directory is not None else user_cache_dir("found")
    return base / state_file_name(account)


def load_found(account: str, directory: Path | str | None = None) -> float | None:
    """The RPM found for ``account`` by an earlier run, or None (never found, or unreadable:
    a damaged file only means searching again)."""
    try:
        rpm = float(json.loads(found_path(account, directory).read_bytes())["rpm"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return rpm if 0 < rpm < float("inf") else None


def save_found(account: str, rpm: float, directory: Path | str | None = None) -> Path:
    """Keep ``rpm`` (``AutoRate.found_rpm``) for the account's next run."""
    if not 0 < rpm < float("inf"):
        raise ValueError(f"a found rate must be positive, got {rpm!r}")
    path = found_path(account, directory)
    record = {"account": account, "rpm": round(rpm, 3), "found_at": int(time.time())}
    write_atomic(path, json.dumps(record).encode() + b"\n")
    return path
