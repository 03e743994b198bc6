"""Where ttsbatch keeps per-user state that may be lost without harm (rate schedules, found
limits): the XDG cache directory, so backups skip it and a user clears it like any cache."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/ttsbatch/...``, or ``~/.cache/ttsbatch/...`` when it is unset or empty
    (the XDG rule: a relative value is ignored too)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root.joinpath("ttsbatch", *parts)
