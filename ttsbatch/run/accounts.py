"""The accounts a run may spend: one key, several (``MINIMAX_API_KEYS``), or a keys file.

A studio with several MiniMax accounts renders one manifest across all of them: each account
keeps its own rate (MiniMax limits accounts, not keys), and an account that dies (invalid
key, no balance, quota gone) is retired while the others finish. Everywhere ttsbatch records
an account (ledger, report, rate stores) it writes the account's fingerprint
(``remember.account_fingerprint``: host + key digest), never the key.

A keys file holds one key a line, optionally followed by that account's RPM (``KEY 240`` or
``KEY,240``); blank lines and ``#`` comments are skipped. A bad line is a usage error naming
the file and line, without echoing the line (it may be a key).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ttsbatch.errors import UsageError
from ttsbatch.minimax import errors
from ttsbatch.minimax.config import KEYS_ENV, ApiConfig, Secret
from ttsbatch.run.rates.remember import account_fingerprint

#: MiniMax codes that end an account, not the run, when other accounts remain: invalid key
#: (1004, 2049), no balance (1008), quota used up (1028, 1030, 2056)
ACCOUNT_CODES = frozenset({1004, 2049, 1008, 1028, 1030, 2056})


@dataclass
class Account:
    """One key and what the run knows of it. ``rpm``: the limit the user gave for it, if any."""

    api: ApiConfig = field(repr=False)
    fingerprint: str
    rpm: float | None = None
    #: why the account was retired (code and message), or None while it is in use
    retired: dict | None = None

    @property
    def label(self) -> str:
        return self.fingerprint[:8]


def account_for(api: ApiConfig, rpm: float | None = None) -> Account:
    host = urlsplit(api.base_url).netloc or api.base_url
    key = api.api_key.reveal() if api.api_key else ""
    # a gateway may take no key: the host alone then names the account
    return Account(api, account_fingerprint(host, key or "(no key)"), rpm)


def is_account_error(exc: BaseException) -> bool:
    """An error that says this account can do nothing more (another account still can)."""
    return isinstance(exc, errors.RunError) and exc.code in ACCOUNT_CODES


def parse_keys_file(path: Path) -> list[tuple[str, float | None]]:
    """(key, rpm or None) per account line of ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--keys-file {path}: cannot read it ({exc.__class__.__name__})") from None
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) > 2:
            raise UsageError(f"{path}:{number}: expected KEY or KEY RPM")
        rpm = None
        if len(parts) == 2:
            try:
                rpm = float(parts[1])
            except ValueError:
                rpm = -1.0
            if not 0 < rpm < float("inf"):
                raise UsageError(f"{path}:{number}: the RPM after the key must be a positive number")
        found.append((parts[0], rpm))
    if not found:
        raise UsageError(f"--keys-file {path}: no keys in it")
    return found


def resolve_accounts(
    primary: ApiConfig, keys_file: Path | None = None, env: dict | None = None
) -> list[Account]:
    """The run's accounts: ``keys_file``, else ``MINIMAX_API_KEYS``, else the one key of
    ``primary``. The same key twice is one account (it would share one rate anyway)."""
    env = os.environ if env is None else env
    if keys_file is not None:
        pairs = parse_keys_file(keys_file)
    elif (env.get(KEYS_ENV) or "").strip():
        pairs = [(k.strip(), None) for k in env[KEYS_ENV].split(",") if k.strip()]
    else:
        return [account_for(primary)]
    accounts: dict[str, Account] = {}
    for key, rpm in pairs:
        account = account_for(ApiConfig(primary.base_url, Secret(key)), rpm)
        accounts.setdefault(account.fingerprint, account)
    return list(accounts.values())
