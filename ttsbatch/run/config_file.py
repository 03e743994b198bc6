"""Settings from a file, so a repository can pin how its voice assets are rendered.

Looked up in order: ``--config FILE``, ``./ttsbatch.toml``, ``[tool.ttsbatch]`` in
``./pyproject.toml``. Keys are ``ttsbatch run`` option names (``sample-rate`` or
``sample_rate``); options given on the command line override them. Secrets never live here:
the key comes only from ``MINIMAX_API_KEY``, and a key-like entry is refused.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECRET_KEYS = {"api_key", "key", "minimax_api_key", "token", "secret"}


class ConfigFileError(ValueError):
    """A bad config file: exit 2, naming the file and the key."""


def find(explicit: Path | None, cwd: Path) -> tuple[Path | None, dict]:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigFileError(f"{explicit}: no such config file")
        return explicit, _read(
            explicit, table=None if explicit.name != "pyproject.toml" else ("tool", "ttsbatch")
        )
    local = cwd / "ttsbatch.toml"
    if local.is_file():
        return local, _read(local, table=None)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        data = _read(pyproject, table=("tool", "ttsbatch"))
        if data:
            return pyproject, data
    return None, {}


def _read(path: Path, table: tuple[str, ...] | None) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path.name}: not valid TOML: {exc}") from None
    for name in table or ():
        data = data.get(name, {})
    return data if isinstance(data, dict) else {}


def run_defaults(path: Path | None, values: dict, option_names: dict[str, str]) -> dict:
    """Map file keys onto ``run``'s parameter names; unknown keys are errors with a hint.
    ``option_names`` maps normalised option names (``sample_rate``) to click param names."""
    if path is None:
        return {}
    where = path.name + ("[tool.ttsbatch]" if path.name == "pyproject.toml" else "")
    defaults = {}
    for key, value in values.items():
        norm = key.replace("-", "_").lower()
        if norm in SECRET_KEYS:
            raise ConfigFileError(
                f"{where}: {key}: secrets do not belong in a config file; set MINIMAX_API_KEY"
            )
        if norm not in option_names:
            close = difflib.get_close_matches(norm, list(option_names), n=1)
            hint = f"; did you mean {close[0].replace('_', '-')!r}?" if close else ""
            raise ConfigFileError(f"{where}: {key}: not a ttsbatch run option{hint}")
        if isinstance(value, list):
            value = tuple(value) if norm in ("report_format",) else ",".join(map(str, value))
        defaults[option_names[norm]] = value
    return defaults


def option_names(options: dict[str, Iterable[str]]) -> dict[str, str]:
    """The keys a file may use for each option: its name and each of its flags without dashes
    (``sample_rate``, ``sample-rate``, ``format`` for ``--format``), normalised as
    ``run_defaults`` looks them up. ``options`` maps option names to their flags."""
    names = {name.lower(): name for name in options}
    names.update(
        {flag.lstrip("-").replace("-", "_"): name for name, flags in options.items() for flag in flags}
    )
    return names


def shown(value: object) -> str:
    """A setting as ``ttsbatch config`` prints it: its value, or ``unset``.

    Why: click 8.3+ gives options without a default a private sentinel (``Sentinel.UNSET``)
    rather than None, and flags report False only through ``get_default``; neither should
    leak into what a user reads. Anything that is not a plain value counts as unset."""
    if isinstance(value, bool):
        return "true" if value else "false"  # TOML's spelling, as the config file takes it
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (str, int, float)) for v in value):
        return ",".join(map(str, value))
    return "unset"
