"""The errors every layer may raise to the user, and the exit codes they end in (defined once)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``ttsbatch`` (and ``ttsbatch script``) exits with; the README lists the same."""

    OK = 0  #: every line ok or cached
    FAILED = 1  #: some lines (or groups, or QA with --fail-on qa) failed; the rest is written
    USAGE = 2  #: bad invocation or manifest: nothing sent, nothing written
    STOPPED = 3  #: an account-level error (auth, balance, quota) or the output folder (disk full, read-only, damaged ledger) stopped the run
    BUDGET = 4  #: the --max-cost budget stopped the run
    BUSY = 5  #: --no-wait and another run is using the output folder: nothing sent
    INTERRUPTED = 130  #: Ctrl-C / SIGTERM / SIGHUP


class UsageError(ValueError):
    """Bad invocation (exit 2): nothing has been sent."""
