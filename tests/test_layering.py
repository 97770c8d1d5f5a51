"""Packages import downward only, so that each can be read, tested and replaced without those above it. The
layers, lowest first (docs/EXTENDING.md's run-flow map):

    errors, files, memory, precision,                 the base: no scatnet import but from the base
    config_files, layers
    frontends, data                                   the transforms and the datasets
    models                                            networks around a front end
    training                                          one run: build, train, record
    report                                            what the runs produced: tables, figures, pages
    bench                                             measurements (printed with report's tables)
    study                                             many runs, packed and reported
    cli, then __main__                                the commands: arguments, one-line errors, exit codes
"""

from __future__ import annotations

import ast
from pathlib import Path

import scatnet

LAYERS = [
    {"errors", "memory", "precision", "config_files", "layers", "files"},
    {"frontends", "data"},
    {"models"},
    {"training"},
    {"report"},
    {"bench"},
    {"study"},
    {"cli"},
    {"__main__"},
]
RANK = {name: n for n, layer in enumerate(LAYERS) for name in layer}


def _imports(path: Path) -> set[str]:
    """The scatnet packages a module imports (at any depth: a function-level import is an import too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
        )
        out |= {n.split(".")[1] for n in names if n.startswith("scatnet.")}
    return out


def test_packages_import_downward_only():
    root = Path(scatnet.__file__).parent
    upward = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        own = parts[0] if len(parts) > 1 else path.stem
        if own == "__init__":
            continue
        assert own in RANK, f"{own} is in no layer: add it to LAYERS"
        for target in _imports(path) - {own}:
            assert target in RANK, f"{path}: imports scatnet.{target}, which is in no layer"
            if RANK[target] > RANK[own] or (RANK[target] == RANK[own] and RANK[own] > 0):
                upward.append(f"{path.relative_to(root)} -> scatnet.{target}")
    assert upward == []
