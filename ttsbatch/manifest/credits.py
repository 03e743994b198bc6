"""Opening and closing credits: lines whose ``role`` field says so
(``opening_credits``/``closing_credits``; other roles stay the manifest's own meta, but a
near miss such as ``opening-credits`` is an error), or text given on the
command line (``--credits-open``/``--credits-close``) turned into such lines.

A credits line sits in a group of its own (its own file: ACX wants the credits as separate
files). Text given as an option becomes a line with id and group ``opening-credits`` /
``closing-credits``, read in the default voice, first or last in the book.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ttsbatch.manifest.read import check_lines
from ttsbatch.manifest.types import Line, ManifestError, Problem

OPENING, CLOSING = "opening_credits", "closing_credits"
#: the manifest field that marks a line as credits (kept in the line's meta)
ROLE_FIELD = "role"
ROLES = (OPENING, CLOSING)


def role_of(meta: dict | None) -> str | None:
    """``opening_credits``/``closing_credits`` for a credits line's meta, else None."""
    role = (meta or {}).get(ROLE_FIELD)
    return role if role in ROLES else None


def with_credits(
    lines: Sequence[Line], opening: str | None, closing: str | None, *, source: str, **voices
) -> list[Line]:
    """``lines`` with the option-given credits added first and last; raises ManifestError
    when the manifest marks credits too (one place says what the credits are) or a marked
    credits line has no group."""
    problems = []
    for line in lines:
        role = line.meta.get(ROLE_FIELD)
        if role not in ROLES and "credit" not in str(role).casefold():
            continue  # another role (a manifest's own field, kept in meta)
        if role not in ROLES:
            problems.append(
                Problem(source, line.line_no, ROLE_FIELD, f"expected one of {', '.join(ROLES)}, got {role!r}")
            )
        elif line.group is None:
            problems.append(
                Problem(source, line.line_no, "group", f"a {role} line needs a group (its own file)")
            )
        elif (role == OPENING and opening) or (role == CLOSING and closing):
            flag = "--credits-open" if role == OPENING else "--credits-close"
            problems.append(
                Problem(
                    source, line.line_no, ROLE_FIELD, f"{role} are marked here and given by {flag}: keep one"
                )
            )
    for text, role, flag in ((opening, OPENING, "--credits-open"), (closing, CLOSING, "--credits-close")):
        name = role.replace("_", "-")
        taken = next((li for li in lines if name in (li.id, li.group)), None) if text else None
        if taken is not None:
            problems.append(
                Problem(source, taken.line_no, "id", f"{name} is the id and group {flag} uses: rename it")
            )
    if problems:
        raise ManifestError(problems)
    first = _option_line(opening, OPENING, "--credits-open", voices)
    last = _option_line(closing, CLOSING, "--credits-close", voices)
    return first + list(lines) + last


def _option_line(text: str | None, role: str, flag: str, voices: dict) -> list[Line]:
    if not text:
        return []
    name = role.replace("_", "-")
    try:
        (line,) = check_lines([{"id": name, "text": text, "group": name, ROLE_FIELD: role}], **voices)
    except ManifestError as exc:
        raise ManifestError([dataclasses.replace(p, file=flag, line=0) for p in exc.problems]) from None
    return [dataclasses.replace(line, line_no=0)]
