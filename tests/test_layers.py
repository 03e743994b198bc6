"""The package layout is a promise: each layer imports only what sits below it.

Parsed from the source (every ``import`` and ``from ... import``, including the ones inside
functions), so a lazy import cannot hide a wrong-way dependency. See README "How it is built".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ttsbatch"

#: leaf modules every layer may use
LEAVES = {"ttsbatch.files", "ttsbatch.errors", "ttsbatch.version"}

#: layer -> the ttsbatch layers it may import (besides itself and the leaves)
ALLOWED = {
    "audio": set(),
    "minimax": set(),
    "manifest": {"minimax", "audio"},  # the catalog (voices, models, ranges), output formats
    "backends": {"minimax"},
    "script": {"manifest", "minimax"},
    "run": {"manifest", "audio", "minimax", "backends"},
    "reports": {"run.results"},
    # store packages: from a finished run's results and files, beside the reports
    "packages": {"run.results", "run.settings", "manifest", "audio"},
    "fake": {"minimax", "audio"},
    "cli": {"api", "run", "script", "reports", "manifest", "minimax", "audio", "fake", "backends", "serve"},
    "serve": {"run", "minimax", "audio", "backends"},
    "api": {"run", "reports", "packages", "manifest", "minimax", "audio", "backends"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> list[tuple[int, str]]:
    module = "ttsbatch." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name == "ttsbatch":  # from ttsbatch import x: each name is a module
                found += [(node.lineno, f"ttsbatch.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, name))
    return [(line, name) for line, name in found if name == "ttsbatch" or name.startswith("ttsbatch.")]


def allowed(importer: str, imported: str) -> bool:
    if imported in LEAVES or imported == "ttsbatch":
        return True
    own, other = layer_of(importer), layer_of(imported)
    if own == other:
        return True
    for rule in ALLOWED.get(own, set()):
        if imported == f"ttsbatch.{rule}" or imported.startswith(f"ttsbatch.{rule}."):
            return True
    return False


SOURCES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    return "ttsbatch." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    importer = module_name(path)
    if importer == "ttsbatch.__init__":
        return  # the public API may gather anything
    wrong = [f"{path.name}:{line}: {name}" for line, name in imports(path) if not allowed(importer, name)]
    assert not wrong, f"{importer} ({layer_of(importer)}) may not import: " + "; ".join(wrong)


def test_every_module_belongs_to_a_known_layer():
    unknown = {
        module_name(p)
        for p in SOURCES
        if module_name(p) not in LEAVES | {"ttsbatch.__init__"} and layer_of(module_name(p)) not in ALLOWED
    }
    assert not unknown, f"add these to a layer (and to README 'How it is built'): {sorted(unknown)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by idea"


def test_the_rules_can_fail():
    """The checker itself: a wrong-way import is caught, a right-way one is not."""
    assert not allowed("ttsbatch.audio.codecs", "ttsbatch.run.plan")
    assert not allowed("ttsbatch.reports.build", "ttsbatch.run.pipeline")
    assert not allowed("ttsbatch.fake.server", "ttsbatch.cli.main")
    assert allowed("ttsbatch.reports.build", "ttsbatch.run.results")
    assert allowed("ttsbatch.run.pipeline", "ttsbatch.audio.codecs")
